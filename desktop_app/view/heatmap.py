"""A zoomable confusion-matrix heatmap painted with QPainter: rows are true classes, columns top-1 predictions.

Each cell's colour is its count divided by its row's total (row-normalised, so a small class is as
readable as a big one). The colours are computed once per matrix (numpy) into a cached QImage with one
pixel per cell, and only the visible part of it is drawn, scaled: a 1000 x 1000 matrix paints as fast
as a small one. Below one pixel per cell the image is first reduced by a block maximum (cached per
factor), so a single confused image still shows at "Fit". Counts are written in the visible cells once
a cell is big enough for them, axis names once a cell is as tall as a line of text (long names elided in
the middle, where numbered classes differ). Every cell has a tooltip naming true class, prediction and
count; clicking a cell emits :attr:`ConfusionHeatmap.cellClicked` with its (row, column) at any zoom.

:class:`HeatmapView` puts the heatmap in a scroll area with minus, plus and Fit buttons; Ctrl+wheel zooms
around the point under the cursor, plus and minus around the middle of the view. A new matrix starts at Fit
(for up to :data:`MAX_WRITTEN` classes at least big enough to read its counts). Class names come from
model files: they are painted as plain text (:func:`~desktop_app.view.text.shown`), tooltips escaped.

Example::

    QT_QPA_PLATFORM=offscreen python -c "import numpy as np; from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.heatmap import HeatmapView; app = QApplication([]); v = HeatmapView(); v.resize(500, 400); \\
v.heatmap.set_matrix(np.array([[3, 1, 0], [0, 2, 1]]), ['cat', 'dog'], ['cat', 'dog', '(other)']); \\
v.grab().save('/tmp/heatmap.png')"
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFontMetrics,
    QHelpEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QWheelEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QSizePolicy, QToolButton, QToolTip, QVBoxLayout, QWidget

from desktop_app.view.text import PlainLabel, shown, tooltip

MAX_WRITTEN = 20  # classes up to which a new matrix starts big enough to read its counts
MIN_CELL = 0.05  # pixels a cell takes at least (zooming out stops there, or at Fit when that is smaller)
MAX_CELL = 64.0  # pixels a cell takes at most (zooming in stops there)
FIT_MAX = 48.0  # "Fit" makes a small matrix's cells no bigger than this
ZOOM_STEP = 1.25
MAX_LABEL_WIDTH = 150
MIN_TINT = 0.12  # the colour of the smallest non-zero share, so one stray image still shows
_PAD = 6
_LOW = QColor("#f4f8fc")
_HIGH = QColor("#0d47a1")
EMPTY_TEXT = "Evaluate a model to see its confusion matrix"


def shares(matrix: np.ndarray) -> np.ndarray:
    """Each count divided by its row's total (0 for an empty row), as float32."""
    totals = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, np.float64), where=totals > 0).astype(np.float32)


def colour_image(fraction: np.ndarray) -> QImage:
    """One RGB32 pixel per cell: white-blue for 0 … dark blue for 1, any non-zero share at least :data:`MIN_TINT`."""
    f = np.where(fraction > 0, np.clip(fraction, MIN_TINT, 1.0), 0.0)
    low = np.array([_LOW.red(), _LOW.green(), _LOW.blue()], np.float32)
    high = np.array([_HIGH.red(), _HIGH.green(), _HIGH.blue()], np.float32)
    rgb = np.rint(low + f[..., None] * (high - low)).astype(np.uint32)
    pixels = np.ascontiguousarray(0xFF000000 | (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2])
    height, width = fraction.shape
    return QImage(pixels.tobytes(), width, height, 4 * width, QImage.Format.Format_RGB32).copy()


def block_max(fraction: np.ndarray, factor: int) -> np.ndarray:
    """``fraction`` reduced ``factor`` times on each side, each block keeping its largest share."""
    rows, columns = fraction.shape
    padded = np.zeros((math.ceil(rows / factor) * factor, math.ceil(columns / factor) * factor), np.float32)
    padded[:rows, :columns] = fraction
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    return blocks.max(axis=(1, 3))


