"""The "Timing" tab: per-layer times (table + painted bar chart), grouping control, CSV/JSON export.

The panel only displays a :class:`TimingTable`; the window runs the profiler in a worker, groups the
rows (by module depth, single nodes, op type or provider; on OpenVINO the provider is the kernel that ran each
layer, and the headers say so) and writes exports. Module names, image and
model names come from files: cells are plain text, tooltips escaped, and the summary is our markup
around escaped text. The table's columns fit the window's default width (1180 px): the module column
takes the room left and elides on the left (``…layer3.1.conv2``), the op types have a fixed width
(elided too; every cell's tooltip holds its whole text), and there is no horizontal scroll bar.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.timing_panel import TimingPanel, TimingRow, TimingTable; app = QApplication([]); \\
p = TimingPanel(); p.show_table(TimingTable([TimingRow('layer1', 'Conv', 'CPU', 1.5, 1.0)], 1.6, 1.5, 9.0, 10)); \\
print(p.table.rowCount())"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.profiling import DEFAULT_RUNS
from desktop_app.view.bar_chart import BarChart
from desktop_app.view.text import PlainLabel, rich, shown, tooltip

COLUMNS = ("Module", "Op types", "Provider", "Median (ms)", "Share", "First run (ms)")
NODES = 0  # depth value meaning "no aggregation: single ONNX nodes"
OP_TYPES = -1  # grouping value: one row per op type (Conv, Gemm, ...)
PROVIDERS = -2  # grouping value: one row per execution provider (CPU, CUDA, ...)
_OP_TYPES_WIDTH = 150  # px: "Conv, Relu, Add" fits; longer lists elide (the tooltip has them all)
_PROVIDER_WIDTH = 220  # px at most: one OpenVINO kernel (``brgconv_avx512_1x1_bf16``) fits; a block's list elides


@dataclass(frozen=True)
class TimingRow:
    name: str
    op_types: str
    provider: str
    median_ms: float
    share: float  # 0..1 of the sum of layer times
    last_ms: float = 0.0  # the last column's value: the first run (ONNX Runtime) or the p90 (OpenVINO)


@dataclass(frozen=True)
class TimingTable:
    rows: Sequence[TimingRow]
    wall_ms: float
    layer_sum_ms: float
    first_run_ms: float | None  # the first run's wall time; None where the engine's profile has none (OpenVINO)
    runs: int
    note: str = ""
    explain: tuple[str, ...] = ()  # one line each: the wall time vs layer sum gap, the machine's load when high
    columns: tuple[str, ...] = COLUMNS  # the headers (OpenVINO: "Kernel" for the provider, "p90 (ms)" last)


class TimingPanel(QWidget):
    """Controls (runs, Profile/Cancel, grouping, export) above a sorted table, and a bar chart below it."""

    profileRequested = Signal(int)  # timed runs
    cancelRequested = Signal()
    depthChanged = Signal(int)  # NODES or a module depth
    exportRequested = Signal(str)  # "csv" | "json"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs = QSpinBox()
        self.runs.setRange(1, 1000)
        self.runs.setValue(DEFAULT_RUNS)
        self.runs.setSuffix(" runs")
        self.runs.setToolTip("Timed runs after the warm-up runs; the table shows the median")
        self.profile_button = QPushButton("Profile")  # "Cancel" while a profile runs
        self.profile_button.clicked.connect(self._on_profile_button)
        self._busy = False
        self.wanted_grouping = NODES  # the grouping last chosen (remembered in the settings by the window)
        self.depth_combo = QComboBox()  # not "depth": QWidget.depth() is the bit depth
        self.depth_combo.setToolTip(
            "Sum layer times by module blocks of a depth, by op type or by provider, or show single ONNX nodes"
        )
        self.depth_combo.currentIndexChanged.connect(self._on_depth)
        self.csv_button = QPushButton("Export CSV…")
        self.json_button = QPushButton("Export JSON…")
        self.csv_button.clicked.connect(lambda: self.exportRequested.emit("csv"))
        self.json_button.clicked.connect(lambda: self.exportRequested.emit("json"))
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.RichText)  # our markup; set_summary escapes the text
        self.summary.setWordWrap(True)
        self.set_summary("Profile the current model on the current image.")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = self._make_table()
        self.chart = BarChart()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.chart)
        splitter = QSplitter(Qt.Orientation.Vertical)  # the table gets the tab's whole width: no side scrolling
        splitter.addWidget(self.table)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([330, 220])
        layout = QVBoxLayout(self)
        layout.addLayout(self._controls())
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.set_depths(1)
        self.set_has_report(False)

    def _controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(self.runs)
        row.addWidget(self.profile_button)
        row.addSpacing(12)
        row.addWidget(PlainLabel("Group by:"))
        row.addWidget(self.depth_combo)
        row.addStretch(1)
        row.addWidget(self.csv_button)
        row.addWidget(self.json_button)
        return row

    def _make_table(self) -> QTableWidget:
        table = QTableWidget(0, len(COLUMNS))
        table.setHorizontalHeaderLabels(COLUMNS)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideLeft)
        table.setAlternatingRowColors(True)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the columns give way instead
        header = table.horizontalHeader()
        header.setMinimumSectionSize(40)
        for column in range(3, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)  # sized to its cells by show_table, capped
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # module: the room left, elided on the left
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(1, _OP_TYPES_WIDTH)
        return table

    def set_depths(self, max_depth: int, current: int | None = None, *, provider_label: str = "Provider") -> None:
        """Offer "Depth 1" … "Depth max_depth", "Single nodes", "Op type" and ``provider_label`` (OpenVINO:
        "Kernel"); show ``current`` (default: :attr:`wanted_grouping`, the user's last choice; a depth deeper
        than this model's shows its deepest, and the wish is kept for the next model)."""
        self.depth_combo.blockSignals(True)
        self.depth_combo.clear()
        for depth in range(1, max(1, max_depth) + 1):
            self.depth_combo.addItem(f"Depth {depth}", depth)
        self.depth_combo.addItem("Single nodes", NODES)
        self.depth_combo.addItem("Op type", OP_TYPES)
        self.depth_combo.addItem(provider_label, PROVIDERS)
        target = self.wanted_grouping if current is None else current
        if target > max(1, max_depth):
            target = max(1, max_depth)
        index = self.depth_combo.findData(target)
        self.depth_combo.setCurrentIndex(index if index >= 0 else self.depth_combo.findData(NODES))
        self.depth_combo.blockSignals(False)

    def current_depth(self) -> int:
        """The grouping: a module depth (>= 1), :data:`NODES`, :data:`OP_TYPES` or :data:`PROVIDERS`."""
        return int(self.depth_combo.currentData() or NODES)

    def _on_profile_button(self) -> None:
        if self._busy:
            self.cancelRequested.emit()
        else:
            self.profileRequested.emit(self.runs.value())

    def set_busy(self, busy: bool, text: str = "") -> None:
        """While busy the Profile button reads "Cancel" and the run count is locked."""
        self._busy = busy
        self.profile_button.setText("Cancel" if busy else "Profile")
        self.profile_button.setToolTip("Stop profiling after the current run" if busy else "")
        self.runs.setEnabled(not busy)
        if text:
            self.set_summary(text)

    def set_summary(self, text: str) -> None:
        """Show ``text`` (plain text, e.g. naming a model and an image) above the table."""
        self.summary.setText(rich(text))

    def set_has_report(self, has: bool) -> None:
        self.csv_button.setEnabled(has)
        self.json_button.setEnabled(has)

    def show_table(self, table: TimingTable) -> None:
        rows = sorted(table.rows, key=lambda r: r.median_ms, reverse=True)
        self.table.setHorizontalHeaderLabels(table.columns)  # OpenVINO's profile names the kernel, and has a p90
        first = {OP_TYPES: "Op type", PROVIDERS: table.columns[2]}.get(self.current_depth(), table.columns[0])
        self.table.setHorizontalHeaderItem(0, QTableWidgetItem(first))  # what the rows are grouped by
        self.table.setRowCount(len(rows))
        for index, row in enumerate(rows):
            cells = (
                row.name,
                row.op_types,
                row.provider,
                f"{row.median_ms:.3f}",
                f"{100.0 * row.share:.1f}%",
                f"{row.last_ms:.3f}",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(shown(text))
                item.setToolTip(tooltip(text))
                if column >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(index, column, item)
        self._fit_provider_column()
        self.chart.set_bars([(r.name, r.median_ms) for r in rows])
        self.summary.setText(
            f"<b>Sum of layer times {table.layer_sum_ms:.2f} ms</b> · measured wall time {table.wall_ms:.2f} ms "
            f"(median of {table.runs} runs)"
            + (f" · first run {table.first_run_ms:.2f} ms" if table.first_run_ms is not None else "")
            + "".join(f"<br>{rich(line)}" for line in table.explain)
            + (f"<br><small>{rich(table.note)}</small>" if table.note else "")
        )
        self.set_has_report(True)

    def _fit_provider_column(self) -> None:
        """The provider (kernel) column as wide as its cells and header, but at most :data:`_PROVIDER_WIDTH`
        unless its header needs more: OpenVINO's kernel lists for a block elide instead of squeezing the module."""
        header = self.table.horizontalHeader()
        cells = min(self.table.sizeHintForColumn(2), _PROVIDER_WIDTH)
        header.resizeSection(2, max(header.sectionSizeHint(2), cells))

    def clear(self, text: str = "Profile the current model on the current image.") -> None:
        self.table.setRowCount(0)
        self.chart.set_bars([])
        self.set_summary(text)
        self.set_has_report(False)

    def _on_depth(self, _index: int) -> None:
        self.wanted_grouping = self.current_depth()
        self.depthChanged.emit(self.current_depth())

    def table_rows(self) -> list[tuple[str, ...]]:
        """All cells as text, row by row (for tests)."""
        return [tuple(self._cell(r, c) for c in range(self.table.columnCount())) for r in range(self.table.rowCount())]

    def _cell(self, row: int, column: int) -> str:
        item = self.table.item(row, column)
        return item.text() if item is not None else ""
