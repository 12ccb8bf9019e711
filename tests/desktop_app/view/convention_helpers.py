"""Helpers for the window-convention tests: the app's display name set as ``main()`` sets it, caught URL opens.

Example::

    python -c "from tests.desktop_app.view.convention_helpers import title_bar; print(title_bar('a', 'App'))"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from desktop_app.view.settings import DISPLAY_NAME
from desktop_app.view.window_menus import TITLE_SEPARATOR


@contextmanager
def display_name() -> Iterator[str]:
    """The application display name as ``python -m desktop_app`` sets it (restored afterwards)."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.applicationDisplayName()
    app.setApplicationDisplayName(DISPLAY_NAME)
    try:
        yield DISPLAY_NAME
    finally:
        app.setApplicationDisplayName(before)


def title_bar(title: str, name: str) -> str:
    """What the window manager shows: Qt's ``QPlatformWindow::formatWindowTitle`` (qplatformwindow.cpp)."""
    if name and not title.endswith(name):
        return f"{title}{TITLE_SEPARATOR}{name}" if title else name
    return title


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(QUrl(url))


@contextmanager
def caught_urls(scheme: str = "file") -> Iterator[list[QUrl]]:
    """``QDesktopServices.openUrl`` for ``scheme`` lands in the yielded list instead of a file manager."""
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler(scheme, catcher, "open")  # PySide6 6.11 refuses the bytes its signature names
    try:
        yield catcher.urls
    finally:
        QDesktopServices.unsetUrlHandler(scheme)
