"""Model > Preprocessing and Labels…: override what the window assumed for a model file, remembered per sha256.

:class:`OverridesController` owns the action. It hashes the current model's file and reads what is
remembered for it in a worker (a VGG file is half a gigabyte), shows
:class:`~desktop_app.view.overrides_dialog.OverridesDialog` with the catalog's entry (what was assumed) and
the remembered overrides, stores the answer in the :class:`~desktop_app.core.overrides.OverrideStore` and
asks the window to load the model again: :func:`desktop_app.view.backend.load` applies the remembered
overrides, the list is classified again, and Model info lists what was assumed and what is overridden. A
damaged store is said in the status bar, never overwritten.

Example::

    python -m desktop_app   # open a foreign .onnx file, then Model > Preprocessing and Labels…
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.overrides import OverrideStore, OverrideStoreError, PreprocessOverrides, file_sha256
from desktop_app.view.overrides_dialog import OverridesDialog
from desktop_app.view.workers import TaskRunner

__all__ = ["Ask", "OverridesController"]

#: Shows the dialog for (catalog entry, remembered overrides, parent): the overrides chosen, None when cancelled.
Ask = Callable[[ModelEntry, PreprocessOverrides | None, QWidget], PreprocessOverrides | None]


class OverridesController(QObject):
    """The action, the worker that reads the store, the dialog and the reload; given what it uses."""

    def __init__(
        self,
        parent: QWidget,
        runner: TaskRunner,
        current_entry: Callable[[], ModelEntry | None],
        reload: Callable[[], None],
        notify: Callable[[str, int], None],
        store: OverrideStore | None = None,
        ask: Ask = OverridesDialog.ask,
    ) -> None:
        super().__init__(parent)
        self._parent, self.runner, self.current_entry = parent, runner, current_entry
        self.reload, self.notify, self.ask = reload, notify, ask
        self.store = store or OverrideStore()
        self.action = QAction("Preprocessing and &Labels…", parent)
        self.action.setToolTip(
            "Override the size, resize, crop, interpolation, mean, std, channel order, value range or labels "
            "the model is run with (remembered for this file)"
        )
        self.action.triggered.connect(self.edit)

    def edit(self) -> None:
        """Read what is remembered for the current model's file (in a worker), then show the dialog."""
        entry = self.current_entry()
        if entry is None or not entry.usable:
            self.notify("Choose a usable model first: the overrides belong to one model file", 8000)
            return
        self.runner.submit(
            lambda _job: self._remembered(entry),
            on_result=lambda found: self._ask(entry, *found),
            on_error=lambda message: self.notify(f"{entry.path.name}: {message}", 15000),
            name="overrides",
        )

    def _remembered(self, entry: ModelEntry) -> tuple[str, PreprocessOverrides | None, str]:
        """(the file's sha256, its remembered overrides, a problem with the store or "")."""
        sha256 = file_sha256(entry.path)
        try:
            return sha256, self.store.get(sha256), ""
        except OverrideStoreError as exc:
            return sha256, None, str(exc)

    def _ask(self, entry: ModelEntry, sha256: str, current: PreprocessOverrides | None, problem: str) -> None:
        if problem:
            self.notify(f"{problem}; nothing is remembered until it is fixed or removed", 20000)
        chosen = self.ask(entry, current, self._parent)
        if chosen is None or chosen == (current or PreprocessOverrides()):
            return
        try:
            self.store.put(sha256, chosen, entry.path.name)
        except OverrideStoreError as exc:
            self.notify(f"Not remembered: {exc}", 20000)
            return
        self.notify(f"{entry.path.name}: " + ("overrides removed" if chosen.empty else "overrides saved"), 8000)
        self.reload()
