"""How images get into the window: the Open dialogs, paste (files or image data) and drag and drop of files.

:class:`ImageIntake` turns each of these into a call of ``add_paths`` (files and folders, searched in a
worker) or ``add_sources`` (pasted image bytes); ``.onnx`` files among dropped or pasted ones go to
``open_models`` instead (they are models, not images). The window forwards its drag and drop events to it.
File names from a drop or the clipboard are decoded losslessly (:func:`~desktop_app.view.text.local_path`).

Example::

    python -m desktop_app   # then drop a folder on the window, or press Ctrl+V with copied files
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QMimeData, QObject
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QWidget

from desktop_app.view import backend
from desktop_app.view.model_files import is_model_file
from desktop_app.view.text import local_path
from desktop_app.view.workers import TaskRunner
from workbench.imageio import CLIPBOARD_NAME, IMAGE_EXTENSIONS

Notify = Callable[[str, int], None]


class ImageIntake(QObject):
    """Dialogs, clipboard and drops for ``window`` (the dialogs' parent); see the module docstring.

    ``drag_active(text)`` while files are dragged over the window (the empty page shows what releasing them does,
    highlighted), ``drag_active(None)`` when they leave or are dropped.
    """

    def __init__(
        self,
        window: QWidget,
        runner: TaskRunner,
        *,
        add_paths: Callable[[Sequence[str]], None],
        add_sources: Callable[[Sequence[str | bytes]], None],
        open_models: Callable[[Sequence[str]], None],
        notify: Notify,
        start_folder: Callable[[], str],
        drag_active: Callable[[str | None], None],
    ) -> None:
        super().__init__(window)
        self.window = window
        self.runner = runner
        self.add_paths = add_paths
        self.add_sources = add_sources
        self.open_models = open_models
        self.notify = notify
        self.start_folder = start_folder
        self.drag_active = drag_active

    def open_files(self) -> None:
        patterns = " ".join(f"*{ext}" for ext in sorted(IMAGE_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(
            self.window, "Open images", self.start_folder(), f"Images ({patterns});;All files (*)"
        )
        if files:
            self.take(files)  # "All files" lets a model be chosen too

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open a folder of images", self.start_folder())
        if folder:
            self.add_paths([folder])

    def paste(self) -> None:
        """Ctrl+V: file URLs (copied files) or image data on the clipboard."""
        mime = QGuiApplication.clipboard().mimeData()
        files = dropped_files(mime)
        if files:
            self.take(files)
        elif mime is not None and mime.hasImage():
            image = QGuiApplication.clipboard().image()
            self.runner.submit(
                lambda job: backend.clipboard_bytes(image),
                on_result=lambda data: self.add_sources([data]),
                on_error=lambda m: self.notify(f"{CLIPBOARD_NAME}: {m}", 10000),
            )
        else:
            self.notify("The clipboard holds no image and no image files", 8000)

    def drag_enter(self, event: QDragEnterEvent) -> None:
        files = dropped_files(event.mimeData())
        if files:
            event.acceptProposedAction()
            models, images = split_models(files)
            self.drag_active(hint_text(len(models), len(images)))
            self.notify(release_text(len(models), len(images)), 3000)
        else:
            event.ignore()

    def drag_move(self, event: QDragMoveEvent) -> None:
        if dropped_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drag_leave(self) -> None:
        self.drag_active(None)
        self.notify("", 0)

    def drop(self, event: QDropEvent) -> None:
        self.drag_active(None)
        files = dropped_files(event.mimeData())
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.notify("", 0)
        self.take(files)

    def take(self, files: Sequence[str]) -> None:
        """Models (``.onnx``) to ``open_models``, everything else (images, folders) to ``add_paths``."""
        models, images = split_models(files)
        if models:
            self.open_models(models)
        if images:
            self.add_paths(images)


def split_models(files: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(models, others)``: the ``.onnx`` files, then the images and folders, each in the order given."""
    models = [f for f in files if is_model_file(f)]
    return models, [f for f in files if not is_model_file(f)]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def release_text(models: int, images: int) -> str:
    """What the status bar says while files are dragged over the window."""
    parts = ([f"open {_count(models, 'model')}"] if models else []) + (
        [f"classify {_count(images, 'item')}"] if images else []
    )
    return f"Release to {' and '.join(parts)}"


def hint_text(models: int, images: int) -> str:
    """The empty page's big line while files are dragged over it: what releasing them will do."""
    if not models:
        return "Release to classify"
    opened = "the model" if models == 1 else f"{models} models"
    return f"Release to open {opened}" + (" and classify" if images else "")


def dropped_files(mime: QMimeData | None) -> list[str]:
    """The local files of a drop or a paste, names decoded losslessly (see :func:`text.local_path`)."""
    if mime is None or not mime.hasUrls():
        return []
    return [local_path(url) for url in mime.urls() if url.isLocalFile()]
