"""The "Explain" tab: the current image with a class map over it, one button per top-5 class, the method used.

The panel only displays what :class:`~desktop_app.view.explain.ExplainController` gives it: a method choice
(Auto: CAM where the file supports it, else occlusion; CAM; Occlusion), Explain, an opacity slider,
"Save overlay…", a row of up to five class buttons (label and probability; the checked one is on show), a
line saying which method made the map (and why CAM did not apply), a progress bar with Cancel while
occlusion runs, the overlay itself (scaled to fit; grey where the centre crop did not see) and a colour
legend. Labels come from model files: every text is plain (:class:`~desktop_app.view.text.PlainLabel`).

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.explain_panel import ExplainPanel; app = QApplication([]); p = ExplainPanel(); \\
p.set_classes([(281, 'tabby', 0.6), (282, 'tiger cat', 0.2)], 281); print(p.class_texts())"
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.overlay import colormap
from desktop_app.view.elided_label import ElidedLabel
from desktop_app.view.result_panel import PreviewLabel
from desktop_app.view.text import PlainLabel, shown, tooltip

METHODS = (("Auto", "auto"), ("CAM", "cam"), ("Contrastive CAM", "contrastive"), ("Occlusion", "occlusion"))
EMPTY = "Select an image in the list, then press Explain (Ctrl+Shift+E) to see where the model looks."
NOT_SEEN = "Grey: not seen by the model (cut off by the centre crop)."
DEFAULT_OPACITY = 50  # percent


def legend_image(width: int = 160, height: int = 12) -> QImage:
    """The colormap as a horizontal bar (low on the left, high on the right)."""
    row = colormap("turbo")[np.linspace(0, 255, width).astype(np.intp)]
    data = np.ascontiguousarray(np.repeat(row[None], height, axis=0))
    return QImage(data.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _bold(button: QPushButton, on: bool) -> None:
    """The class on show is in bold (a checked button's shading alone is faint in some styles)."""
    font = button.font()
    font.setBold(on)
    button.setFont(font)


class ExplainPanel(QWidget):
    """Method choice, opacity, class buttons, method line, progress, and the overlay."""

    explainRequested = Signal()
    classRequested = Signal(int)  # a class index
    methodChanged = Signal(str)  # "auto" / "cam" / "contrastive" / "occlusion"
    opacityChanged = Signal(float)  # 0..1
    saveRequested = Signal()
    cancelRequested = Signal()
    becameVisible = Signal()  # the tab was brought forward

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image_label = ElidedLabel("Image: none selected")
        self.image_label.setObjectName("explainImage")
        self.method = QComboBox()
        self.method.setObjectName("explainMethod")
        for text, value in METHODS:
            self.method.addItem(text, value)
        self.method.setToolTip(
            tooltip(
                "Auto: the contrastive CAM where the file ends in global average pooling + a linear classifier, "
                "else occlusion sensitivity (slower, works for any model). CAM: all the evidence for the class. "
                "Contrastive CAM: what makes the class likelier than the model's other classes"
            )
        )
        self.method.currentIndexChanged.connect(lambda _i: self.methodChanged.emit(self.method_choice()))
        self.explain_button = QPushButton("Explain")
        self.explain_button.clicked.connect(self.explainRequested)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setObjectName("explainOpacity")
        self.opacity.setRange(0, 100)
        self.opacity.setValue(DEFAULT_OPACITY)
        self.opacity.setFixedWidth(140)
        self.opacity.setToolTip(tooltip("Opacity of the map over the photo"))
        self.opacity.valueChanged.connect(lambda v: self.opacityChanged.emit(v / 100.0))
        self.save_button = QPushButton("Save overlay…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self.saveRequested)
        self.classes = QButtonGroup(self)
        self.classes.setExclusive(True)
        self.classes.idClicked.connect(self.classRequested)
        self.class_row = QHBoxLayout()
        self.class_row.setSpacing(4)
        self.method_label = PlainLabel("")
        self.method_label.setObjectName("explainMethodText")
        self.method_label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        self.view = PreviewLabel()
        self.message = PlainLabel(EMPTY)
        self.message.setWordWrap(True)
        self._build_layout()
        self.set_running(False)

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.image_label, 1)
        top.addWidget(PlainLabel("Method:"))
        top.addWidget(self.method)
        top.addWidget(self.explain_button)
        top.addSpacing(12)
        top.addWidget(PlainLabel("Opacity:"))
        top.addWidget(self.opacity)
        top.addWidget(self.save_button)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        legend = QHBoxLayout()
        legend.addWidget(PlainLabel("low"))
        bar = PlainLabel("")
        bar.setPixmap(QPixmap.fromImage(legend_image()))
        legend.addWidget(bar)
        legend.addWidget(PlainLabel("high"))
        legend.addSpacing(12)
        legend.addWidget(PlainLabel(NOT_SEEN), 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(self.class_row)
        layout.addWidget(self.method_label)
        layout.addLayout(progress_row)
        layout.addWidget(self.view, 1)
        layout.addLayout(legend)
        layout.addWidget(self.message)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def showEvent(self, event: QShowEvent) -> None:  # Qt override
        super().showEvent(event)
        self.becameVisible.emit()

    # ---- state -------------------------------------------------------------------------------------------------
    def method_choice(self) -> str:
        return str(self.method.currentData())

    def opacity_value(self) -> float:
        return self.opacity.value() / 100.0

    def set_image_text(self, text: str) -> None:
        self.image_label.setText(text)

    def set_running(self, running: bool, *, cancellable: bool = False) -> None:
        """While a map is being made: progress shown; Cancel only where it helps (occlusion)."""
        self.progress.setVisible(running)
        self.cancel_button.setVisible(running and cancellable)
        if running:
            self.progress.setRange(0, 0)  # busy until the first progress report

    def set_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(shown(text))

    def set_message(self, text: str) -> None:
        self.message.setText(text)

    def set_method_text(self, text: str) -> None:
        self.method_label.setText(text)

    # ---- classes and map ----------------------------------------------------------------------------------------
    def set_classes(self, classes: Sequence[tuple[int, str, float]], checked: int | None) -> None:
        """One checkable button per (index, label, probability); ``checked`` is the class on show."""
        for button in self.classes.buttons():
            self.classes.removeButton(button)
            self.class_row.removeWidget(button)
            button.deleteLater()
        for index, label, probability in classes:
            button = QPushButton(f"{shown(label)}  {100 * probability:.1f}%")
            button.setCheckable(True)
            button.toggled.connect(lambda on, b=button: _bold(b, on))
            button.setChecked(index == checked)
            button.setToolTip(tooltip(f"Show where the model sees {label!r} (class {index})"))
            self.classes.addButton(button, index)
            self.class_row.addWidget(button)

    def set_checked_class(self, index: int) -> None:
        button = self.classes.button(index)
        if button is not None:
            button.setChecked(True)

    def class_texts(self) -> list[str]:
        return [button.text() for button in self.classes.buttons()]

    def checked_class(self) -> int | None:
        index = self.classes.checkedId()
        return None if index < 0 else index

    def show_overlay(self, image: QImage | None) -> None:
        self.view.set_image(image)
        self.save_button.setEnabled(image is not None)

    def clear(self, text: str = EMPTY) -> None:
        self.set_classes([], None)
        self.show_overlay(None)
        self.set_method_text("")
        self.set_message(text)
        self.set_running(False)
