"""The toolbar's model dropdown: every ONNX file by readable name; unusable ones disabled, with the reason.

Names and reasons come from model files: item texts are drawn as plain text by the combo, and the
tooltips (which Qt would read as rich text) go through :func:`~desktop_app.view.text.tooltip`.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.core.catalog import scan_models; from desktop_app.view.model_combo import ModelCombo; \\
app = QApplication([]); c = ModelCombo(); c.set_entries(scan_models('models')); print(c.count())"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QWidget

from desktop_app.core.catalog import ModelEntry
from desktop_app.view.text import shown, tooltip


class ModelCombo(QComboBox):
    """Items follow ``entries`` one to one; disabled items show "unavailable: <reason>"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ModelEntry] = []
        self.items = QStandardItemModel(self)  # QComboBox's own default, held typed so items can be disabled
        self.setModel(self.items)
        self.setObjectName("modelCombo")
        self.setMinimumContentsLength(48)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)

    def set_entries(self, entries: Sequence[ModelEntry]) -> None:
        """Replace the items without emitting selection signals."""
        self.blockSignals(True)
        self.clear()
        self.entries = list(entries)
        for entry in self.entries:
            self._add(entry)
        self.setPlaceholderText("No models yet" if not self.entries else "Choose a model")
        self.blockSignals(False)

    def _add(self, entry: ModelEntry) -> None:
        if entry.usable:
            self.addItem(shown(entry.name), str(entry.path))
            self.setItemData(self.count() - 1, tooltip(entry.path), Qt.ItemDataRole.ToolTipRole)
            return
        self.addItem(unavailable_text(entry), str(entry.path))
        index = self.count() - 1
        self.setItemData(index, tooltip(entry.error), Qt.ItemDataRole.ToolTipRole)
        self._disable(index)

    def mark_unavailable(self, index: int, error: str) -> None:
        """A file that looked fine but would not load: disable its item and show why."""
        entry = replace(self.entries[index], error=error)
        self.entries[index] = entry
        self.setItemText(index, unavailable_text(entry))
        self.setItemData(index, tooltip(error), Qt.ItemDataRole.ToolTipRole)
        self._disable(index)

    def _disable(self, index: int) -> None:
        item = self.items.item(index)
        if item is not None:
            item.setEnabled(False)

    def pick_index(self, wanted_file_name: str) -> int:
        """The usable entry named ``wanted_file_name``, else the first usable one, else -1."""
        usable = [i for i, e in enumerate(self.entries) if e.usable]
        for i in usable:
            if self.entries[i].path.name == wanted_file_name:
                return i
        return usable[0] if usable else -1

    def current_entry(self) -> ModelEntry | None:
        """The selected entry when it is usable."""
        index = self.currentIndex()
        if 0 <= index < len(self.entries) and self.entries[index].usable:
            return self.entries[index]
        return None


def unavailable_text(entry: ModelEntry) -> str:
    """The item text of an unusable file: ``⚠ <file> — unavailable: <reason>``, escaped."""
    return shown(f"⚠ {entry.path.name} — unavailable: {unavailable_reason(entry)}")


def unavailable_reason(entry: ModelEntry) -> str:
    """The entry's error without the leading ``"<file>: "`` (the item already names the file)."""
    error = entry.error or "unknown problem"
    prefix = f"{entry.path.name}: "
    return error[len(prefix) :] if error.startswith(prefix) else error
