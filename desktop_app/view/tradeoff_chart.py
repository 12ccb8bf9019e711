"""The accuracy-vs-latency chart of the Evaluate tab: one point per evaluated model, the Pareto front marked.

x is the median batch-1 latency in ms (a log scale when the latencies span more than
:data:`~desktop_app.core.pareto.LOG_RATIO`), y the top-1 accuracy in %. Each model is a point with a
short label (:func:`~desktop_app.core.pareto.point_labels`; a label that would overlap another is left
out, the tooltip still names the model). The models on the Pareto front
(:func:`~desktop_app.core.pareto.pareto_front`: no other model is both faster and more accurate) are
joined by a line and drawn larger, in another colour. Hovering a point shows the model's name, accuracy
and latency as plain text; clicking one emits :attr:`TradeoffChart.pointClicked` with its index (the
accuracy table's row). Models without a latency or a top-1 are not placed and the legend line says how
many. Names come from model files: painted through :func:`~desktop_app.view.text.shown`.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.tradeoff_chart import TradeoffChart; app = QApplication([]); c = TradeoffChart(); \\
c.resize(420, 240); c.set_points(['fp32', 'int8'], [3.1, 1.2], [0.81, 0.79]); c.grab().save('/tmp/tradeoff.png')"
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QHelpEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop_app.core.pareto import Axis, axis_for, pareto_front, placeable, point_labels
from desktop_app.view.text import shown, tooltip

HIT_RADIUS = 9  # pixels around a point that hover and click reach
LABEL_CHARS = 18
X_TITLE = "median latency, batch 1 (ms)"
Y_TITLE = "top-1 accuracy (%)"
_POINT = QColor("#64748b")
_FRONT = QColor("#d9480f")
_SELECTED = QColor("#1c7ed6")
_PAD = 8


def _tick_text(value: float) -> str:
    return f"{value:.0f}" if value >= 100 or value == int(value) else f"{value:.4g}"


class TradeoffChart(QWidget):
    """See the module docstring. Empty until :meth:`set_points`; :meth:`clear` empties it again."""

    pointClicked = Signal(int)  # index of the model (its accuracy-table row)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: tuple[str, ...] = ()
        self._labels: tuple[str, ...] = ()
        self._latency: tuple[float | None, ...] = ()
        self._accuracy: tuple[float | None, ...] = ()  # fractions in [0, 1]
        self._front: list[int] = []
        self._selected = -1
        self._empty_text = "Evaluate models to compare their accuracy and latency"
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(260, 130)

    # ---- data ---------------------------------------------------------------------------------------------------
    def set_points(
        self, names: Sequence[str], latencies: Sequence[float | None], accuracies: Sequence[float | None]
    ) -> None:
        """One point per model: latency in ms, top-1 as a fraction; ValueError when the lengths differ."""
        if not len(names) == len(latencies) == len(accuracies):
            raise ValueError(f"{len(names)} names, {len(latencies)} latencies and {len(accuracies)} accuracies")
        self._names = tuple(shown(n) for n in names)
        self._labels = tuple(point_labels(self._names))
        self._latency = tuple(latencies)
        self._accuracy = tuple(accuracies)
        self._front = pareto_front(list(zip(self._latency, self._accuracy, strict=True)))
        self._selected = -1
        self.update()

    def clear(self, text: str = "Evaluate models to compare their accuracy and latency") -> None:
        self.set_points((), (), ())
        self._empty_text = text

    def front(self) -> list[int]:
        """Indices of the models on the Pareto front, fastest first."""
        return list(self._front)

    def set_selected(self, index: int) -> None:
        """Ring the point of model ``index`` (-1: none); emits nothing."""
        self._selected = index
        self.update()

    def selected(self) -> int:
        return self._selected

    def placed(self) -> list[int]:
        return [i for i in range(len(self._names)) if placeable(self._latency[i], self._accuracy[i])]

    # ---- geometry -----------------------------------------------------------------------------------------------
    def _axes(self) -> tuple[Axis, Axis]:
        placed = self.placed()
        x = axis_for([float(self._latency[i] or 0) for i in placed], bounds=(0.0, math.inf))
        y = axis_for([100 * float(self._accuracy[i] or 0) for i in placed], bounds=(0.0, 100.0))
        return x, y

    def plot_rect(self) -> QRectF:
        """Where the points go: room left for the y ticks and title, below for the x ticks and title, above
        for the legend line."""
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        left = 2 * _PAD + line + metrics.horizontalAdvance("100")
        top = line + 2 * _PAD
        bottom = 2 * line + 2 * _PAD
        return QRectF(left, top, max(10, self.width() - left - 2 * _PAD), max(10, self.height() - top - bottom))

    def point_position(self, index: int) -> QPointF | None:
        """The widget position of model ``index``'s point (None: it is not placed)."""
        latency, accuracy = self._latency[index], self._accuracy[index]
        if latency is None or accuracy is None or not placeable(latency, accuracy):
            return None
        x_axis, y_axis = self._axes()
        plot = self.plot_rect()
        return QPointF(
            plot.left() + x_axis.fraction(float(latency)) * plot.width(),
            plot.bottom() - y_axis.fraction(100 * float(accuracy)) * plot.height(),
        )

    def point_at(self, pos: QPointF) -> int | None:
        """The model whose point is nearest ``pos`` within :data:`HIT_RADIUS` pixels, else None."""
        best, best_distance = None, float(HIT_RADIUS)
        for index in self.placed():
            point = self.point_position(index)
            if point is None:
                continue
            distance = math.hypot(point.x() - pos.x(), point.y() - pos.y())
            if distance <= best_distance:
                best, best_distance = index, distance
        return best

    def hover_text(self, index: int) -> str:
        """Plain text: the model's name, top-1 and latency, and whether it is on the front."""
        accuracy, latency = self._accuracy[index], self._latency[index]
        top1 = "—" if accuracy is None else f"{100 * accuracy:.2f}%"
        ms = "—" if latency is None else f"{latency:.3g} ms"
        front = "\non the Pareto front" if index in self._front else ""
        return f"{self._names[index]}\ntop-1: {top1}\nlatency: {ms}{front}"

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(420, 240)

    # ---- events -------------------------------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self.point_at(QPointF(event.pos()))
            if index is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), tooltip(self.hover_text(index)), self)
            return True
        return super().event(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # Qt override
        over = self.point_at(event.position())
        self.setCursor(Qt.CursorShape.PointingHandCursor if over is not None else Qt.CursorShape.ArrowCursor)
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # Qt override
        index = self.point_at(event.position())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.set_selected(index)
            self.pointClicked.emit(index)
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.fillRect(self.rect(), self.palette().base())
            if not self.placed():
                painter.setPen(self.palette().color(self.foregroundRole()))
                text = self._empty_text if not self._names else "No model has both a latency and a top-1 to plot"
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)
                return
            self._paint_axes(painter)
            self._paint_front(painter)
            self._paint_points(painter)
            self._paint_legend(painter)
        finally:
            painter.end()

    def _paint_axes(self, painter: QPainter) -> None:
        x_axis, y_axis = self._axes()
        plot, metrics = self.plot_rect(), QFontMetrics(self.font())
        line, ink = metrics.height(), self.palette().color(self.foregroundRole())
        grid = QColor("#e2e8f0")
        for value in x_axis.ticks:
            x = plot.left() + x_axis.fraction(value) * plot.width()
            painter.setPen(grid)
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
            painter.setPen(ink)
            box = QRectF(x - 40, plot.bottom() + 2, 80, line)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, _tick_text(value))
        for value in y_axis.ticks:
            y = plot.bottom() - y_axis.fraction(value) * plot.height()
            painter.setPen(grid)
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(ink)
            box = QRectF(0, y - line / 2, plot.left() - 4, line)
            painter.drawText(box, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, _tick_text(value))
        painter.setPen(QColor("#94a3b8"))
        painter.drawRect(plot)
        painter.setPen(ink)
        scale = " · log scale" if x_axis.log else ""
        title = QRectF(plot.left(), plot.bottom() + line + 2, plot.width(), line)
        painter.drawText(title, Qt.AlignmentFlag.AlignCenter, X_TITLE + scale)
        painter.save()
        painter.translate(_PAD / 2, plot.bottom())
        painter.rotate(-90)
        painter.drawText(QRectF(0, 0, plot.height(), line), Qt.AlignmentFlag.AlignCenter, Y_TITLE)
        painter.restore()

    def _paint_front(self, painter: QPainter) -> None:
        points = [p for p in (self.point_position(i) for i in self._front) if p is not None]
        painter.setPen(QPen(_FRONT, 2))
        for a, b in itertools.pairwise(points):
            painter.drawLine(a, b)

    def _paint_points(self, painter: QPainter) -> None:
        metrics = QFontMetrics(self.font())
        taken: list[QRectF] = []
        plot = self.plot_rect()
        order = sorted(self.placed(), key=lambda i: (i not in self._front, i))  # front labels win
        for index in order:
            point = self.point_position(index)
            if point is None:
                continue
            on_front = index in self._front
            radius = 5.5 if on_front else 4.0
            painter.setPen(QPen(QColor("white"), 1.5))
            painter.setBrush(_FRONT if on_front else _POINT)
            painter.drawEllipse(point, radius, radius)
            if index == self._selected:
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(QPen(_SELECTED, 2))
                painter.drawEllipse(point, radius + 4, radius + 4)
            taken.append(QRectF(point.x() - radius, point.y() - radius, 2 * radius, 2 * radius))
        painter.setPen(self.palette().color(self.foregroundRole()))
        for index in order:
            point = self.point_position(index)
            if point is None:
                continue
            limit = metrics.averageCharWidth() * LABEL_CHARS
            text = metrics.elidedText(self._labels[index], Qt.TextElideMode.ElideMiddle, limit)
            box = self._label_box(point, metrics.horizontalAdvance(text) + 2, metrics.height(), plot, taken)
            if box is not None:
                taken.append(box)
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    @staticmethod
    def _label_box(point: QPointF, width: float, height: float, plot: QRectF, taken: list[QRectF]) -> QRectF | None:
        """The first place beside ``point`` (right, left, above, below) inside ``plot`` that overlaps nothing."""
        gap = 7
        for box in (
            QRectF(point.x() + gap, point.y() - height / 2, width, height),
            QRectF(point.x() - gap - width, point.y() - height / 2, width, height),
            QRectF(point.x() - width / 2, point.y() - gap - height, width, height),
            QRectF(point.x() - width / 2, point.y() + gap, width, height),
        ):
            if plot.contains(box) and not any(box.intersects(other) for other in taken):
                return box
        return None

    def _paint_legend(self, painter: QPainter) -> None:
        metrics = QFontMetrics(self.font())
        line, plot = metrics.height(), self.plot_rect()
        x, y = plot.left(), _PAD / 2
        painter.setPen(QPen(QColor("white"), 1))
        painter.setBrush(_POINT)
        painter.drawEllipse(QPointF(x + 5, y + line / 2), 4, 4)
        painter.setPen(self.palette().color(self.foregroundRole()))
        missing = len(self._names) - len(self.placed())
        rest = f" · {missing} not placed (no latency or top-1)" if missing else ""
        painter.drawText(QRect(int(x + 14), int(y), 80, line), Qt.AlignmentFlag.AlignVCenter, "model")
        x += 14 + metrics.horizontalAdvance("model") + 14
        painter.setPen(QPen(_FRONT, 2))
        painter.drawLine(QPointF(x, y + line / 2), QPointF(x + 18, y + line / 2))
        painter.setBrush(_FRONT)
        painter.drawEllipse(QPointF(x + 9, y + line / 2), 4.5, 4.5)
        painter.setPen(self.palette().color(self.foregroundRole()))
        box = QRectF(x + 24, y, max(10, self.width() - x - 24 - _PAD), line)
        text = metrics.elidedText("Pareto front" + rest, Qt.TextElideMode.ElideRight, int(box.width()))
        painter.drawText(box, Qt.AlignmentFlag.AlignVCenter, text)
