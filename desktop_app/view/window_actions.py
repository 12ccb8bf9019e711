"""The window's small conveniences: copy a result, the image list's context menu, folders, switching tabs.

:class:`ListActions` holds the actions on the selected image (Copy Result ``Ctrl+C``, Copy Path, Open
Containing Folder, Remove from List ``Del``) and shows them, with Clear List, as the list's context menu.
:func:`tab_actions` makes ``Ctrl+1`` … ``Ctrl+N`` (one per tab) and Next/Previous Tab (``Ctrl+Tab``,
``Ctrl+PgDown`` / ``Ctrl+Shift+Tab``, ``Ctrl+PgUp``). :func:`open_folder` opens a folder in the file manager.
Text put on the clipboard is plain text.

Example::

    python -m desktop_app   # select an image, press Ctrl+C, paste the top-5 into a bug report
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMenu, QTabWidget, QWidget

from desktop_app.view.batch import BatchController
from desktop_app.view.batch_progress import summary_text
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.text import shown

__all__ = ["ListActions", "models_folder_action", "open_folder", "open_models_folder", "result_text", "tab_actions"]

Notify = Callable[[str, int], None]


def result_text(record: ImageRecord, model_name: str | None) -> str:
    """The record's top-5 as plain text: the image (and model), then ``1. label — 97.31%`` lines."""
    head = record.title if model_name is None else f"{record.title} — {model_name}"
    if record.error is not None:
        return f"{head}\n{record.error}"
    if not record.scores:
        return f"{head}\nnot classified yet"
    rows = [f"{rank}. {label} — {100.0 * prob:.2f}%" for rank, (label, prob) in enumerate(record.scores[:5], 1)]
    return "\n".join([head, *rows])


def models_folder_action(parent: QObject, folder: Callable[[], Path], notify: Notify) -> QAction:
    """File > Open Models Folder (``folder()`` is read when it is triggered: a rescan may change it)."""
    action = QAction("Open &Models Folder", parent)
    action.setToolTip("Show the models folder in the file manager (put .onnx files there)")
    action.triggered.connect(lambda: open_models_folder(folder(), notify))
    return action


def open_models_folder(folder: Path, notify: Notify) -> bool:
    """File > Open Models Folder: the file manager shows it (created first, so there is a place for models)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        notify(f"Cannot create {shown(folder)}: {exc.strerror or exc}", 10000)
        return False
    return open_folder(folder, notify)


def open_folder(folder: Path, notify: Notify) -> bool:
    """Show ``folder`` in the platform's file manager; says so in the status bar when that fails."""
    if not folder.is_dir():
        notify(f"{shown(folder)}: no such folder", 10000)
        return False
    if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        notify(f"Could not open {shown(folder)} in a file manager", 10000)
        return False
    return True


