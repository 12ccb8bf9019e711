"""What a new user expects of the window: the title, Help > About, shortcuts and menus, models from anywhere.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_window_conventions.py -q -n 0
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication

from desktop_app.view.main_window import TITLE_SEPARATOR
from desktop_app.view.settings import DISPLAY_NAME


@pytest.fixture
def display_name(qapp: QApplication) -> Iterator[str]:
    """The application display name as ``python -m desktop_app`` sets it (restored afterwards)."""
    before = qapp.applicationDisplayName()
    qapp.setApplicationDisplayName(DISPLAY_NAME)
    yield DISPLAY_NAME
    qapp.setApplicationDisplayName(before)


def title_bar(title: str, display_name: str) -> str:
    """What the window manager shows: Qt's ``QPlatformWindow::formatWindowTitle`` (qplatformwindow.cpp)."""
    if display_name and not title.endswith(display_name):
        return f"{title}{TITLE_SEPARATOR}{display_name}" if title else display_name
    return title


def test_the_title_bar_names_the_app_once_after_the_model(make_window, model_bank, display_name: str) -> None:
    window = make_window(model_bank["trained"])
    name = window.loaded.model.entry.name
    assert window.windowTitle() == f"{name} — CNN Workbench"
    shown = title_bar(window.windowHandle().title(), QApplication.applicationDisplayName())
    assert shown == f"{name} — CNN Workbench"
    assert shown.count("CNN Workbench") == 1


def test_the_title_without_a_model_is_the_app_name(make_window, display_name: str) -> None:
    window = make_window(wait_loaded=False)
    assert title_bar(window.windowHandle().title(), display_name) == "CNN Workbench"
