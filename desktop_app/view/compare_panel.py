"""The "Compare" tab: the ticked models' top-5 on the current image side by side, with latency and differences.

The panel only displays what :class:`~desktop_app.view.compare.CompareController` gives it: a checkable
model list, Compare / Cancel, a progress bar while models load and run, then one column per model (its
name, what ran it, its latency, and its top-5 as horizontal bars). Differences against the reference (the
first model) are marked: a top-1 that differs gets an orange row and an orange "top-1 differs" badge, a
label that is not in the reference's top-5 an orange bar and "new", a shared label ▲n / ▼n when its rank
moved (= when it did not). A model that failed shows its error in its column. Names and labels come from
files: everything is plain text (:class:`~desktop_app.view.text.PlainLabel`, :func:`~desktop_app.view.text.shown`).

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.compare_panel import ComparePanel; app = QApplication([]); p = ComparePanel(); \\
p.set_models([('a', 'a.onnx', True, ''), ('b', 'b.onnx', True, '')]); print(p.checked_keys())"
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.compare_image import ImageComparison, ModelColumn, RankedLabel
from desktop_app.view.elided_label import ElidedLabel
from desktop_app.view.text import PlainLabel, shown, tooltip

KEY_ROLE = Qt.ItemDataRole.UserRole
MODELS_HEIGHT = 96
COLUMN_WIDTH = 280  # the narrowest a model's column gets (more models scroll sideways)
ROW_HEIGHT = 24
EMPTY = "Tick two or more models, then select an image in the list and press Compare (Ctrl+Shift+C)."
LEGEND = (
    "Against the reference (first column): orange row = a top-1 that differs · orange bar, new = not in the "
    "reference's top-5 · ▲n / ▼n = rank moved up / down, = unchanged · ±n = probability change in points"
)
BAR = QColor("#1e88e5")
NEW_BAR = QColor("#fb8c00")
DIFFERS_ROW = QColor("#ffe0b2")
ERROR = "#c62828"
_BADGES = {
    "reference": "background: #e0e0e0; color: #212121;",
    "same": "background: #c8e6c9; color: #1b5e20;",
    "differs": "background: #fb8c00; color: white;",
    "error": f"background: {ERROR}; color: white;",
}


def mark_of(row: RankedLabel, *, reference: bool) -> str:
    """The difference mark of one top-5 row: "" (the reference), "new", "▲n", "▼n" or "=" (same rank)."""
    change = row.rank_change
    if reference:
        return ""
    if change is None:
        return "new"
    return "=" if change == 0 else f"▲{change}" if change > 0 else f"▼{-change}"


def change_text(row: RankedLabel, *, reference: bool) -> str:
    """The probability change against the reference in percentage points ("+0.9"), "" when there is none."""
    if reference or row.probability_change is None:
        return ""
    points = 100 * row.probability_change
    return "±0.0" if abs(points) < 0.05 else f"{points:+.1f}".replace("-", "\u2212")  # a real minus sign


def latency_text(column: ModelColumn) -> str:
    if column.latency_ms is None:
        return ""
    ms = column.latency_ms
    return f"{ms:.2f} ms" if ms >= 0.1 else f"{1000 * ms:.0f} µs"


def row_tip(row: RankedLabel, *, reference: bool) -> str:
    """One line per row for the tooltip: the label, its probability and how it stands against the reference."""
    text = f"{row.rank}. {row.label}: {100 * row.probability:.2f}%"
    if reference:
        return text
    if row.probability_change is None:
        text += " · a label the reference does not have"
    else:
        text += f" · {100 * row.probability_change:+.2f} points against the reference"
    where = "not in its top-5" if row.reference_rank is None else f"rank {row.reference_rank} there"
    return f"{text} ({where})"


class TopBars(QWidget):
    """A column's top-5 painted as rows: label, bar (orange for a label new to the reference), percent, mark."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[RankedLabel] = []
        self._reference = True
        self._top1_differs = False
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_rows(self, rows: Sequence[RankedLabel], *, reference: bool, top1_differs: bool) -> None:
        self._rows, self._reference, self._top1_differs = list(rows), reference, top1_differs
        self.setFixedHeight(max(1, len(self._rows)) * ROW_HEIGHT + 4)
        self.setToolTip(tooltip("\n".join(row_tip(r, reference=reference) for r in self._rows)))
        self.update()

    def rows(self) -> list[tuple[str, str, str, str]]:
        """``(label, percent, change, mark)`` per row, as painted (for tests)."""
        ref = self._reference
        return [
            (shown(r.label), _percent(r.probability), change_text(r, reference=ref), mark_of(r, reference=ref))
            for r in self._rows
        ]

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(COLUMN_WIDTH, max(1, len(self._rows)) * ROW_HEIGHT + 4)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            widths = self._widths()
            for index, row in enumerate(self._rows):
                self._paint_row(painter, index, row, widths)
        finally:
            painter.end()

    def _widths(self) -> tuple[int, int, int, int, int]:
        """Widths of the label, bar, percent, change and mark columns: the labels get what they need, up to
        all but a 40 px bar; the bar gets the rest."""
        metrics = QFontMetrics(self.font())
        bold = QFont(self.font())
        bold.setBold(True)
        mark_w = max(metrics.horizontalAdvance("new"), metrics.horizontalAdvance("▲10")) + 6
        change_w = 0 if self._reference else metrics.horizontalAdvance("\u221299.9") + 6
        percent_w = metrics.horizontalAdvance("100.0%") + 6
        free = self.width() - mark_w - change_w - percent_w - 4
        needed = max((QFontMetrics(bold).horizontalAdvance(shown(r.label)) for r in self._rows), default=0) + 14
        label_w = max(60, min(needed, free - 40))
        return label_w, max(20, free - label_w), percent_w, change_w, mark_w

    def _paint_row(
        self, painter: QPainter, index: int, row: RankedLabel, widths: tuple[int, int, int, int, int]
    ) -> None:
        label_w, bar_w, percent_w, change_w, mark_w = widths
        width, y = self.width(), 2 + index * ROW_HEIGHT
        if index == 0 and self._top1_differs:
            painter.fillRect(QRectF(0, y, width, ROW_HEIGHT), DIFFERS_ROW)
        text = self.palette().color(self.foregroundRole())
        painter.setPen(text)
        font = QFont(self.font())
        font.setBold(index == 0)
        painter.setFont(font)
        elide = QFontMetrics(font).elidedText(shown(row.label), Qt.TextElideMode.ElideRight, label_w - 10)
        align_left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(QRectF(4, y, label_w - 6, ROW_HEIGHT), align_left, elide)
        painter.setFont(self.font())
        new = not self._reference and not row.in_reference
        bar = QRectF(label_w, y + 6, max(1.0, bar_w * max(0.0, min(1.0, row.probability))), ROW_HEIGHT - 12)
        painter.fillRect(QRectF(label_w, y + 6, bar_w, ROW_HEIGHT - 12), self.palette().alternateBase())
        painter.fillRect(bar, NEW_BAR if new else BAR)
        align_right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        percent_rect = QRectF(label_w + bar_w, y, percent_w, ROW_HEIGHT)
        painter.drawText(percent_rect, align_right, _percent(row.probability))
        change = change_text(row, reference=self._reference)
        if change:
            painter.setPen(self.palette().color(self.palette().ColorRole.PlaceholderText))
            painter.drawText(QRectF(label_w + bar_w + percent_w, y, change_w, ROW_HEIGHT), align_right, change)
        mark = mark_of(row, reference=self._reference)
        if mark:
            painter.setPen(NEW_BAR.darker(130) if mark == "new" else text)
            painter.drawText(QRectF(width - mark_w, y, mark_w - 2, ROW_HEIGHT), align_right, mark)