class ListActions(QObject):
    """Actions on the selected row of ``batch``'s image list, and the list's context menu; see the module docstring.

    ``clear_action`` is the window's Clear, added to the menu; Copy Result names the batch's current model.
    """

    def __init__(
        self,
        batch: BatchController,
        *,
        clear_action: QAction,
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.batch = batch
        self.image_list = image_list = batch.image_list
        self.notify = batch.notify
        self.clear_action = clear_action
        self.copy_action = QAction("&Copy Result", parent, shortcut=QKeySequence(QKeySequence.StandardKey.Copy))
        self.copy_action.setToolTip("Copy the selected image's top-5 as text (Ctrl+C)")
        self.copy_action.triggered.connect(self.copy_result)
        # Ctrl+C where the image and its result are (the list, the Prediction tab); tables and text keep their own
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        image_list.addAction(self.copy_action)
        batch.result_panel.addAction(self.copy_action)
        self.copy_path_action = QAction("Copy &Path", parent)
        self.copy_path_action.triggered.connect(self.copy_path)
        self.show_folder_action = QAction("Open Containing &Folder", parent)
        self.show_folder_action.triggered.connect(self.show_folder)
        delete = QKeySequence(QKeySequence.StandardKey.Delete)
        self.remove_action = QAction("&Remove from List", parent, shortcut=delete)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)  # Del in the list only
        image_list.addAction(self.remove_action)
        self.remove_action.triggered.connect(self.remove_current)
        image_list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        image_list.customContextMenuRequested.connect(self.show_menu)

    def menu(self) -> QMenu:
        """The context menu for the selected row (entries that do not apply are disabled)."""
        record = self.image_list.current_record()
        has_file = record is not None and isinstance(record.source, str)
        self.copy_action.setEnabled(record is not None)
        self.copy_path_action.setEnabled(has_file)
        self.show_folder_action.setEnabled(has_file)
        self.remove_action.setEnabled(record is not None)
        self.clear_action.setEnabled(bool(self.image_list.records))
        menu = QMenu(self.image_list)
        menu.addActions([self.copy_action, self.copy_path_action, self.show_folder_action])
        menu.addSeparator()
        menu.addActions([self.remove_action, self.clear_action])
        menu.aboutToHide.connect(self._enable_all)
        return menu

    def show_menu(self, pos: QPoint) -> None:
        item = self.image_list.itemAt(pos)
        if item is not None:
            self.image_list.setCurrentItem(item)
        menu = self.menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.image_list.viewport().mapToGlobal(pos))

    def _enable_all(self) -> None:
        """The shortcuts work again after the menu (each action says itself when it does not apply)."""
        for action in (self.copy_action, self.copy_path_action, self.show_folder_action, self.remove_action):
            action.setEnabled(True)
        self.clear_action.setEnabled(True)

    def _selected(self) -> ImageRecord | None:
        record = self.image_list.current_record()
        if record is None:
            self.notify("Select an image in the list first", 5000)
        return record

    def copy_result(self) -> None:
        record = self._selected()
        if record is not None:
            model = self.batch.current_model()
            QGuiApplication.clipboard().setText(result_text(record, model.entry.name if model is not None else None))
            self.notify(f"Copied the result of {record.title}", 4000)

    def _file(self) -> Path | None:
        record = self._selected()
        if record is None:
            return None
        if not isinstance(record.source, str):
            self.notify(f"{record.title} was pasted: it has no file", 5000)
            return None
        return Path(record.source).absolute()

    def copy_path(self) -> None:
        path = self._file()
        if path is not None:
            QGuiApplication.clipboard().setText(str(path))
            self.notify(f"Copied {path}", 4000)

    def show_folder(self) -> None:
        path = self._file()
        if path is not None:
            open_folder(path.parent, self.notify)

    def remove_current(self) -> None:
        record = self._selected()
        if record is not None:
            self.remove(record.key)

    def remove(self, key: int) -> None:
        """Take one row out of the list; a running pass goes on with the rows still waiting."""
        running = self.batch.pending > 0
        self.image_list.remove(key)
        if not self.image_list.records:
            self.batch.clear()
        elif running:
            self.batch.classify_all(only_missing=True)
            if not self.batch.pending:  # it was the last row waiting: the pass is over
                records = self.image_list.records.values()
                failed = sum(1 for r in records if r.error is not None)
                self.batch.progress.show_summary(summary_text(sum(1 for r in records if r.scores), failed, None))
                self.batch.finished.emit()


def tab_actions(tabs: QTabWidget, parent: QWidget) -> list[QAction]:
    """``Ctrl+1`` … ``Ctrl+N`` bring tab 1 … N forward, then Next Tab and Previous Tab (cycling)."""
    actions = []
    for index in range(tabs.count()):
        action = QAction(tabs.tabText(index), parent, shortcut=QKeySequence(f"Ctrl+{index + 1}"))
        action.triggered.connect(lambda _checked=False, i=index: tabs.setCurrentIndex(i))
        actions.append(action)
    n = tabs.count()
    step = {"&Next Tab": (1, ("Ctrl+Tab", "Ctrl+PgDown")), "&Previous Tab": (-1, ("Ctrl+Shift+Tab", "Ctrl+PgUp"))}
    for text, (delta, keys) in step.items():
        action = QAction(text, parent)
        action.setShortcuts([QKeySequence(key) for key in keys])
        action.triggered.connect(lambda _checked=False, d=delta: tabs.setCurrentIndex((tabs.currentIndex() + d) % n))
        actions.append(action)
    return actions
