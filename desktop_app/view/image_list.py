"""The left-hand list: one row per dropped image with thumbnail, top-1 label and confidence.

Rows start as "waiting…", become "label — 97.3%" when classified, or show the per-file
error in red. Each row remembers its source (a path, or encoded clipboard bytes). Names, labels
and errors are shown through :func:`~desktop_app.view.text.shown` (list items never interpret
markup; their tooltips would, so those go through :func:`~desktop_app.view.text.tooltip`).

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.image_list import ImageList; app = QApplication([]); w = ImageList(); \\
key = w.add_source('cat.png', 'cat.png'); w.set_error(key, 'cat.png: file not found'); print(w.row_texts())"
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass, field

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyle, QWidget

from desktop_app.view.qimage import THUMB_SIDE
from desktop_app.view.text import shown, tooltip

KEY_ROLE = Qt.ItemDataRole.UserRole + 1
ERROR_COLOR = QColor("#c62828")
PREVIEW_CACHE = 48  # full-size previews kept in memory; others are decoded again when selected


@dataclass
class ImageRecord:
    """What the window knows about one listed image."""

    key: int
    title: str
    source: str | bytes
    preview: QImage | None = None
    scores: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    problem: str | None = None  # found while listing (e.g. a FIFO): never classified, always this error


class ImageList(QListWidget):
    """A QListWidget of :class:`ImageRecord` rows, keyed by an integer."""

    _keys = itertools.count(1)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: dict[int, ImageRecord] = {}
        self._items: dict[int, QListWidgetItem] = {}
        self._previews: OrderedDict[int, None] = OrderedDict()  # keys holding a preview, oldest first
        self.setIconSize(QSize(THUMB_SIDE, THUMB_SIDE))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setMinimumWidth(240)
        self.setSpacing(2)
        self._blank = QPixmap(THUMB_SIDE, THUMB_SIDE)
        self._blank.fill(QColor("#e0e0e0"))

    def add_source(self, title: str, source: str | bytes) -> int:
        """Append a "waiting" row; returns its key."""
        key = next(self._keys)
        self.records[key] = ImageRecord(key, title, source)
        item = QListWidgetItem(QIcon(self._blank), "")
        item.setData(KEY_ROLE, key)
        item.setSizeHint(QSize(THUMB_SIDE + 180, THUMB_SIDE + 8))
        self.addItem(item)
        self._items[key] = item
        self.set_pending(key)
        return key

    def add_problem(self, title: str, source: str, message: str) -> int:
        """Append a row for a path that was skipped while listing (``message`` says why); returns its key."""
        key = self.add_source(title, source)
        self.records[key].problem = message
        self.set_error(key, message)
        return key

    def item_for(self, key: int) -> QListWidgetItem | None:
        return self._items.get(key)

    def current_key(self) -> int | None:
        item = self.currentItem()
        return None if item is None else int(item.data(KEY_ROLE))

    def current_record(self) -> ImageRecord | None:
        """The record of the selected row, None when nothing is selected."""
        key = self.current_key()
        return self.records.get(key) if key is not None else None

    def set_pending(self, key: int, note: str = "classifying…") -> None:
        record = self.records[key]
        if record.problem is not None:
            return  # a skipped path keeps its reason whatever the model does
        record.scores, record.error = [], None
        self._update(key, note, None)

    def set_thumbnail(self, key: int, thumb: QImage | None, preview: QImage | None) -> None:
        """Show ``thumb`` as the row's icon (None keeps the blank one) and keep ``preview``."""
        item = self.item_for(key)
        if item is not None:
            if thumb is not None:
                item.setIcon(QIcon(QPixmap.fromImage(thumb)))
            self.set_preview(key, preview)

    def set_preview(self, key: int, preview: QImage | None) -> None:
        """Keep ``preview`` for ``key``; only the newest PREVIEW_CACHE previews stay in memory."""
        if key not in self.records or preview is None:
            return
        self.records[key].preview = preview
        self._previews[key] = None
        self._previews.move_to_end(key)
        current = self.current_key()
        while len(self._previews) > PREVIEW_CACHE:
            oldest = next(iter(self._previews))
            if oldest == current:
                self._previews.move_to_end(oldest)
                continue
            del self._previews[oldest]
            if oldest in self.records:
                self.records[oldest].preview = None

    def set_scores(self, key: int, scores: list[tuple[str, float]]) -> None:
        record = self.records[key]
        record.scores, record.error = list(scores), None
        label, prob = scores[0] if scores else ("?", 0.0)
        self._update(key, f"{shown(label)} — {100.0 * prob:.1f}%", None)

    def set_error(self, key: int, message: str) -> None:
        item = self.item_for(key)
        if item is not None:
            item.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning))
        record = self.records[key]
        record.scores, record.error = [], message
        self._update(key, f"⚠ {shown(_reason(message, record.title))}", ERROR_COLOR)

    def _update(self, key: int, second_line: str, color: QColor | None) -> None:
        """Row text: the (escaped) file name, then ``second_line`` (already escaped)."""
        item = self.item_for(key)
        if item is None:
            return
        record = self.records[key]
        item.setText(f"{shown(record.title)}\n{second_line}")
        item.setToolTip(tooltip(record.error or (record.source if isinstance(record.source, str) else record.title)))
        item.setForeground(QBrush(color) if color is not None else QBrush())

    def remove(self, key: int) -> None:
        """Take the row of ``key`` out of the list (the next row becomes the current one)."""
        item = self._items.pop(key, None)
        self.records.pop(key, None)
        self._previews.pop(key, None)
        if item is not None:
            self.takeItem(self.row(item))

    def clear_all(self) -> None:
        self.clear()
        self.records.clear()
        self._items.clear()
        self._previews.clear()

    def row_texts(self) -> list[str]:
        return [self.item(row).text() for row in range(self.count())]


def _reason(message: str, title: str) -> str:
    """Drop the leading "<file>: " of an ImageLoadError message; the row already names the file."""
    for prefix in (f"{title}: ",):
        if message.startswith(prefix):
            return message[len(prefix) :]
    head, sep, tail = message.partition(": ")
    return tail if sep and ("/" in head or "\\" in head or head.endswith(title)) else message