class ConfusionHeatmap(QWidget):
    """See the module docstring. Empty until :meth:`set_matrix`; :meth:`clear` empties it again."""

    cellClicked = Signal(int, int)  # (row, column) of the confusion matrix
    zoomRequested = Signal(float, QPointF)  # factor, the point (widget coordinates) to keep in place
    matrixChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._matrix = np.zeros((0, 0), np.int64)
        self._fraction = np.zeros((0, 0), np.float32)
        self._rows: tuple[str, ...] = ()
        self._columns: tuple[str, ...] = ()
        self._selected: tuple[int, int] | None = None
        self._empty_text = EMPTY_TEXT
        self._cell = 32.0
        self._widest = 0
        self._images: dict[int, QImage] = {}  # reduction factor -> colour image
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
        self._fraction = shares(counts)
        self._rows = tuple(shown(r) for r in rows)
        self._columns = tuple(shown(c) for c in columns)
        self._selected = None
        self._images = {}
        metrics = QFontMetrics(self.font())
        self._widest = max((metrics.horizontalAdvance(name) for name in (*self._rows, *self._columns)), default=0)
        self.updateGeometry()
        self.update()
        self.matrixChanged.emit()

    def clear(self, text: str = EMPTY_TEXT) -> None:
        self._empty_text = text
        self.set_matrix(np.zeros((0, 0), np.int64), (), ())

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
    def cell_size(self) -> float:
        """Pixels per cell at the current zoom."""
        return self._cell

    def set_cell_size(self, cell: float) -> None:
        """Zoom to ``cell`` pixels per cell (kept within :data:`MIN_CELL` … :data:`MAX_CELL`)."""
        self._cell = float(min(MAX_CELL, max(MIN_CELL, cell)))
        self.updateGeometry()
        self.update()

    def line_height(self) -> int:
        return QFontMetrics(self.font()).height()

    def _labelled(self, cell: float | None = None) -> bool:
        return (self._cell if cell is None else cell) >= self.line_height()

    def origin_for(self, cell: float) -> QPoint:
        """Top-left corner of the cells at ``cell`` pixels per cell: row names on the left, column names
        (rotated) above, once a cell is tall enough for them."""
        label = min(MAX_LABEL_WIDTH, self._widest + 2 * _PAD) if self._labelled(cell) and self._rows else _PAD
        offset = label + self.line_height() + _PAD
        return QPoint(offset, offset)

    def _origin(self) -> QPoint:
        return self.origin_for(self._cell)

    def sizeHint(self) -> QSize:  # Qt override
        if not self._rows:
            return QSize(320, 200)
        origin, cell = self._origin(), self._cell
        width = origin.x() + math.ceil(cell * len(self._columns)) + _PAD
        return QSize(width, origin.y() + math.ceil(cell * len(self._rows)) + _PAD)

    def cell_rect(self, row: int, column: int) -> QRect:
        """The pixels of cell (row, column) (edges rounded; at least one pixel)."""
        origin, cell = self._origin(), self._cell
        left, top = round(origin.x() + column * cell), round(origin.y() + row * cell)
        right, bottom = round(origin.x() + (column + 1) * cell), round(origin.y() + (row + 1) * cell)
        return QRect(left, top, max(1, right - left), max(1, bottom - top))

    def bands(self) -> QPoint:
        """Where the names are painted: the top-left corner of the visible part (scrolled into a big
        matrix, the row and column names stay in view, over the cells they hide)."""
        visible = self._view_rect()
        return QPoint(max(0, visible.left()), max(0, visible.top()))

    def cell_at(self, point: QPoint | QPointF) -> tuple[int, int] | None:
        """The cell under pixel ``point``; None outside the cells or on the names painted over them."""
        origin, cell, band = self._origin(), self._cell, self.bands()
        if point.x() < band.x() + origin.x() or point.y() < band.y() + origin.y():
            return None
        x, y = point.x() + 0.5 - origin.x(), point.y() + 0.5 - origin.y()  # the pixel's centre, as cell_rect rounds
        if x < 0 or y < 0:
            return None
        row, column = math.floor(y / cell), math.floor(x / cell)
        if row < len(self._rows) and column < len(self._columns):
            return int(row), int(column)
        return None

    def cell_tooltip(self, row: int, column: int) -> str:
        count = int(self._matrix[row, column])
        total = int(self._matrix[row].sum())
        share = f" ({100 * count / total:.1f}% of the row)" if total else ""
        return f"true: {self._rows[row]}\npredicted: {self._columns[column]}\ncount: {count}{share}"

    def _visible(self, area: QRect) -> tuple[range, range]:
        """The rows and columns with a pixel in ``area``."""
        origin, cell = self._origin(), self._cell
        first_row = max(0, math.floor((area.top() - origin.y()) / cell))
        last_row = min(len(self._rows), math.ceil((area.bottom() + 1 - origin.y()) / cell))
        first_col = max(0, math.floor((area.left() - origin.x()) / cell))
        last_col = min(len(self._columns), math.ceil((area.right() + 1 - origin.x()) / cell))
        return range(first_row, max(first_row, last_row)), range(first_col, max(first_col, last_col))

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
        cell = self.cell_at(event.position())
        if cell is not None and event.button() == Qt.MouseButton.LeftButton:
            self.select(*cell)
        super().mousePressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:  # Qt override
        """Ctrl+wheel zooms around the cursor (the view does it); a plain wheel scrolls the view."""
        steps = event.angleDelta().y() / 120
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and steps and self._rows:
            self.zoomRequested.emit(ZOOM_STEP**steps, event.position())
            event.accept()
            return
        event.ignore()

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        try:
            painter.fillRect(event.rect(), self.palette().base())
            if not self._rows:
                painter.setPen(self.palette().color(self.foregroundRole()))
                painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self._empty_text)
                return
            rows, columns = self._visible(event.rect())
            if rows and columns:
                self._paint_cells(painter, rows, columns)
            self._paint_frame(painter)
            self._paint_bands(painter)
            if self._labelled():
                self._paint_axes(painter, rows, columns)
        finally:
            painter.end()

    def _image(self, factor: int) -> QImage:
        if factor not in self._images:
            fraction = self._fraction if factor == 1 else block_max(self._fraction, factor)
            self._images[factor] = colour_image(fraction)
        return self._images[factor]

    def _paint_cells(self, painter: QPainter, rows: range, columns: range) -> None:
        """The visible cells from the cached colour image, then their counts when they fit."""
        origin, cell = self._origin(), self._cell
        factor = max(1, math.ceil(1 / cell)) if cell < 1 else 1
        r0, r1 = rows.start // factor, math.ceil(rows.stop / factor)
        c0, c1 = columns.start // factor, math.ceil(columns.stop / factor)
        block = cell * factor
        target = QRectF(origin.x() + c0 * block, origin.y() + r0 * block, (c1 - c0) * block, (r1 - r0) * block)
        painter.drawImage(target, self._image(factor), QRectF(c0, r0, c1 - c0, r1 - r0))
        metrics = QFontMetrics(self.font())
        if cell < metrics.height():
            return
        if cell >= 8:
            painter.setPen(QColor("#ffffff"))
            for row in rows:
                for column in columns:
                    painter.drawRect(self.cell_rect(row, column).adjusted(0, 0, -1, -1))
        for row in rows:
            for column in columns:
                text = str(int(self._matrix[row, column]))
                if metrics.horizontalAdvance(text) + 4 > cell:
                    continue
                painter.setPen(QColor("white") if self._fraction[row, column] > 0.5 else QColor("#202020"))
                painter.drawText(self.cell_rect(row, column), Qt.AlignmentFlag.AlignCenter, text)

    def _paint_frame(self, painter: QPainter) -> None:
        painter.setPen(QColor("#b0b8c0"))
        origin, cell = self._origin(), self._cell
        width, height = round(cell * len(self._columns)), round(cell * len(self._rows))
        painter.drawRect(QRect(origin.x() - 1, origin.y() - 1, width + 1, height + 1))
        if self._selected is not None:
            rect = self.cell_rect(*self._selected)
            grow = max(0, (7 - rect.width()) // 2)  # a tiny cell still gets a visible outline
            painter.setPen(QColor("#ff6f00"))
            painter.drawRect(rect.adjusted(-grow, -grow, grow - 1, grow - 1))

    def _view_rect(self) -> QRect:
        visible = self.visibleRegion().boundingRect()
        return visible if not visible.isEmpty() else self.rect()

    def _paint_axes(self, painter: QPainter, rows: range, columns: range) -> None:
        """The row names left of the visible cells, the column names (rotated) above them."""
        metrics = QFontMetrics(self.font())
        origin, cell, line, band, view = self._origin(), self._cell, metrics.height(), self.bands(), self._view_rect()
        label = origin.x() - line - _PAD
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.save()
        painter.setClipRect(QRect(band.x(), band.y() + origin.y(), origin.x(), view.height()))
        for row in rows:
            rect = QRectF(band.x() + line + _PAD, origin.y() + row * cell, label - _PAD, cell)
            text = metrics.elidedText(self._rows[row], Qt.TextElideMode.ElideMiddle, int(rect.width()))
            painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
        painter.setClipRect(QRect(band.x() + origin.x(), band.y(), view.width(), origin.y()))
        painter.translate(origin.x(), band.y() + origin.y() - _PAD // 2)
        painter.rotate(-90)
        for column in columns:
            rect = QRectF(0, column * cell, label - _PAD, cell)
            text = metrics.elidedText(self._columns[column], Qt.TextElideMode.ElideMiddle, int(rect.width()))
            painter.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
        painter.restore()

    def _paint_bands(self, painter: QPainter) -> None:
        """The bands for the names (over the cells scrolled under them) and the axis titles in them, centred
        on the visible cells."""
        origin, cell, line, band, view = self._origin(), self._cell, self.line_height(), self.bands(), self._view_rect()
        base = self.palette().base()
        painter.fillRect(QRect(band.x(), view.top(), origin.x() - 1, view.height()), base)
        painter.fillRect(QRect(view.left(), band.y(), view.width(), origin.y() - 1), base)
        painter.setPen(self.palette().color(self.foregroundRole()))
        x0, y0 = band.x() + origin.x(), band.y() + origin.y()
        width = max(120.0, min(origin.x() + cell * len(self._columns), view.right()) - x0)
        height = max(80.0, min(origin.y() + cell * len(self._rows), view.bottom()) - y0)
        painter.drawText(QRectF(x0, band.y(), width, line), Qt.AlignmentFlag.AlignCenter, "predicted (top-1)")
        painter.save()
        painter.translate(band.x(), y0 + height)
        painter.rotate(-90)
        painter.drawText(QRectF(0, 0, height, line), Qt.AlignmentFlag.AlignCenter, "true class")
        painter.restore()


class HeatmapView(QWidget):
    """:class:`ConfusionHeatmap` in a scroll area, with zoom buttons; see the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heatmap = ConfusionHeatmap()
        self.area = QScrollArea()
        self.area.setWidgetResizable(False)
        self.area.setWidget(self.heatmap)
        self.area.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.area.setBackgroundRole(QPalette.ColorRole.Base)
        self.zoom_out_button = self._button("\u2212", "Zoom out (Ctrl+wheel)", lambda: self.zoom_by(1 / ZOOM_STEP))
        self.zoom_in_button = self._button("+", "Zoom in (Ctrl+wheel)", lambda: self.zoom_by(ZOOM_STEP))
        self.fit_button = self._button("Fit", "Show the whole matrix", self.fit)
        self.zoom_label = PlainLabel("")
        self.zoom_label.setToolTip("Pixels per cell; Ctrl+wheel zooms around the cursor")
        self._fitting = True
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for button in (self.zoom_out_button, self.zoom_in_button, self.fit_button):
            bar.addWidget(button)
        bar.addWidget(self.zoom_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.area, 1)
        self.heatmap.zoomRequested.connect(self.zoom_by)
        self.heatmap.matrixChanged.connect(self._on_matrix)
        self.heatmap.cellClicked.connect(self._show_cell)
        self.area.viewport().installEventFilter(self)
        for scroll_bar in (self.area.horizontalScrollBar(), self.area.verticalScrollBar()):
            scroll_bar.valueChanged.connect(self.heatmap.update)  # the names follow the scrolled view
        self._update_controls()

    def _button(self, text: str, tip: str, slot: Callable[[], None]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def fit_cell(self) -> float:
        """The cell size that shows the whole matrix in the scroll area's viewport."""
        rows, columns = (max(1, len(n)) for n in self.heatmap.labels())
        viewport = self.area.viewport().size()
        for labelled in (True, False):
            cell = self.heatmap.line_height() if labelled else 1.0
            origin = self.heatmap.origin_for(cell)
            room_w, room_h = viewport.width() - origin.x() - _PAD - 1, viewport.height() - origin.y() - _PAD - 1
            fit = min(room_w / columns, room_h / rows)
            if not labelled or fit >= self.heatmap.line_height():
                return float(min(FIT_MAX, max(MIN_CELL, fit)))
        raise AssertionError("unreachable")

    def fit(self) -> None:
        """Zoom so that the whole matrix shows (and keep fitting while the view is resized)."""
        self._fitting = True
        self._apply(self.fit_cell())
        self.area.horizontalScrollBar().setValue(0)
        self.area.verticalScrollBar().setValue(0)

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping ``anchor`` (heatmap coordinates; None: the view's middle) in place."""
        heatmap = self.heatmap
        if not heatmap.labels()[0]:
            return
        viewport = self.area.viewport()
        if anchor is None:
            anchor = QPointF(heatmap.mapFrom(viewport, viewport.rect().center()))
        on_screen = anchor + QPointF(heatmap.pos())  # where the anchor is in the viewport
        old_origin, old_cell = heatmap.origin_for(heatmap.cell_size()), heatmap.cell_size()
        u = (anchor.x() - old_origin.x()) / old_cell, (anchor.y() - old_origin.y()) / old_cell
        low = min(self.fit_cell(), 2.0)
        self._fitting = False
        self._apply(min(MAX_CELL, max(low, old_cell * factor)))
        origin, cell = heatmap.origin_for(heatmap.cell_size()), heatmap.cell_size()
        self.area.horizontalScrollBar().setValue(round(origin.x() + u[0] * cell - on_screen.x()))
        self.area.verticalScrollBar().setValue(round(origin.y() + u[1] * cell - on_screen.y()))

    def _apply(self, cell: float) -> None:
        self.heatmap.set_cell_size(cell)
        hint, viewport = self.heatmap.sizeHint(), self.area.viewport().size()
        self.heatmap.resize(viewport if not self.heatmap.labels()[0] else hint)  # empty: just the message
        self._update_controls()

    def _update_controls(self) -> None:
        has = bool(self.heatmap.labels()[0])
        for button in (self.zoom_out_button, self.zoom_in_button, self.fit_button):
            button.setEnabled(has)
        cell = self.heatmap.cell_size()
        size = f"{cell:.2g}" if cell < 10 else f"{cell:.0f}"
        self.zoom_label.setText(f"{size} px per cell · Ctrl+wheel zooms" if has else "")

    def _on_matrix(self) -> None:
        rows = len(self.heatmap.labels()[0])
        self.fit()
        if 0 < rows <= MAX_WRITTEN:
            readable = self.heatmap.line_height() + 10.0
            if self.heatmap.cell_size() < readable:
                self._fitting = False
                self._apply(readable)

    def _show_cell(self, row: int, column: int) -> None:
        centre = self.heatmap.cell_rect(row, column).center()
        self.area.ensureVisible(centre.x(), centre.y(), 60, 60)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt override
        """The viewport's resizes (its size is known only then): refit, or resize an empty heatmap."""
        if watched is self.area.viewport() and event.type() == QEvent.Type.Resize:
            self._apply(self.fit_cell() if self._fitting else self.heatmap.cell_size())
        return super().eventFilter(watched, event)
