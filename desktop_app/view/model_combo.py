"""The toolbar's model dropdown: every ONNX file by readable name; unusable ones disabled, with the reason.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.core.session import scan_models; from desktop_app.view.model_combo import ModelCombo; \\
app = QApplication([]); c = ModelCombo(); c.set_entries(scan_models('models')); print(c.count())"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QWidget

from desktop_app.core.session import ModelEntry


class ModelCombo(QComboBox):
    """Items follow ``entries`` one to one; disabled items show "unavailable: <reason>"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: list[ModelEntry] = []
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
            self.addItem(entry.name, str(entry.path))
            self.setItemData(self.count() - 1, str(entry.path), Qt.ItemDataRole.ToolTipRole)
            return
        self.addItem(f"⚠ {entry.path.name} — unavailable: {unavailable_reason(entry)}", str(entry.path))
        index = self.count() - 1
        self.setItemData(index, entry.error, Qt.ItemDataRole.ToolTipRole)
        self.model().item(index).setEnabled(False)

    def mark_unavailable(self, index: int, error: str) -> None:
        """A file that looked fine but would not load: disable its item and show why."""
        entry = replace(self.entries[index], error=error)
        self.entries[index] = entry
        self.setItemText(index, f"⚠ {entry.path.name} — unavailable: {unavailable_reason(entry)}")
        self.setItemData(index, error, Qt.ItemDataRole.ToolTipRole)
        self.model().item(index).setEnabled(False)

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


def unavailable_reason(entry: ModelEntry) -> str:
    """The entry's error without the leading ``"<file>: "`` (the item already names the file)."""
    error = entry.error or "unknown problem"
    prefix = f"{entry.path.name}: "
    return error[len(prefix) :] if error.startswith(prefix) else error
