"""The line under the image list: a pass's progress (count, rate, time left, Stop), then its summary, and Clear.

While a pass runs it reads "Classifying 120 / 520 · 86 img/s · 5 s left" above a progress bar with a
Stop button; afterwards one summary line stays ("520 classified, 4 failed, 10.7 s"). The widget only
shows what :class:`~desktop_app.view.batch.BatchController` tells it and turns its buttons into signals.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtWidgets import QApplication; \\
from desktop_app.view.batch_progress import BatchProgress; app = QApplication([]); w = BatchProgress(); \\
w.show_progress(3, 10, 1.5); print(w.text())"
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from desktop_app.view.elided_label import ElidedLabel


def progress_text(done: int, total: int, seconds: float) -> str:
    """``Classifying 120 / 520 · 86 img/s · 5 s left`` (rate and time left once there is a rate)."""
    text = f"Classifying {done:,} / {total:,}"
    if done > 0 and seconds > 0:
        rate = done / seconds
        text += f" · {rate:.0f} img/s · {_duration((total - done) / rate)} left"
    return text


def summary_text(classified: int, failed: int, seconds: float | None, not_done: int = 0) -> str:
    """``520 classified, 4 failed, 10.7 s`` (plus ``12 not classified (stopped)`` after a Stop)."""
    parts = [f"{classified:,} classified", f"{failed:,} failed"]
    if not_done:
        parts.append(f"{not_done:,} not classified (stopped)")
    if seconds is not None:
        parts.append(_duration(seconds))
    return ", ".join(parts)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


class BatchProgress(QWidget):
    """See the module docstring."""

    stopRequested = Signal()
    clearRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = ElidedLabel("")  # elided, never widening the list: the full text is its tooltip
        self.label.setObjectName("batchSummary")
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(8)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop classifying (the rows done keep their results)")
        self.stop_button.clicked.connect(self.stopRequested)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every image from the list")
        self.clear_button.clicked.connect(self.clearRequested)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.label, 1)
        row.addWidget(self.stop_button)
        row.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addWidget(self.bar)
        layout.addLayout(row)
        self.show_summary("")

    def text(self) -> str:
        return self.label.text()

    def running(self) -> bool:
        return not self.bar.isHidden()

    def show_progress(self, done: int, total: int, seconds: float) -> None:
        """A pass is running: ``done`` of ``total`` rows have their result after ``seconds``."""
        self.bar.setRange(0, max(1, total))
        self.bar.setValue(done)
        self.bar.show()
        self.stop_button.show()
        self.label.setText(progress_text(done, total, seconds))
        self.label.setToolTip(self.label.text())

    def show_summary(self, text: str) -> None:
        """No pass is running: ``text`` (empty when nothing is listed) stays until the next pass."""
        self.bar.hide()
        self.stop_button.hide()
        self.label.setText(text)
        self.label.setToolTip(text)
