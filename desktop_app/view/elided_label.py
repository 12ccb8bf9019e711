"""A one-line plain-text label that elides its text to the available width (full text stays in ``text()``).

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.elided_label import ElidedLabel; app = QApplication([]); l = ElidedLabel('x' * 500); \\
print(len(l.text()), l.minimumSizeHint().width() < 200)"
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from desktop_app.view.text import PlainLabel


class ElidedLabel(PlainLabel):
    """Draws ``text()`` elided at the right, never as rich text (its size hint would lay out markup)."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def minimumSizeHint(self) -> QSize:  # Qt override
        return QSize(80, super().minimumSizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:  # Qt override
        painter = QPainter(self)
        try:
            rect = self.contentsRect()
            elided = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight, rect.width())
            painter.setPen(self.palette().color(self.foregroundRole()))
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), elided)
        finally:
            painter.end()
