"""The window's status bar: the provider that really ran, a transient message, the golden test and load time.

All four are plain-text labels (model names and ONNX Runtime's reasons come from files); the message
never covers the provider.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication, QMainWindow; \\
from desktop_app.view.status_line import StatusLine; app = QApplication([]); w = QMainWindow(); \\
s = StatusLine(w); s.notify('<b>shown as typed</b>'); print(s.message_label.text())"
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMainWindow

from desktop_app.core.catalog import ModelEntry
from desktop_app.view import backend
from desktop_app.view.elided_label import ElidedLabel
from desktop_app.view.text import PlainLabel


class StatusLine(QObject):
    """Fills ``window``'s status bar; see the module docstring."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.provider_label = ElidedLabel("No model loaded")
        self.provider_label.setObjectName("providerStatus")
        self.golden_label = PlainLabel("")
        self.load_label = PlainLabel("")
        self.message_label = ElidedLabel("")
        self.message_label.setObjectName("statusMessage")
        self._message_timer = QTimer(self, singleShot=True)
        self._message_timer.timeout.connect(lambda: self.message_label.setText(""))
        status = window.statusBar()
        status.addWidget(self.provider_label, 3)
        status.addWidget(self.message_label, 2)
        status.addPermanentWidget(self.golden_label)
        status.addPermanentWidget(self.load_label)

    def notify(self, text: str, msecs: int = 10000) -> None:
        """A transient message beside (never over) the provider that ran; the tooltip has all of it."""
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self._message_timer.start(msecs)

    def show_state(self, text: str, tooltip: str = "") -> None:
        """What the model slot says when no model runs (loading, failed, none)."""
        self.provider_label.setText(text)
        self.provider_label.setToolTip(tooltip)

    def show_loading(self, entry: ModelEntry, provider: str) -> None:
        self.show_state(f"Loading {entry.name} on {provider}…")
        self.golden_label.setText("")
        self.golden_label.setToolTip("")
        self.load_label.setText("")

    def show_loaded(self, loaded: backend.Loaded) -> None:
        text, tooltip = backend.provider_status(loaded)
        self.show_state(f"Ran on: {text}", tooltip)
        golden, ok = backend.golden_status(loaded.model)
        self.golden_label.setText("golden ✓" if ok else ("golden ✗ MISMATCH" if ok is False else "no golden test"))
        self.golden_label.setToolTip(golden)
        self.golden_label.setStyleSheet("color: #c62828; font-weight: 600;" if ok is False else "")
        self.load_label.setText("session from cache" if loaded.cached else f"loaded in {1000 * loaded.seconds:.0f} ms")
        if loaded.note:
            self.notify(loaded.note, 30000)
