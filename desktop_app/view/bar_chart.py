"""A horizontal bar chart painted with QPainter: one bar per layer, longest first.

Names (module names from the model file) are painted as plain text, escaped by
:func:`~desktop_app.view.text.shown`.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.bar_chart import BarChart; app = QApplication([]); c = BarChart(); \\
c.set_bars([('layer1', 2.0), ('fc', 0.5)], unit='ms'); c.grab().save('/tmp/bars.png')"
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.view.text import shown

ROW_HEIGHT = 20
MAX_LABEL_WIDTH = 260
_PAD = 6


class BarChart(QWidget):
    """Bars of ``(name, value)`` drawn longest-first; its height grows with the number of bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._bars: list[tuple[str, float]] = []
        self._unit = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(ROW_HEIGHT)

    def set_bars(self, bars: Sequence[tuple[str, float]], unit: str = "ms") -> None:
        self._bars = sorted(((shown(n), float(v)) for n, v in bars), key=lambda b: b[1], reverse=True)
        self._unit = unit
        self.setFixedHeight(max(ROW_HEIGHT, len(self._bars) * ROW_HEIGHT + 2 * _PAD))
        self.update()

    def bars(self) -> list[tuple[str, float]]:
        return list(self._bars)

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(480, max(ROW_HEIGHT, len(self._bars) * ROW_HEIGHT + 2 * _PAD))

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.fillRect(self.rect(), self.palette().base())
            if not self._bars:
                painter.setPen(self.palette().color(self.foregroundRole()))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Press Profile to time each layer")
                return
            self._paint_bars(painter)
        finally:
            painter.end()

    def _paint_bars(self, painter: QPainter) -> None:
        metrics = QFontMetrics(self.font())
        label_w = min(MAX_LABEL_WIDTH, max(metrics.horizontalAdvance(n) for n, _ in self._bars) + 2 * _PAD)
        value_w = metrics.horizontalAdvance(f"0000.000 {self._unit}") + _PAD
        bar_w = max(10.0, self.width() - label_w - value_w - 2 * _PAD)
        top_value = max(v for _, v in self._bars) or 1.0
        text_color = self.palette().color(self.foregroundRole())
        bar_color = QColor("#1e88e5")
        for row, (name, value) in enumerate(self._bars):
            y = _PAD + row * ROW_HEIGHT
            label_rect = QRectF(_PAD, y, label_w - _PAD, ROW_HEIGHT)
            painter.setPen(text_color)
            elided = metrics.elidedText(name, Qt.TextElideMode.ElideLeft, int(label_rect.width()))
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, elided)
            length = bar_w * max(0.0, value) / top_value
            bar_rect = QRectF(_PAD + label_w, y + 3, max(1.0, length), ROW_HEIGHT - 6)
            painter.fillRect(bar_rect, bar_color)
            value_rect = QRectF(bar_rect.right() + _PAD, y, value_w, ROW_HEIGHT)
            painter.drawText(
                value_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{value:.3f} {self._unit}"
            )
