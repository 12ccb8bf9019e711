"""Showing untrusted text: file names, labels and model names are plain text, never Qt rich text.

Qt guesses: a QLabel, a tooltip or a message box whose text "might be rich text" (``Qt.mightBeRichText``)
renders it as HTML, so a label ``<img src=/any/file>`` would make the window read and draw that file (and
``<img src=FIFO>`` would block it for ever). Everything here turns text that came from a file or a file
name into something Qt shows literally:

* :func:`shown` escapes what cannot be shown losslessly, exactly as the command line does
  (:func:`workbench.names.printable`): undecodable bytes of a file name (kept by ``os.fsdecode``
  as lone surrogates, which Qt would silently drop) become ``\\xe9``, control characters and
  bidirectional overrides ``\\x07``/``\\u202e``; so the user sees ``caf\\xe9.jpg`` for those bytes.
* :func:`tooltip` wraps text as escaped HTML (tooltips have no plain-text switch).
* :class:`PlainLabel` is a QLabel fixed to ``Qt.PlainText`` that applies both to its text and tooltip.
* :func:`local_path` turns a dropped ``file://`` URL into the exact file name, bytes and all.

Example::

    python -c "import os; from desktop_app.view.text import shown; print(shown(os.fsdecode(b'caf\\xe9.jpg')))"
"""

from __future__ import annotations

import html
import os
import urllib.parse

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QLabel, QWidget

from workbench.names import printable

__all__ = ["PlainLabel", "local_path", "rich", "shown", "title", "tooltip"]


def shown(text: object, *, keep_newlines: bool = False) -> str:
    """``text`` as a string Qt displays exactly: undecodable bytes and control characters escaped.

    ``keep_newlines`` keeps line breaks (for our own multi-line messages; names never keep them).
    """
    value = str(text)
    if keep_newlines:
        return "\n".join(printable(line) for line in value.split("\n"))
    return printable(value)


def rich(text: object) -> str:
    """``text`` escaped for inclusion in our own rich-text markup (``<b>``, ``<br>``)."""
    return html.escape(shown(text, keep_newlines=True)).replace("\n", "<br>")


def tooltip(text: object) -> str:
    """A tooltip that shows ``text`` literally (empty stays empty, meaning no tooltip)."""
    value = shown(text, keep_newlines=True) if text is not None else ""
    return GuiQt.convertFromPlainText(value, Qt.WhiteSpaceMode.WhiteSpaceNormal) if value else ""


def title(text: object) -> str:
    """Text for ``setWindowTitle``: escaped, and a literal ``[*]`` kept (Qt treats it as a placeholder)."""
    return shown(text).replace("[*]", "[*][*]")


class PlainLabel(QLabel):
    """A QLabel that never interprets markup: ``Qt.PlainText``, text and tooltip through :func:`shown`."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: str) -> None:  # shadows QLabel.setText for every Python caller
        super().setText(shown(text, keep_newlines=True))

    def setToolTip(self, text: str) -> None:  # shadows QWidget.setToolTip
        super().setToolTip(tooltip(text))


def local_path(url: QUrl) -> str:
    """The local file a ``file://`` URL names, losslessly.

    ``QUrl.toLocalFile`` decodes percent-escapes as UTF-8, so a file manager's ``file:///tmp/caf%E9.jpg``
    (the Latin-1 name ``caf\\xe9.jpg``) became ``caf\\ufffd.jpg``, a file that does not exist. Here the
    escapes are decoded to bytes and the bytes to a name with ``os.fsdecode``, as ``os.listdir`` would.
    Windows names are UTF-16 and their URLs UTF-8, so there Qt's own decoding is already exact.
    """
    if os.name == "nt" or url.host() not in ("", "localhost"):
        return url.toLocalFile()
    encoded = url.path(QUrl.ComponentFormattingOption.FullyEncoded)
    return os.fsdecode(urllib.parse.unquote_to_bytes(encoded))
