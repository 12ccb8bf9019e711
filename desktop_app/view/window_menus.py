"""The main window's title, menu bar and toolbar, laid out from the actions the window and its controllers made.

File (open images, a folder or a model, recent models, paste, clear, stop, rescan, models folder,
quit), Edit (the selected image: copy its result or path, show its folder, remove it), View (the tabs,
``Ctrl+1`` …), Model (profile, explain, compare, inspect, evaluate; preprocessing and labels), Help (About).
The toolbar holds the model and provider choices and the most used actions. The title names the model first
and the app last, once (:func:`window_title`).

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.main_window import MainWindow; app = QApplication([]); w = MainWindow(); \\
print([a.text() for a in w.menuBar().actions()]); w.shutdown()"
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QMenuBar, QTabWidget, QToolBar

from desktop_app.view.evaluate import EvaluateController
from desktop_app.view.image_tabs import ImageTabs
from desktop_app.view.model_combo import ModelCombo
from desktop_app.view.model_files import ModelFiles
from desktop_app.view.overrides_action import OverridesController
from desktop_app.view.settings import DISPLAY_NAME
from desktop_app.view.text import PlainLabel, title
from desktop_app.view.window_actions import ListActions, tab_actions

__all__ = ["TITLE_SEPARATOR", "MenuOwner", "fill_menus", "make_toolbar", "window_title"]

TITLE_SEPARATOR = " — "  # what Qt puts between a window title and the application display name


def window_title(model_name: str | None) -> str:
    """``efficientnet_lite0 · … — CNN Workbench``: the model first, the app name last and only once.

    Qt appends the application display name to a window title that does not already end with it
    (``QPlatformWindow::formatWindowTitle`` on X11, Wayland and Windows); ending with it here means
    the title bar reads the same whether or not the display name is set.
    """
    if not model_name:
        return DISPLAY_NAME
    return f"{title(model_name)}{TITLE_SEPARATOR}{DISPLAY_NAME}"


class MenuOwner(Protocol):
    """What the menus and the toolbar are made of (the main window; only the entry point imports that)."""

    open_action: QAction
    open_folder_action: QAction
    paste_action: QAction
    clear_action: QAction
    stop_action: QAction
    rescan_action: QAction
    models_folder_action: QAction
    quit_action: QAction
    about_action: QAction
    profile_action: QAction
    model_files: ModelFiles
    overrides: OverridesController
    list_actions: ListActions
    image_tabs: ImageTabs
    evaluate: EvaluateController
    tabs: QTabWidget
    model_combo: ModelCombo
    provider_combo: QComboBox

    def menuBar(self) -> QMenuBar: ...


def fill_menus(window: MenuOwner) -> None:
    """Add File, Edit, View, Model and Help to ``window``'s menu bar."""
    bar = window.menuBar()
    menu = bar.addMenu("&File")
    menu.addActions([window.open_action, window.open_folder_action, window.model_files.action])
    menu.addMenu(window.model_files.recent_menu)
    menu.addActions([window.paste_action, window.clear_action])
    menu.addSeparator()
    menu.addActions([window.stop_action, window.rescan_action, window.models_folder_action])
    menu.addSeparator()
    menu.addAction(window.quit_action)
    lists = window.list_actions
    edit = bar.addMenu("&Edit")
    edit.addActions([lists.copy_action, lists.copy_path_action, lists.show_folder_action, lists.remove_action])
    bar.addMenu("&View").addActions(tab_actions(window.tabs, window.tabs.window()))
    model = bar.addMenu("&Model")
    model.addActions([window.profile_action, *window.image_tabs.actions, window.evaluate.action])
    model.addSeparator()
    model.addAction(window.overrides.action)
    bar.addMenu("&Help").addAction(window.about_action)


def make_toolbar(window: MenuOwner) -> QToolBar:
    """Model and provider choices, Rescan, Open, Profile, Compare and Evaluate (short names)."""
    toolbar = QToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.addWidget(PlainLabel(" Model: "))
    toolbar.addWidget(window.model_combo)
    toolbar.addAction(window.rescan_action)
    toolbar.addSeparator()
    toolbar.addWidget(PlainLabel(" Engine: "))
    toolbar.addWidget(window.provider_combo)
    toolbar.addSeparator()
    toolbar.addAction(window.open_action)
    toolbar.addAction(window.profile_action)
    tabs = window.image_tabs  # the toolbar's short names; the menus keep the full ones
    for action, short in ((tabs.explain.action, "Explain"), (tabs.compare.action, "Compare")):
        action.setIconText(short)
        toolbar.addAction(action)
    window.evaluate.action.setIconText("Evaluate")
    toolbar.addAction(window.evaluate.action)
    return toolbar
