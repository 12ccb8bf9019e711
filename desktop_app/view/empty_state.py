"""The placeholder shown before any image is dropped (with the shortcuts to open, paste and evaluate), and the
"no model yet" instructions.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.empty_state import EmptyState; app = QApplication([]); w = EmptyState(); \\
w.set_no_model('/tmp/models'); print(w.command.text())"
"""

from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from desktop_app.view.text import PlainLabel, rich, shown
from workbench.paths import models_dir as default_models_dir

CREATE_COMMAND = "python -m exporter export --default"


def create_command(folder: Path) -> str:
    """The exact command that writes the default model into ``folder`` (``--out`` only when not the default one)."""
    if folder == default_models_dir():
        return CREATE_COMMAND
    return f"{CREATE_COMMAND} --out {shlex.quote(str(folder))}"


OPEN_HINT = "…or use File > Open Images (Ctrl+O) or Open Folder (Ctrl+Shift+O), or paste an image (Ctrl+V)"
EVALUATE_HINT = "Measure accuracy on a folder of class folders: Model > Evaluate on Labelled Images… (Ctrl+E)"


class EmptyState(QWidget):
    """A big drop hint; with no usable model, the exact command that creates one plus Rescan."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hint = PlainLabel("Drop photos or a folder here")
        self.hint.setObjectName("dropHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("font-size: 20pt; font-weight: 600; color: palette(dark);")
        self.sub = PlainLabel(OPEN_HINT)
        self.sub.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.evaluate_hint = PlainLabel(EVALUATE_HINT)
        self.evaluate_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.evaluate_hint.setWordWrap(True)
        self.no_model = QFrame()
        self.no_model.setObjectName("noModel")
        self.no_model.setFrameShape(QFrame.Shape.StyledPanel)
        self.no_model_text = QLabel()
        self.no_model_text.setTextFormat(Qt.TextFormat.RichText)  # our markup around the escaped folder
        self.no_model_text.setWordWrap(True)
        self.no_model_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.command = QLineEdit(CREATE_COMMAND)
        self.command.setObjectName("createCommand")
        self.command.setReadOnly(True)
        self.command.setStyleSheet("font-family: monospace; font-size: 11pt; padding: 4px;")
        self.command.setToolTip("Select and copy this command, run it in a terminal from the project folder")
        self.rescan = QPushButton("Rescan models folder")
        self.after = PlainLabel("The model list updates by itself when the file appears.")
        box = QVBoxLayout(self.no_model)
        box.addWidget(self.no_model_text)
        box.addWidget(PlainLabel("Create the default one (EfficientNet-Lite0, ImageNet weights) with:"))
        box.addWidget(self.command)
        box.addWidget(self.after)
        box.addWidget(self.rescan, 0, Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(self.hint)
        layout.addWidget(self.sub)
        layout.addWidget(self.evaluate_hint)
        layout.addSpacing(24)
        row = QHBoxLayout()  # centred by stretches, not alignment: the wrapped folder name gets its height
        row.addStretch(1)
        row.addWidget(self.no_model, 4)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(3)
        self.no_model.setMinimumWidth(620)
        self.no_model.setMaximumWidth(760)
        self.no_model.hide()

    def set_no_model(self, folder: str | None) -> None:
        """Show the instructions for ``folder`` (None hides them: a model is available)."""
        if folder is None:
            self.no_model.hide()
            return
        self.no_model_text.setText(f"<b>No usable model yet</b> in <code>{rich(folder)}</code>")
        self.no_model.show()

    def set_drag_hint(self, text: str | None) -> None:
        """While files are dragged over the window, say (highlighted) what releasing them does; None: the drop hint."""
        self.hint.setText(text or "Drop photos or a folder here")
        color = "palette(highlight)" if text else "palette(dark)"
        self.hint.setStyleSheet(f"font-size: 20pt; font-weight: 600; color: {color};")

    def set_command(self, command: str) -> None:
        self.command.setText(shown(command))
        self.command.setCursorPosition(0)