def _percent(probability: float) -> str:
    return f"{100 * probability:.1f}%"


class ColumnView(QFrame):
    """One model's column: name, a badge (reference / same top-1 / top-1 differs / failed), ran on, bars."""

    def __init__(self, column: ModelColumn, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.column = column
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumWidth(COLUMN_WIDTH)
        self.title = PlainLabel(column.name)
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: 600;")
        self.title.setToolTip(f"{column.name}\n{column.path}")
        self.badge = PlainLabel(self._badge_text())
        self.badge.setStyleSheet(f"{_BADGES[self.state]} padding: 2px 6px; border-radius: 3px; font-weight: 600;")
        self.info = PlainLabel(self._info_text())
        self.info.setWordWrap(True)  # "ran on OpenVINO CPU, int8/fp32 (fell back) · 1.23 ms" may take two lines
        self.info.setToolTip(self._info_tooltip())
        self.info.setVisible(column.ok)
        self.error = PlainLabel(f"Error: {column.error}" if column.error else "")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(f"color: {ERROR};")
        self.error.setVisible(bool(column.error))
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bars = TopBars()
        self.bars.set_rows(column.top, reference=column.is_reference, top1_differs=column.top1_differs)
        self.bars.setVisible(column.ok)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.info)
        layout.addWidget(self.error)
        layout.addWidget(self.bars)
        layout.addStretch(1)

    @property
    def state(self) -> str:
        """``reference``, ``same``, ``differs`` or ``error``."""
        column = self.column
        if not column.ok:
            return "error"
        return "reference" if column.is_reference else "differs" if column.top1_differs else "same"

    def _badge_text(self) -> str:
        new = len(self.column.new_labels)
        extra = f" · {new} new in top-5" if new and self.state in ("same", "differs") else ""
        text = {"reference": "reference", "same": "same top-1", "differs": "top-1 differs", "error": "failed"}
        return text[self.state] + extra

    def _info_text(self) -> str:
        column = self.column
        if not column.ok:
            return ""
        fell_back = " (fell back)" if column.fallback_reason else ""
        return f"ran on {column.ran_on}{fell_back} · {latency_text(column)}"

    def _info_tooltip(self) -> str:
        column = self.column
        lines = [f"Ran: {column.ran_on}", f"Engine: {column.engine}; provider: {column.provider}"]
        if column.fallback_reason:
            lines.append(f"Fell back: {column.fallback_reason}")
        return tooltip("\n".join(lines)) if column.ok else ""

    def rows(self) -> list[tuple[str, str, str, str]]:
        """``(label, percent, change, mark)`` per top-5 row (none for a model that failed)."""
        return self.bars.rows() if self.column.ok else []


