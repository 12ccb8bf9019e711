"""The per-layer SQNR chart of the Inspect tab: one point per layer in graph order, the threshold, the first drop.

Layers are on the x axis in the reference file's order, named after their PyTorch modules (a name under
every few points, rotated; every point's name and value on hover), SQNR in dB on the y axis up to 50 dB
above the threshold (layers above that, and those identical in both files, infinite SQNR, sit on the top
edge as hollow points). The threshold is a dashed line; points below it are red and the first of them is
named in red. A click on a
point emits :attr:`SqnrChart.layerClicked` with its module name.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.sqnr_chart import SqnrChart; app = QApplication([]); c = SqnrChart(); \\
c.set_points([('conv1', 40.0), ('layer1', 12.0)], 20.0); print(c.first_below())"
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from desktop_app.view.text import shown, tooltip

GOOD = QColor("#1e88e5")
BAD = QColor("#c62828")
GRID = QColor("#e0e0e0")
LEFT, TOP, RIGHT = 44, 18, 12
LABEL_SPACE = 124  # room under the plot for rotated module names
CAP_ABOVE = 50.0  # the axis ends this far above the threshold; higher points sit on the top edge, hollow


def db_text(value: float) -> str:
    return "inf" if math.isinf(value) and value > 0 else "-inf" if math.isinf(value) else f"{value:.1f}"


class SqnrChart(QWidget):
    """Paints (module, dB) points against a threshold; see the module docstring."""

    layerClicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[str, float]] = []
        self.threshold = 20.0
        self.setMouseTracking(True)
        self.setMinimumHeight(140)

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(600, 260)

    def set_points(self, points: Sequence[tuple[str, float]], threshold: float) -> None:
        self.points = list(points)
        self.threshold = threshold
        self.update()

    def set_threshold(self, threshold: float) -> None:
        self.threshold = threshold
        self.update()

    def first_below(self) -> str | None:
        return next((name for name, db in self.points if db < self.threshold), None)

    # ---- geometry -----------------------------------------------------------------------------------------------
    def _range(self) -> tuple[float, float]:
        finite = [db for _, db in self.points if math.isfinite(db)]
        high = min(max([*finite, self.threshold + 10.0]), self.threshold + CAP_ABOVE)
        low = min([*finite, self.threshold - 10.0, 0.0])
        return low, math.ceil(high / 10.0) * 10.0

    def _plot(self) -> QRectF:
        return QRectF(LEFT, TOP, max(self.width() - LEFT - RIGHT, 10), max(self.height() - TOP - LABEL_SPACE, 10))

    def _x(self, index: int) -> float:
        plot = self._plot()
        step = plot.width() / max(len(self.points), 1)
        return plot.left() + step * (index + 0.5)

    def _y(self, db: float) -> float:
        plot = self._plot()
        low, high = self._range()
        value = min(high, max(low, db)) if math.isfinite(db) else high if db > 0 else low
        return plot.bottom() - (value - low) / max(high - low, 1e-9) * plot.height()

    def _index_at(self, x: float) -> int | None:
        plot = self._plot()
        if not self.points or not plot.left() <= x <= plot.right():
            return None
        return min(int((x - plot.left()) / (plot.width() / len(self.points))), len(self.points) - 1)

    # ---- painting -----------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        if not self.points:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Choose a second file to compare with.")
            return
        self._paint_axes(painter)
        self._paint_points(painter)
        self._paint_names(painter)

    def _paint_axes(self, painter: QPainter) -> None:
        plot, (low, high) = self._plot(), self._range()
        metrics = QFontMetrics(self.font())
        step = 10.0 if high - low <= 100 else 20.0
        value = math.floor(low / step) * step
        while value <= high:
            y = self._y(value)
            painter.setPen(QPen(GRID))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(self.palette().text().color())
            painter.drawText(QRectF(0, y - 8, LEFT - 4, 16), Qt.AlignmentFlag.AlignRight, f"{value:g}")
            value += step
        painter.drawText(QRectF(0, 0, LEFT + 40, metrics.height()), Qt.AlignmentFlag.AlignLeft, "dB")
        pen = QPen(BAD, 1.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        y = self._y(self.threshold)
        painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        label = QRectF(plot.right() - 200, plot.top() - TOP, 200, TOP + 2)  # above the plot: never over a point
        painter.drawText(
            label, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, f"- - threshold {self.threshold:g} dB"
        )

    def _paint_points(self, painter: QPainter) -> None:
        previous: QPointF | None = None
        for index, (_name, db) in enumerate(self.points):
            point = QPointF(self._x(index), self._y(db))
            if previous is not None:
                painter.setPen(QPen(GRID.darker(130), 1))
                painter.drawLine(previous, point)
            previous = point
        for index, (_name, db) in enumerate(self.points):
            colour = BAD if db < self.threshold else GOOD
            painter.setPen(QPen(colour, 1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush if db > self._range()[1] else colour)
            painter.drawEllipse(QPointF(self._x(index), self._y(db)), 3, 3)

    def _paint_names(self, painter: QPainter) -> None:
        plot = self._plot()
        metrics = QFontMetrics(self.font())
        every = max(1, math.ceil(len(self.points) * (metrics.height() + 2) / max(plot.width(), 1)))
        first = self.first_below()
        for index, (name, _db) in enumerate(self.points):
            is_first = name == first
            if index % every and not is_first:
                continue
            painter.save()
            painter.translate(self._x(index) + metrics.ascent() / 2 - 1, plot.bottom() + 4)
            painter.rotate(90)
            painter.setPen(BAD if is_first else self.palette().text().color())
            painter.drawText(0, 0, metrics.elidedText(shown(name), Qt.TextElideMode.ElideMiddle, LABEL_SPACE - 8))
            painter.restore()

    # ---- mouse --------------------------------------------------------------------------------------------------
    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # Qt override
        index = self._index_at(event.position().x())
        if index is None:
            QToolTip.hideText()
            return
        name, db = self.points[index]
        QToolTip.showText(event.globalPosition().toPoint(), tooltip(f"{name}: {db_text(db)} dB"), self)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # Qt override
        index = self._index_at(event.position().x())
        if index is not None:
            self.layerClicked.emit(self.points[index][0])
