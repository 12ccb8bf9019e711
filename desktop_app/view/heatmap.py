"""A confusion-matrix heatmap painted with QPainter: rows are true classes, columns top-1 predictions.

Each cell's colour is its count divided by its row's total (row-normalised, so a small class is as
readable as a big one); counts are written in the cells when there are at most :data:`MAX_WRITTEN`
classes, and every cell has a tooltip naming true class, prediction and count. The matrix is bounded:
cells shrink to fit :data:`MAX_SIDE` pixels (never below :data:`MIN_CELL`), and axis names are painted
only while a cell is tall enough for a line of text (long names are elided in the middle, where
numbered classes differ). Class names come from model files: they are
painted as plain text (:func:`~desktop_app.view.text.shown`) and tooltips are escaped.
Clicking a cell emits :attr:`ConfusionHeatmap.cellClicked` with its (row, column).

Example::

    QT_QPA_PLATFORM=offscreen python -c "import numpy as np; from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.heatmap import ConfusionHeatmap; app = QApplication([]); h = ConfusionHeatmap(); \\
h.set_matrix(np.array([[3, 1, 0], [0, 2, 1]]), ['cat', 'dog'], ['cat', 'dog', '(other)']); \\
h.grab().save('/tmp/heatmap.png')"
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QHelpEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop_app.view.text import shown, tooltip

MAX_WRITTEN = 20  # classes up to which the counts are written in the cells
MAX_SIDE = 640  # pixels the cells take at most, whatever the number of classes
MIN_CELL = 3
MAX_CELL = 44
MAX_LABEL_WIDTH = 150
MIN_TINT = 0.12  # the colour of the smallest non-zero share, so one stray image still shows
_PAD = 6
_LOW = QColor("#f4f8fc")
_HIGH = QColor("#0d47a1")


def _mix(fraction: float) -> QColor:
    """White-blue for 0 … dark blue for 1; any non-zero share gets at least a visible tint."""
    f = min(1.0, max(MIN_TINT if fraction > 0 else 0.0, fraction))
    return QColor(
        round(_LOW.red() + f * (_HIGH.red() - _LOW.red())),
        round(_LOW.green() + f * (_HIGH.green() - _LOW.green())),
        round(_LOW.blue() + f * (_HIGH.blue() - _LOW.blue())),
    )


class ConfusionHeatmap(QWidget):
    """See the module docstring. Empty until :meth:`set_matrix`; :meth:`clear` empties it again."""

    cellClicked = Signal(int, int)  # (row, column) of the confusion matrix

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._matrix = np.zeros((0, 0), np.int64)
        self._rows: tuple[str, ...] = ()
        self._columns: tuple[str, ...] = ()
        self._selected: tuple[int, int] | None = None
        self._empty_text = "Evaluate a model to see its confusion matrix"
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setMinimumSize(160, 120)

    # ---- data ---------------------------------------------------------------------------------------------------
    def set_matrix(self, matrix: np.ndarray, rows: Sequence[str], columns: Sequence[str]) -> None:
        """Show ``matrix`` (len(rows) x len(columns) counts); ValueError when the shapes disagree."""
        counts = np.asarray(matrix, dtype=np.int64)
        if counts.shape != (len(rows), len(columns)):
            raise ValueError(f"confusion matrix of shape {counts.shape} for {len(rows)} rows, {len(columns)} columns")
        self._matrix = counts
        self._rows = tuple(shown(r) for r in rows)
        self._columns = tuple(shown(c) for c in columns)
        self._selected = None
        self.updateGeometry()
        self.update()

    def clear(self, text: str = "Evaluate a model to see its confusion matrix") -> None:
        self.set_matrix(np.zeros((0, 0), np.int64), (), ())
        self._empty_text = text

    def matrix(self) -> np.ndarray:
        return self._matrix.copy()

    def labels(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        return self._rows, self._columns

    def select(self, row: int, column: int) -> None:
        """Outline cell (row, column) and emit :attr:`cellClicked` for it, as a click does."""
        self._selected = (row, column)
        self.update()
        self.cellClicked.emit(row, column)

    def selected(self) -> tuple[int, int] | None:
        return self._selected

    # ---- geometry -----------------------------------------------------------------------------------------------
    def _cell(self) -> int:
        n = max(len(self._rows), len(self._columns), 1)
        return int(min(MAX_CELL, max(MIN_CELL, MAX_SIDE // n)))

    def _labelled(self) -> bool:
        return self._cell() >= QFontMetrics(self.font()).height()

    def _label_width(self) -> int:
        if not self._labelled() or not self._rows:
            return _PAD
        metrics = QFontMetrics(self.font())
        widest = max(metrics.horizontalAdvance(name) for name in (*self._rows, *self._columns))
        return min(MAX_LABEL_WIDTH, widest + 2 * _PAD)

    def _origin(self) -> QPoint:
        """Top-left corner of the cells: row names on the left, column names (rotated) above."""
        line = QFontMetrics(self.font()).height()
        label = self._label_width()
        return QPoint(label + line + _PAD, label + line + _PAD)

    def sizeHint(self) -> QSize:  # Qt override
        origin, cell = self._origin(), self._cell()
        return QSize(origin.x() + cell * len(self._columns) + _PAD, origin.y() + cell * len(self._rows) + _PAD)

    def cell_rect(self, row: int, column: int) -> QRect:
        origin, cell = self._origin(), self._cell()
        return QRect(origin.x() + column * cell, origin.y() + row * cell, cell, cell)

    def cell_at(self, point: QPoint) -> tuple[int, int] | None:
        origin, cell = self._origin(), self._cell()
        x, y = point.x() - origin.x(), point.y() - origin.y()
        if x < 0 or y < 0:
            return None
        row, column = y // cell, x // cell
        if row < len(self._rows) and column < len(self._columns):
            return int(row), int(column)
        return None

    def cell_tooltip(self, row: int, column: int) -> str:
        count = int(self._matrix[row, column])
        total = int(self._matrix[row].sum())
        share = f" ({100 * count / total:.1f}% of the row)" if total else ""
        return f"true: {self._rows[row]}\npredicted: {self._columns[column]}\ncount: {count}{share}"

    # ---- events -------------------------------------------------------------------------------------------------
    def event(self, event: QEvent) -> bool:  # Qt override
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            cell = self.cell_at(event.pos())
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), tooltip(self.cell_tooltip(*cell)), self)
            return True
        return super().event(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # Qt override
        cell = self.cell_at(event.position().toPoint())
        if cell is not None and event.button() == Qt.MouseButton.LeftButton:
            self.select(*cell)
        super().mousePressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), self.palette().base())
            if not self._rows:
                painter.setPen(self.palette().color(self.foregroundRole()))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty_text)
                return
            self._paint_cells(painter)
            self._paint_titles(painter)
            if self._labelled():
                self._paint_axes(painter)
        finally:
            painter.end()

    def _paint_cells(self, painter: QPainter) -> None:
        totals = self._matrix.sum(axis=1)
        write = len(self._rows) <= MAX_WRITTEN and self._cell() >= QFontMetrics(self.font()).height()
        for row in range(len(self._rows)):
            for column in range(len(self._columns)):
                count = int(self._matrix[row, column])
                fraction = count / totals[row] if totals[row] else 0.0
                rect = self.cell_rect(row, column)
                colour = _mix(fraction)
                painter.fillRect(rect, colour)
                if write:
                    painter.setPen(QColor("white") if fraction > 0.5 else QColor("#202020"))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(count))
        painter.setPen(QColor("#b0b8c0"))
        right = self.cell_rect(0, len(self._columns) - 1).right()
        bottom = self.cell_rect(len(self._rows) - 1, 0).bottom()
        origin = self._origin()
        painter.drawRect(QRect(origin, QPoint(right, bottom)))
        if self._selected is not None:
            painter.setPen(QColor("#ff6f00"))
            painter.drawRect(self.cell_rect(*self._selected).adjusted(0, 0, -1, -1))

    def _paint_axes(self, painter: QPainter) -> None:
        metrics = QFontMetrics(self.font())
        origin, cell, line = self._origin(), self._cell(), metrics.height()
        label = self._label_width()
        painter.setPen(self.palette().color(self.foregroundRole()))
        for row, name in enumerate(self._rows):
            rect = QRectF(line + _PAD, origin.y() + row * cell, label - _PAD, cell)
            text = metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, int(rect.width()))
            painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        painter.save()
        painter.translate(origin.x(), origin.y() - _PAD // 2)
        painter.rotate(-90)
        for column, name in enumerate(self._columns):
            rect = QRectF(0, column * cell, label - _PAD, cell)
            text = metrics.elidedText(name, Qt.TextElideMode.ElideMiddle, int(rect.width()))
            painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()

    def _paint_titles(self, painter: QPainter) -> None:
        """The axis titles, above the column names and left of the row names."""
        origin, cell, line = self._origin(), self._cell(), QFontMetrics(self.font()).height()
        painter.setPen(self.palette().color(self.foregroundRole()))
        top = QRectF(origin.x(), 0, cell * len(self._columns), line)
        painter.drawText(top, Qt.AlignmentFlag.AlignCenter, "predicted (top-1)")
        painter.save()
        painter.translate(0, origin.y() + cell * len(self._rows))
        painter.rotate(-90)
        painter.drawText(QRectF(0, 0, cell * len(self._rows), line), Qt.AlignmentFlag.AlignCenter, "true class")
        painter.restore()
