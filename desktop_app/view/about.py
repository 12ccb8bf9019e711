"""Help > About: the versions, the CPU, the models folder and the settings file, with a Copy button for bug reports.

Everything is plain text (:func:`about_text` builds it; the dialog shows it in a read-only plain-text box),
so a folder name with markup in it is shown as typed, and Copy puts exactly what is shown on the clipboard.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from desktop_app.view.about import about_text; \\
print(about_text('/tmp/models', '/tmp/wb.ini'))"
"""

from __future__ import annotations

import importlib.util
import os
import platform
from importlib import metadata

import onnxruntime as ort
import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QFontDatabase, QFontMetrics, QGuiApplication
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from desktop_app.view.settings import DISPLAY_NAME
from desktop_app.view.text import shown
from workbench.cpu import cpu_info
from workbench.version import package_version

__all__ = ["AboutDialog", "about_text", "openvino_version", "show_about"]


def openvino_version() -> str:
    """OpenVINO's version when it can be imported, else ``not installed`` (it is never imported here: slow)."""
    if importlib.util.find_spec("openvino") is None:
        return "not installed"
    for dist in ("openvino", "openvino-nightly"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "installed (version unknown)"


def about_text(models_dir: str | os.PathLike[str], settings_file: str) -> str:
    """The About box's text, one ``name: value`` line each, as it goes into a bug report."""
    cpu, features = cpu_info()
    lines = [
        f"{DISPLAY_NAME} {package_version()}",
        "",
        f"ONNX Runtime: {ort.__version__} ({', '.join(ort.get_available_providers())})",
        f"OpenVINO: {openvino_version()}",
        f"Qt: {qVersion()} (PySide6 {PySide6.__version__})",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        f"System: {platform.platform()}",
        f"CPU: {cpu} ({os.cpu_count() or '?'} logical cores)",
        f"CPU instruction sets: {', '.join(features) if features else 'none of the int8/bf16 ones we look for'}",
        f"Models folder: {os.fspath(models_dir)}",
        f"Settings file: {settings_file}",
    ]
    return "\n".join(shown(line) for line in lines)


def show_about(parent: QWidget, models_dir: str | os.PathLike[str], settings_file: str) -> AboutDialog:
    """Help > About over ``parent`` (window-modal, returns at once; deleted when closed)."""
    dialog = AboutDialog(about_text(models_dir, settings_file), parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


class AboutDialog(QDialog):
    """The text of :func:`about_text` in a read-only box, Copy (to the clipboard) and Close."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {DISPLAY_NAME}")
        self.text = QPlainTextEdit()  # plain text: nothing in it is ever read as markup
        self.text.setObjectName("aboutText")
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.text.setFont(font)
        self.text.setPlainText(text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setToolTip("Copy all of this to the clipboard, for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        metrics = QFontMetrics(font)
        lines = text.splitlines() or [""]
        longest = max(lines, key=len)[:120]
        self.resize(max(480, metrics.horizontalAdvance(longest) + 110), metrics.lineSpacing() * (len(lines) + 3) + 90)

    def copy(self) -> None:
        """Put the whole text on the clipboard as plain text."""
        QGuiApplication.clipboard().setText(self.text.toPlainText())
