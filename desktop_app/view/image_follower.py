"""What the Explain and Inspect controllers share: one job at a time, and following the selected image.

Once the user has asked for a map or a layer table, a new image or model gets one too: at once when the
tab is on show, else when it is brought forward (browsing the list in another tab never runs seconds of
work per image). Each run has a generation, so what a stopped job still sends is dropped.

Example::

    python -m desktop_app   # drop photos, press Ctrl+Shift+E, then select another photo: its map follows
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QObject, SignalInstance

from desktop_app.core.runtime import EngineModel, ran_text
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.workers import Job

_ORT_DEVICES = {"CPUExecutionProvider": "CPU", "CUDAExecutionProvider": "CUDA"}


def ort_ran_text(providers: tuple[str, ...]) -> str:
    """What ran an ONNX Runtime session, in words: ``ONNX Runtime CPU`` / ``ONNX Runtime CUDA``."""
    first = providers[0] if providers else "?"
    return f"ONNX Runtime {_ORT_DEVICES.get(first, first.removesuffix('ExecutionProvider'))}"


def engine_note(model: EngineModel | None) -> str:
    """Said when the window's model runs on another engine: this tab's graph copies run on ONNX Runtime."""
    if model is None or model.engine == "onnxruntime":
        return ""
    return f" (an ONNX Runtime copy of the graph; the window's model runs on {ran_text(model)})"


class FollowingPanel(Protocol):
    """What :class:`ImageFollower` uses of its panel."""

    @property
    def becameVisible(self) -> SignalInstance: ...

    def isVisible(self) -> bool: ...

    def set_running(self, running: bool, /) -> None: ...

    def set_image_text(self, text: str) -> None: ...


class ImageFollower(QObject):
    """See the module docstring; a subclass makes its result in :meth:`_run`."""

    def __init__(
        self,
        panel: FollowingPanel,
        current_image: Callable[[], ImageRecord | None],
        show_panel: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._panel, self.current_image, self.show_panel = panel, current_image, show_panel
        self._job: Job | None = None
        self._generation = 0
        self._active = False  # once the user asked for a result, new images and models get one too
        self._stale = False  # a new image or model arrived while the tab was hidden
        panel.becameVisible.connect(self._on_visible)

    @property
    def running(self) -> bool:
        return self._job is not None

    def _run(self) -> None:
        raise NotImplementedError

    def image_changed(self) -> None:
        """The selected image changed: make its result when results are wanted."""
        self._show_image()
        self._rerun()

    def trigger(self) -> None:
        """The action: bring the tab forward and make the current image's result."""
        self.show_panel()
        self._run()

    def _rerun(self) -> None:
        """A new result when results are wanted: now if the tab is on show, else when it is brought forward."""
        if not (self._active or self.running):
            return
        if self._panel.isVisible():
            self._run()
        else:
            self._stop()
            self._panel.set_running(False)
            self._stale = True

    def _on_visible(self) -> None:
        if self._stale:
            self._stale = False
            self._run()

    def _show_image(self) -> None:
        record = self.current_image()
        self._panel.set_image_text(f"Image: {record.title}" if record is not None else "Image: none selected")

    def _stop(self) -> None:
        self._generation += 1
        if self._job is not None:
            self._job.cancel()
            self._job = None
