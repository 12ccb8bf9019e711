"""Models from anywhere: File > Open Model…, ``.onnx`` files dropped on the window, and File > Recent Models.

:class:`ModelFiles` inspects each file in a worker (:func:`~desktop_app.core.catalog.inspect_model`) and hands
a usable entry to ``open_entry`` (the window adds it to the model dropdown for the session and loads it);
a file that cannot be used is said so in the status bar. Every model opened this way goes first in the
settings' recent list; choosing a recent file that has vanished says so and drops it from the list.

Example::

    python -m desktop_app   # then File > Open Model…, or drop an .onnx file on the window
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from desktop_app.core.catalog import ModelEntry, inspect_model
from desktop_app.view.settings import AppSettings
from desktop_app.view.text import shown, tooltip
from desktop_app.view.workers import TaskRunner

__all__ = ["MODEL_SUFFIX", "ModelFiles", "is_model_file", "recent_text"]

MODEL_SUFFIX = ".onnx"
FOLDER_CHARS = 60  # a recent model's folder is shortened in the middle beyond this (the tooltip has all of it)
Notify = Callable[[str, int], None]


def is_model_file(path: str) -> bool:
    """An ONNX model by its name (``.onnx``, any case), not a folder."""
    return Path(path).suffix.lower() == MODEL_SUFFIX and not Path(path).is_dir()


def recent_text(path: str) -> str:
    """A Recent Models item: ``name.onnx — /its/fol…/der`` (an ``&`` in a name is shown, not a mnemonic)."""
    file = Path(path)
    folder = shown(file.parent)
    if len(folder) > FOLDER_CHARS:
        half = FOLDER_CHARS // 2
        folder = f"{folder[: half - 1]}…{folder[-half:]}"
    return f"{shown(file.name)} — {folder}".replace("&", "&&")


class ModelFiles(QObject):
    """The Open Model action and the Recent Models menu of ``window``; see the module docstring."""

    def __init__(
        self,
        window: QWidget,
        runner: TaskRunner,
        settings: AppSettings,
        *,
        notify: Notify,
        open_entry: Callable[[ModelEntry], None],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.runner = runner
        self.settings = settings
        self.notify = notify
        self.open_entry = open_entry
        self.action = QAction("Open Mod&el…", window, shortcut=QKeySequence("Ctrl+Shift+M"))
        self.action.setToolTip("Open an ONNX model from any folder (Ctrl+Shift+M); it joins the model list")
        self.action.triggered.connect(self.choose)
        self.recent_menu = QMenu("Recent Mo&dels", window)
        self.recent_menu.aboutToShow.connect(self.fill_recent)
        self.fill_recent()

    def choose(self) -> None:
        """The file dialog, starting in the folder of the newest recent model."""
        recent = self.settings.recent_models
        start = str(Path(recent[0]).parent) if recent else self.settings.last_folder
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open an ONNX model", start, f"ONNX models (*{MODEL_SUFFIX});;All files (*)"
        )
        if path:
            self.open_paths([path])

    def open_paths(self, paths: Sequence[str]) -> None:
        """Inspect each file (worker); usable ones are opened and remembered, the others said so."""
        for path in paths:
            self._inspect(str(Path(path).absolute()))

    def _inspect(self, file: str) -> None:
        self.runner.submit(
            lambda job: inspect_model(file),
            on_result=self._inspected,
            on_error=lambda message: self.notify(f"Cannot open {shown(file)}: {message}", 15000),
            name="inspect model",
        )

    def _inspected(self, entry: ModelEntry) -> None:
        if not entry.usable:
            self.notify(f"Cannot open the model: {entry.error}", 30000)
            return
        self.remember(str(entry.path))
        self.open_entry(entry)

    def remember(self, path: str) -> None:
        """Put ``path`` first in the recent list."""
        self.settings.recent_models = [path, *(p for p in self.settings.recent_models if p != path)]
        self.fill_recent()

    def fill_recent(self) -> None:
        """One item per recent file (newest first), then Clear; a placeholder when there are none."""
        menu = self.recent_menu
        menu.clear()
        recent = self.settings.recent_models
        menu.setToolTipsVisible(True)
        for path in recent:
            action = menu.addAction(recent_text(path))
            action.setData(path)
            action.setToolTip(tooltip(path))
            action.triggered.connect(lambda _checked=False, path=path: self.open_recent(path))
        if not recent:
            menu.addAction("No recent models").setEnabled(False)
            return
        menu.addSeparator()
        menu.addAction("&Clear Recent Models").triggered.connect(self.clear_recent)

    def open_recent(self, path: str) -> None:
        """Open a recent file again; one that has vanished is said so and dropped from the list."""
        if not Path(path).is_file():
            self.settings.recent_models = [p for p in self.settings.recent_models if p != path]
            self.fill_recent()
            self.notify(f"{shown(path)}: the file is gone; removed from Recent Models", 15000)
            return
        self.open_paths([path])

    def clear_recent(self) -> None:
        self.settings.recent_models = []
        self.fill_recent()
