"""The right-hand detail view: the current image and its top-5 labels with probability bars.

Each row has a "Where?" button: it asks (``explainRequested``, with the row's label) for the map of that
class, which the window shows in the Explain tab.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.result_panel import ResultPanel; app = QApplication([]); p = ResultPanel(); \\
p.show_scores('cat.png', [('tabby', 0.8), ('tiger cat', 0.1)]); print(p.rows()[0])"
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from desktop_app.view.text import PlainLabel, tooltip

TOP_K = 5
_BAR_SCALE = 1000


class PreviewLabel(QLabel):
    """Shows a pixmap scaled to fit, re-scaled whenever the label is resized."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._source = QPixmap()
        self.setTextFormat(Qt.TextFormat.PlainText)  # it shows pixmaps only; no text is ever interpreted
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_image(self, image: QImage | None) -> None:
        self._source = QPixmap.fromImage(image) if image is not None else QPixmap()
        self._rescale()

    def resizeEvent(self, event: QResizeEvent) -> None:  # Qt override
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._source.isNull():
            self.clear()
            return
        self.setPixmap(
            self._source.scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )


class ResultPanel(QWidget):
    """File name, preview, per-file error and the top-5 (label, bar, percentage) rows.

    Every text here comes from a file name or a model file, so every label is a :class:`PlainLabel`.
    """

    explainRequested = Signal(str)  # a row's label: show where the model sees that class

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = PlainLabel()
        self.title.setObjectName("resultTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.preview = PreviewLabel()
        self.message = PlainLabel()
        self.message.setObjectName("resultMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self._names: list[PlainLabel] = []
        self._bars: list[QProgressBar] = []
        self._percents: list[PlainLabel] = []
        self._wheres: list[QToolButton] = []
        for row in range(TOP_K):
            self._add_row(grid, row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.message)
        layout.addLayout(grid)
        self.clear()

    def _add_row(self, grid: QGridLayout, row: int) -> None:
        name = PlainLabel()
        name.setMinimumWidth(140)
        if row == 0:
            name.setStyleSheet("font-weight: 600;")
        name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar = QProgressBar()
        bar.setRange(0, _BAR_SCALE)
        bar.setTextVisible(False)
        bar.setFixedHeight(14)
        percent = PlainLabel()
        percent.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        percent.setMinimumWidth(56)
        where = QToolButton()
        where.setObjectName(f"whereButton{row}")
        where.setText("Where?")
        where.setAutoRaise(True)
        where.clicked.connect(lambda _checked=False, r=row: self.explainRequested.emit(self._names[r].text()))
        grid.addWidget(name, row, 0)
        grid.addWidget(bar, row, 1)
        grid.addWidget(percent, row, 2)
        grid.addWidget(where, row, 3)
        self._names.append(name)
        self._bars.append(bar)
        self._percents.append(percent)
        self._wheres.append(where)

    def clear(self) -> None:
        self.title.setText("")
        self.preview.set_image(None)
        self.show_message("")
        self._fill([])

    def set_image(self, title: str, image: QImage | None) -> None:
        self.title.setText(title)
        self.preview.set_image(image)

    def show_scores(self, title: str, scores: Sequence[tuple[str, float]]) -> None:
        """Fill the rows with ``(label, probability)`` pairs, best first."""
        self.title.setText(title)
        self.show_message("")
        self._fill(scores)

    def show_message(self, text: str, *, error: bool = False) -> None:
        """A status line above the rows (red for a per-file error); empty text hides it."""
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828; font-weight: 600;" if error else "color: palette(mid);")
        self.message.setVisible(bool(text))
        if error:
            self._fill([])

    def _fill(self, scores: Sequence[tuple[str, float]]) -> None:
        for row in range(TOP_K):
            if row < len(scores):
                label, prob = scores[row]
                self._names[row].setText(label)
                self._names[row].setToolTip(label)
                self._wheres[row].setToolTip(tooltip(f"Show where the model sees “{label}” (Explain tab)"))
                self._bars[row].setValue(round(max(0.0, min(1.0, prob)) * _BAR_SCALE))
                self._percents[row].setText(f"{100.0 * prob:.1f}%")
            else:
                self._names[row].setText("")
                self._bars[row].setValue(0)
                self._percents[row].setText("")
            for widget in (self._names[row], self._bars[row], self._percents[row], self._wheres[row]):
                widget.setVisible(row < len(scores))

    def rows(self) -> list[tuple[str, str]]:
        """The visible ``(label, percentage text)`` rows, for tests and accessibility."""
        return [(n.text(), p.text()) for n, p in zip(self._names, self._percents, strict=True) if n.text()]
