"""The "Evaluate" tab: a labelled folder, the models to run on it, progress, and the results.

The panel only displays what :class:`~desktop_app.view.evaluate.EvaluateController` gives it and turns
clicks and drops into signals: choose or drop a labelled folder (or CSV file), its split (shown only when
it has train/ val/ test/), a mapping file, the k of the Top-k column, tick models, Evaluate / Cancel, an
accuracy table (one row per model) beside an accuracy-vs-latency chart (clicking a point selects its row),
the zoomable confusion-matrix heatmap (:class:`~desktop_app.view.heatmap.HeatmapView`) of the model
selected in the table, the most-confused pairs beside it, and the images of a clicked cell below them.
Names come from files and models: every label is plain text, table cells go through
:func:`~desktop_app.view.text.shown`.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.evaluate_panel import EvaluatePanel; app = QApplication([]); p = EvaluatePanel(); \\
p.set_models([('colour', 'colour.onnx', True, '')]); print(p.checked_keys())"
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.view.elided_label import ElidedLabel
from desktop_app.view.heatmap import HeatmapView
from desktop_app.view.text import PlainLabel, local_path, shown, tooltip
from desktop_app.view.tradeoff_chart import TradeoffChart
from workbench.imageio import IMAGE_EXTENSIONS

COLUMNS = ("Model", "Ran on", "Images", "Failed", "Top-1", "Top-5", "Img/s", "Latency ms")
TOP_K_COLUMN = 5  # its title follows the top-k spin box
AUTO_SPLIT = "test, else val"  # the split choice that lets the reader choose
KEY_ROLE = Qt.ItemDataRole.UserRole
THUMB_ICON = 40  # side of the thumbnails of a cell's images
MODELS_HEIGHT = 96  # the model list's height at most (it shrinks to fit a few models)
NO_DATA = "No labelled data chosen: choose a folder (DIR/<class>/<images>) or drop one on this tab."


class EvaluatePanel(QWidget):
    """See the module docstring."""

    chooseRequested = Signal()
    folderDropped = Signal(str)  # a dropped folder or CSV file
    evaluateRequested = Signal()
    cancelRequested = Signal()
    exportRequested = Signal()
    modelSelected = Signal(int)  # accuracy-table row
    topKChanged = Signal(int)
    splitChosen = Signal(str)  # a split folder's name, or "" for the reader's choice
    mappingRequested = Signal()
    mappingCleared = Signal()
    pairClicked = Signal(int)  # row of the most-confused list

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.choose_button = QPushButton("Choose labelled folder…")
        self.choose_button.clicked.connect(self.chooseRequested)
        self.data_label = ElidedLabel(NO_DATA)  # a long path must not widen the window
        self._make_options()
        self.models = QListWidget()
        self.models.setMaximumHeight(MODELS_HEIGHT)
        self.models.setToolTip("The models to evaluate (the usable models of the models folder)")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.clicked.connect(self.evaluateRequested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip("Write predictions.csv, report.json and report.html into a folder")
        self.export_button.clicked.connect(self.exportRequested)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.message = PlainLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = self._make_table()
        self.tradeoff = TradeoffChart()
        self.tradeoff.pointClicked.connect(self.table.selectRow)
        self.heatmap_view = HeatmapView()
        self.heatmap = self.heatmap_view.heatmap
        self.pairs = QListWidget()
        self.pairs.itemClicked.connect(lambda item: self.pairClicked.emit(self.pairs.row(item)))
        self.cell_title = PlainLabel("Click a cell of the matrix to list its images.")
        self.cell_title.setWordWrap(True)
        self.cell_images = QListWidget()
        self.cell_images.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.cell_images.setIconSize(QSize(THUMB_ICON, THUMB_ICON))
        self.cell_images.setUniformItemSizes(True)
        for small in (self.pairs, self.cell_images):
            small.setMinimumHeight(40)  # the tab fits a 600-px-high window; the splitters give room back
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_rows())
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self._results(), 1)
        self.set_running(False, can_start=False)
        self.set_has_results(False)

    def _make_options(self) -> None:
        """The split choice, the mapping file and the top-k spin box."""
        self.split = QComboBox()
        self.split.setToolTip("Which split folder (train/, val/, test/) to evaluate on")
        self.split.currentIndexChanged.connect(self._on_split)
        self.split_label = PlainLabel("Split:")
        self.mapping_button = QPushButton("Mapping file…")
        self.mapping_button.setToolTip("A CSV of class,label: which model label each class folder is")
        self.mapping_button.clicked.connect(self.mappingRequested)
        self.mapping_label = ElidedLabel("no mapping file: classes matched by name or WordNet id")
        self.clear_mapping_button = QPushButton("No mapping")
        self.clear_mapping_button.clicked.connect(self.mappingCleared)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 10)
        self.top_k.setValue(5)
        self.top_k.setToolTip("k of the Top-k column: the true class among the model's k best answers")
        self.top_k.valueChanged.connect(self._on_top_k)

    def _top_rows(self) -> QVBoxLayout:
        data_row = QHBoxLayout()
        data_row.addWidget(self.choose_button)
        data_row.addWidget(self.data_label, 1)
        buttons = QVBoxLayout()
        for button in (self.evaluate_button, self.cancel_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        models_row = QHBoxLayout()
        models_row.addWidget(self.models, 1)
        models_row.addLayout(buttons)
        options = QHBoxLayout()
        for widget in (self.split_label, self.split, self.mapping_button):
            options.addWidget(widget)
        options.addWidget(self.mapping_label, 1)
        options.addWidget(self.clear_mapping_button)
        options.addWidget(PlainLabel("Top-k:"))
        options.addWidget(self.top_k)
        rows = QVBoxLayout()
        rows.addLayout(data_row)
        rows.addLayout(options)
        rows.addLayout(models_row)
        self.set_splits([], None)
        self.set_mapping_text("")
        return rows

    def _results(self) -> QSplitter:
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(PlainLabel("Most confused (true → predicted):"))
        side_layout.addWidget(self.pairs, 1)
        side_layout.addWidget(self.cell_title)
        side_layout.addWidget(self.cell_images, 2)
        below = QSplitter(Qt.Orientation.Horizontal)
        below.addWidget(self.heatmap_view)
        below.addWidget(side)
        below.setStretchFactor(0, 3)
        below.setStretchFactor(1, 2)
        below.setSizes([560, 340])
        above = QSplitter(Qt.Orientation.Horizontal)
        above.addWidget(self.table)
        above.addWidget(self.tradeoff)
        above.setStretchFactor(0, 2)  # the table's eight columns need more room than the chart
        above.setStretchFactor(1, 1)
        above.setSizes([600, 300])
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(above)
        splitter.addWidget(below)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 440])
        return splitter

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "efficientnet_lite0 · … · int8": the ends differ
        header = table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.itemSelectionChanged.connect(self._on_table_selection)
        return table

    # ---- models -------------------------------------------------------------------------------------------------
    def set_models(self, models: Sequence[tuple[str, str, bool, str]]) -> None:
        """``(name, key, checked, tooltip)`` per usable model; ``key`` identifies it (its file)."""
        self.models.clear()
        for name, key, checked, tip in models:
            item = QListWidgetItem(shown(name))
            item.setData(KEY_ROLE, key)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
            item.setToolTip(tooltip(tip))
            self.models.addItem(item)
        rows = max(2, self.models.count())
        self.models.setFixedHeight(min(MODELS_HEIGHT, rows * self.models.sizeHintForRow(0) + 8))

    def checked_keys(self) -> list[str]:
        items = [self.models.item(i) for i in range(self.models.count())]
        return [str(item.data(KEY_ROLE)) for item in items if item.checkState() == Qt.CheckState.Checked]

    def set_checked(self, keys: Sequence[str]) -> None:
        for i in range(self.models.count()):
            item = self.models.item(i)
            state = Qt.CheckState.Checked if str(item.data(KEY_ROLE)) in keys else Qt.CheckState.Unchecked
            item.setCheckState(state)

    # ---- state --------------------------------------------------------------------------------------------------
    def set_data_text(self, text: str, tip: str = "") -> None:
        self.data_label.setText(text)
        self.data_label.setToolTip(tip)

    def set_running(self, running: bool, *, can_start: bool = True) -> None:
        """While running only Cancel is enabled (the folder and the models are locked)."""
        self.evaluate_button.setEnabled(not running and can_start)
        self.cancel_button.setEnabled(running)
        self.choose_button.setEnabled(not running)
        for widget in (self.split, self.mapping_button, self.clear_mapping_button):
            widget.setEnabled(not running)
        self.models.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first image is done
            self.progress.setFormat("Loading the model…")

    def set_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(shown(text).replace("%", "%%"))

    def set_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def set_has_results(self, has: bool) -> None:
        self.export_button.setEnabled(has)

    def set_splits(self, splits: Sequence[str], current: str | None) -> None:
        """Offer ``splits`` (the split folders found; none: the choice is hidden), ``current`` chosen."""
        self.split.blockSignals(True)
        self.split.clear()
        self.split.addItem(AUTO_SPLIT, "")
        for name in splits:
            self.split.addItem(name, name)
        index = self.split.findData(current) if current else 0
        self.split.setCurrentIndex(max(0, index))
        self.split.blockSignals(False)
        self.split.setVisible(bool(splits))
        self.split_label.setVisible(bool(splits))

    def _on_split(self, index: int) -> None:
        if index >= 0:
            self.splitChosen.emit(str(self.split.itemData(index)))

    def set_mapping_text(self, text: str, tip: str = "") -> None:
        """Say which mapping file is used ("": none)."""
        self.mapping_label.setText(text or "no mapping file: classes matched by name or WordNet id")
        self.mapping_label.setToolTip(tip)
        self.clear_mapping_button.setVisible(bool(text))

    def _on_top_k(self, k: int) -> None:
        header = self.table.horizontalHeaderItem(TOP_K_COLUMN)
        if header is not None:
            header.setText(f"Top-{k}")
        self.topKChanged.emit(k)

    def set_column(self, column: int, texts: Sequence[str]) -> None:
        """Replace one column's cells (the selection stays)."""
        for row, text in enumerate(texts[: self.table.rowCount()]):
            item = self.table.item(row, column)
            if item is not None:
                item.setText(shown(text))
                item.setToolTip(tooltip(text))

    # ---- results ------------------------------------------------------------------------------------------------
    def show_rows(self, rows: Sequence[Sequence[str]]) -> None:
        """Fill the accuracy table (cells in :data:`COLUMNS` order) and select its first row."""
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            for column, text in enumerate(row):
                item = QTableWidgetItem(shown(text))
                item.setToolTip(tooltip(text))
                if column >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(index, column, item)
        if rows:
            self.table.selectRow(0)

    def table_rows(self) -> list[tuple[str, ...]]:
        """All cells as text, row by row (for tests)."""
        return [tuple(self._cell(r, c) for c in range(self.table.columnCount())) for r in range(self.table.rowCount())]

    def _cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def _on_table_selection(self) -> None:
        row = self.selected_row()
        self.tradeoff.set_selected(row)
        if row >= 0:
            self.modelSelected.emit(row)

    def show_tradeoff(
        self, names: Sequence[str], latencies: Sequence[float | None], accuracies: Sequence[float | None]
    ) -> None:
        """The accuracy-vs-latency chart: one point per table row (latency in ms, top-1 as a fraction)."""
        self.tradeoff.set_points(names, latencies, accuracies)
        self.tradeoff.set_selected(self.selected_row())

    def show_pairs(self, lines: Sequence[str]) -> None:
        self.pairs.clear()
        self.pairs.addItems([shown(line) for line in lines] or ["(no mistakes)"])
        self.pairs.setEnabled(bool(lines))

    def show_cell_images(self, title: str, lines: Sequence[str]) -> None:
        self.cell_title.setText(title)
        self.cell_images.clear()
        self.cell_images.addItems([shown(line) for line in lines])

    def set_cell_thumbnail(self, index: int, image: QImage | None, tip: str) -> None:
        """Line ``index`` of the cell's images gets its thumbnail (None: it cannot be shown) and a tooltip."""
        item = self.cell_images.item(index)
        if item is None:
            return
        if image is not None:
            item.setIcon(QIcon(QPixmap.fromImage(image)))
        item.setToolTip(tooltip(tip))

    def cell_thumbnails(self) -> int:
        """How many lines of the cell's images have a thumbnail (for tests)."""
        return sum(not self.cell_images.item(i).icon().isNull() for i in range(self.cell_images.count()))

    def cell_image_lines(self) -> list[str]:
        return [self.cell_images.item(i).text() for i in range(self.cell_images.count())]

    def clear_results(self) -> None:
        self.table.setRowCount(0)
        self.tradeoff.clear()
        self.heatmap.clear()
        self.pairs.clear()
        self.show_cell_images("Click a cell of the matrix to list its images.", [])
        self.set_has_results(False)

    # ---- drops --------------------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # Qt override
        if _dropped_data(event) is not None and self.choose_button.isEnabled():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # Qt override
        path = _dropped_data(event)
        if path is None or not self.choose_button.isEnabled():
            event.ignore()
            return
        event.acceptProposedAction()
        self.folderDropped.emit(path)


def _dropped_data(event: QDragEnterEvent | QDropEvent) -> str | None:
    """The one local folder or file of a drop (a labelled folder or a CSV of path,label), else None; an image
    file is left to the window (which classifies it)."""
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    paths = [local_path(url) for url in mime.urls() if url.isLocalFile()]
    if len(paths) != 1:
        return None
    path = Path(paths[0])
    if not (path.is_dir() or (path.is_file() and path.suffix.lower() not in IMAGE_EXTENSIONS)):
        return None
    return paths[0]
