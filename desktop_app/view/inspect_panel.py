"""The "Inspect" tab: every layer of the model on the current image, its feature maps, and the precision A/B.

The panel only displays what :class:`~desktop_app.view.inspect.InspectController` gives it: a "Compare
with" choice (another file, ideally the same network's int8 or fp16 version), the SQNR threshold, Inspect
and "Export CSV…"; a table with one row per layer (PyTorch module name, the SQNR against the second file
right after it, op, shape, mean, std, min, max, share of zeros, a small histogram); for the selected layer
its first 64 feature maps as greyscale thumbnails (each scaled to its own range); and the per-layer SQNR
chart (:class:`~desktop_app.view.sqnr_chart.SqnrChart`) with the first layer below the threshold named.
Module names come from files: every text is plain (:class:`~desktop_app.view.text.PlainLabel`, ``shown``).

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.inspect_panel import InspectPanel; app = QApplication([]); p = InspectPanel(); \\
p.set_compare_choices([('none', ''), ('model-int8', 'b.onnx')]); print(p.compare_key())"
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.inspect_layers import DEFAULT_THRESHOLD_DB, LayerStats
from desktop_app.view.result_panel import PreviewLabel
from desktop_app.view.sqnr_chart import SqnrChart, db_text
from desktop_app.view.text import PlainLabel, shown, tooltip

COLUMNS = ("#", "Layer", "SQNR dB", "Op", "Shape", "Mean", "Std", "Min", "Max", "Zeros", "Histogram")  # SQNR: in view
SQNR_COLUMN = COLUMNS.index("SQNR dB")
HISTOGRAM_SIZE = (72, 18)
MODULE_ROLE = Qt.ItemDataRole.UserRole
EMPTY = "Select an image in the list, then press Inspect (Ctrl+Shift+I) to look inside every layer."
BELOW = QColor("#ffcdd2")


def histogram_pixmap(counts: Sequence[int], size: tuple[int, int] = HISTOGRAM_SIZE) -> QPixmap:
    """Bars of ``counts`` (square-root scaled, so small bins stay visible) on a transparent pixmap."""
    width, height = size
    pixmap = QPixmap(width, height)
    pixmap.fill(Qt.GlobalColor.transparent)
    top = max(counts, default=0)
    if top <= 0:
        return pixmap
    painter = QPainter(pixmap)
    bar = width / len(counts)
    for index, count in enumerate(counts):
        h = round(math.sqrt(count / top) * (height - 1))
        painter.fillRect(round(index * bar), height - h, max(1, round(bar) - 1), h, QColor("#546e7a"))
    painter.end()
    return pixmap


def montage(maps: np.ndarray, columns: int = 8, gap: int = 2) -> QImage:
    """[n, h, w] uint8 maps as one greyscale grid image (``columns`` wide, white gaps)."""
    count, height, width = maps.shape
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + gap) - gap, min(count, columns) * (width + gap) - gap), 255, dtype=np.uint8)
    for index in range(count):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        grid[top : top + height, left : left + width] = maps[index]
    grid = np.ascontiguousarray(grid)
    return QImage(grid.tobytes(), grid.shape[1], grid.shape[0], grid.shape[1], QImage.Format.Format_Grayscale8).copy()


def _number(value: float) -> str:
    return f"{value:.4g}"


class InspectPanel(QWidget):
    """Compare choice, threshold, layer table, feature maps and SQNR chart."""

    inspectRequested = Signal()
    exportRequested = Signal()
    compareChanged = Signal()
    thresholdChanged = Signal(float)
    layerSelected = Signal(str)  # a module name
    becameVisible = Signal()  # the tab was brought forward

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_label = PlainLabel("Image: none selected")
        self.compare = QComboBox()
        self.compare.setObjectName("inspectCompare")
        self.compare.setMinimumContentsLength(16)  # it widens with the tab: names show whole
        self.compare.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.compare.setToolTip(tooltip("A second file of the same network (its int8 or fp16 version) for the A/B"))
        self.compare.currentIndexChanged.connect(lambda _i: self.compareChanged.emit())
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(-50.0, 200.0)
        self.threshold.setDecimals(1)
        self.threshold.setSuffix(" dB")
        self.threshold.setValue(DEFAULT_THRESHOLD_DB)
        self.threshold.setToolTip(tooltip("The first layer whose SQNR falls below this is named"))
        self.threshold.valueChanged.connect(self.thresholdChanged)
        self.inspect_button = QPushButton("Inspect")
        self.inspect_button.clicked.connect(self.inspectRequested)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.exportRequested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("inspectTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.table.itemSelectionChanged.connect(self._on_selection)
        self.maps = PreviewLabel()
        self.maps.setMinimumSize(120, 120)
        self.maps_label = PlainLabel("Select a layer to see its feature maps.")
        self.maps_label.setWordWrap(True)
        self.chart = SqnrChart()
        self.chart.layerClicked.connect(self.select_layer)
        self.ab_label = PlainLabel("")
        self.ab_label.setObjectName("inspectAB")
        self.ab_label.setWordWrap(True)
        self.message = PlainLabel(EMPTY)
        self.message.setWordWrap(True)
        self._build_layout()
        self.set_running(False)

    def _build_layout(self) -> None:
        top = QHBoxLayout()  # the image on a line of its own: the row of choices fits a narrow tab
        top.addWidget(PlainLabel("Compare with:"))
        top.addWidget(self.compare, 1)
        top.addWidget(PlainLabel("Threshold:"))
        top.addWidget(self.threshold)
        top.addWidget(self.inspect_button)
        top.addWidget(self.export_button)
        maps_box = QWidget()
        maps_layout = QVBoxLayout(maps_box)
        maps_layout.setContentsMargins(0, 0, 0, 0)
        maps_layout.addWidget(self.maps_label)
        maps_layout.addWidget(self.maps, 1)
        chart_box = QWidget()
        chart_layout = QVBoxLayout(chart_box)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addWidget(self.ab_label)
        chart_layout.addWidget(self.chart, 1)
        lower = QSplitter(Qt.Orientation.Horizontal)  # the table keeps the full width: its columns fit
        lower.addWidget(chart_box)
        lower.addWidget(maps_box)
        lower.setStretchFactor(0, 3)
        lower.setStretchFactor(1, 2)
        lower.setSizes([540, 320])
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.image_label)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.message)

    def showEvent(self, event: QShowEvent) -> None:  # Qt override
        super().showEvent(event)
        self.becameVisible.emit()

    # ---- inputs -------------------------------------------------------------------------------------------------
    def set_compare_choices(self, choices: Sequence[tuple[str, str]]) -> None:
        """(text, key) items; the key "" means no comparison. The current key is kept when still offered."""
        current = self.compare_key()
        self.compare.blockSignals(True)
        self.compare.clear()
        for text, key in choices:
            self.compare.addItem(shown(text), key)
            self.compare.setItemData(self.compare.count() - 1, tooltip(key or text), Qt.ItemDataRole.ToolTipRole)
        self.compare.setCurrentIndex(max(0, self.compare.findData(current)))
        self.compare.blockSignals(False)

    def compare_key(self) -> str:
        return str(self.compare.currentData() or "")

    def set_compare_key(self, key: str) -> None:
        self.compare.setCurrentIndex(max(0, self.compare.findData(key)))

    def threshold_value(self) -> float:
        return float(self.threshold.value())

    def set_image_text(self, text: str) -> None:
        self.image_label.setText(text)

    def set_running(self, running: bool) -> None:
        self.progress.setVisible(running)

    def set_message(self, text: str) -> None:
        self.message.setText(text)

    # ---- results ------------------------------------------------------------------------------------------------
    def show_rows(self, rows: Sequence[LayerStats], sqnr: dict[str, float] | None) -> None:
        """Fill the table (the SQNR column only with a comparison)."""
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            shape = "x".join(map(str, row.shape))
            value = sqnr.get(row.module) if sqnr is not None else None
            cells = [str(row.index), row.module, "" if value is None else db_text(value), row.op_type, shape]
            cells += [_number(row.mean), _number(row.std), _number(row.min), _number(row.max)]
            cells += [f"{100 * row.zeros:.1f}%", ""]
            items = [QTableWidgetItem(shown(text)) for text in cells]
            for column, item in enumerate(items):
                item.setData(MODULE_ROLE, row.module)
                self.table.setItem(index, column, item)
            items[1].setToolTip(tooltip(f"{row.module}\ntensor {row.tensor}\nvalues: {row.source}"))
            histogram = items[COLUMNS.index("Histogram")]
            histogram.setData(Qt.ItemDataRole.DecorationRole, histogram_pixmap(row.histogram))
            histogram.setToolTip(tooltip(f"{row.size} values from {_number(row.min)} to {_number(row.max)}"))
        self.table.setColumnHidden(SQNR_COLUMN, sqnr is None)
        self.table.setColumnWidth(1, min(max(self.table.sizeHintForColumn(1), 120), 200))
        self.export_button.setEnabled(bool(rows))

    def mark_below(self, threshold: float) -> None:
        """Tint the SQNR cells below ``threshold``."""
        for index in range(self.table.rowCount()):
            item = self.table.item(index, SQNR_COLUMN)
            if item is None:
                continue
            text = item.text()
            low = text not in ("", "inf") and (text == "-inf" or float(text) < threshold)
            item.setBackground(BELOW if low else QColor(0, 0, 0, 0))

    def cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""

    def modules(self) -> list[str]:
        return [self.cell(i, 1) for i in range(self.table.rowCount())]

    def select_layer(self, module: str) -> None:
        for index, name in enumerate(self.modules()):
            if name == shown(module):
                self.table.selectRow(index)
                self.table.scrollTo(self.table.model().index(index, 1))
                return

    def selected_layer(self) -> str | None:
        items = self.table.selectedItems()
        return str(items[0].data(MODULE_ROLE)) if items else None

    def _on_selection(self) -> None:
        module = self.selected_layer()
        if module is not None:
            self.layerSelected.emit(module)

    def show_maps(self, image: QImage | None, text: str) -> None:
        self.maps.set_image(image)
        self.maps_label.setText(text)

    def show_chart(self, points: Sequence[tuple[str, float]], threshold: float, text: str) -> None:
        self.chart.set_points(points, threshold)
        self.ab_label.setText(text)

    def clear(self, text: str = EMPTY) -> None:
        self.show_rows([], None)
        self.show_maps(None, "Select a layer to see its feature maps.")
        self.show_chart([], self.threshold_value(), "")
        self.set_message(text)
        self.set_running(False)