class ComparePanel(QWidget):
    """See the module docstring."""

    compareRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.models = QListWidget()
        self.models.setMaximumHeight(MODELS_HEIGHT)
        self.models.setToolTip("The models to compare; the first ticked one is the reference")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Run the ticked models on the selected image (Ctrl+Shift+C)")
        self.compare_button.clicked.connect(self.compareRequested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.image_label = ElidedLabel("Image: none selected")
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.message = PlainLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty = PlainLabel(EMPTY)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("font-size: 13pt; color: palette(dark);")
        self.strip = QWidget()
        self.strip_layout = QHBoxLayout(self.strip)
        self.strip_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.strip)
        self.legend = PlainLabel(LEGEND)
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("font-size: 9pt;")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(scroll)
        layout = QVBoxLayout(self)
        layout.addLayout(self._top_row())
        layout.addWidget(self.image_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.legend)
        self._views: list[ColumnView] = []
        self.set_running(False, can_start=False)
        self.clear_results()

    def _top_row(self) -> QHBoxLayout:
        buttons = QVBoxLayout()
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.models, 1)
        row.addLayout(buttons)
        return row

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
    def set_image_text(self, text: str) -> None:
        self.image_label.setText(text)
        self.image_label.setToolTip(text)

    def set_running(self, running: bool, *, can_start: bool = True) -> None:
        """While running only Cancel is enabled (the model list is locked)."""
        self.compare_button.setEnabled(not running and can_start)
        self.cancel_button.setEnabled(running)
        self.models.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.set_progress(0, 0, "Loading the models…")

    def set_progress(self, done: int, total: int, text: str) -> None:
        """``total`` 0: busy (no count yet)."""
        self.progress.setRange(0, max(0, total))
        self.progress.setValue(done)
        self.progress.setFormat(shown(text).replace("%", "%%"))

    def set_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    # ---- results ------------------------------------------------------------------------------------------------
    def show_comparison(self, comparison: ImageComparison) -> None:
        """One column per model, side by side, in the comparison's order."""
        self._clear_columns()
        for column in comparison.columns:
            view = ColumnView(column)
            self.strip_layout.addWidget(view, 1, Qt.AlignmentFlag.AlignTop)
            self._views.append(view)
        self.stack.setCurrentIndex(1)
        self.legend.setVisible(len(self._views) > 1)

    def clear_results(self, text: str = EMPTY) -> None:
        """No columns: the empty state says ``text`` (what to do)."""
        self._clear_columns()
        self.empty.setText(text)
        self.stack.setCurrentIndex(0)
        self.legend.hide()

    def _clear_columns(self) -> None:
        for view in self._views:
            self.strip_layout.removeWidget(view)
            view.hide()  # gone at once, even before the deferred delete runs
            view.deleteLater()
        self._views = []

    @property
    def has_results(self) -> bool:
        return bool(self._views)

    def columns(self) -> list[ColumnView]:
        """The model columns shown, left to right (for the controller and tests)."""
        return list(self._views)
