"""Drives the "Explain" tab: where in the current image the loaded model sees a class, made in a background job.

The controller is given the panel, the window's job runner and session cache, and callables for the
provider, the status bar, the loaded model, the current image and bringing the tab forward; it never sees
the window. It owns the "Explain Prediction" action (Ctrl+Shift+E). A map is one
:class:`~desktop_app.view.workers.TaskRunner` job: decode the image, then either a class activation map, plain
or contrastive (Auto's choice; :mod:`desktop_app.core.cam`, from an in-memory copy of the file that also outputs
the last feature map;
that :class:`~desktop_app.core.cam.CamSession` is opened once per model file and provider and kept) or,
where CAM does not apply (VGG's head, foreign files) or is not wanted, occlusion sensitivity
(:mod:`desktop_app.core.occlusion`, on the loaded model, with progress and Cancel). The same run gives the
image's top-5, one button each; a click makes that class's map. Once a map was asked for, a new image or
model gets one too (when the tab is on show; else when it is brought forward, so browsing the list in
another tab costs nothing). Every run has a generation: Cancel, a new image, a new model or a new run
bump it, so a stale map is never shown. The overlay
(:func:`desktop_app.core.overlay.render_overlay`) is drawn on a preview-sized copy, so the opacity slider is
instant; "Save overlay…" writes the full-size PNG atomically in a job.

Example::

    python -m desktop_app   # drop a photo, choose a model, press Ctrl+Shift+E
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from desktop_app.core.cam import (
    CamResult,
    CamSession,
    CamUnsupportedError,
    explain_with_cam,
    map_to_image,
    open_cam_session,
)
from desktop_app.core.occlusion import OcclusionCancelledError, occlusion_map
from desktop_app.core.overlay import render_overlay, write_overlay
from desktop_app.core.runtime import EngineModel, SessionCache, ran_text
from desktop_app.view.explain_panel import EMPTY, ExplainPanel
from desktop_app.view.image_follower import ImageFollower, engine_note, ort_ran_text
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.qimage import PREVIEW_SIDE, shrunk, to_qimage
from desktop_app.view.workers import Job, TaskRunner
from workbench.imageio import load_image
from workbench.preprocess import preprocess_image

TOP_K = 5
NO_IMAGE = "Select an image in the list (or drop a photo on the window), then press Explain."
NO_MODEL = "Choose a model first: the map shows where that model sees a class."
CAM_TEXT = (
    "Method: class activation map (CAM): the last feature map weighted by the classifier's weights for the class."
)
CONTRASTIVE_TEXT = (
    "Method: contrastive CAM: the parts that make this class likelier than the model's other classes "
    "(the class's weights minus the probability-weighted weights of all classes)."
)
OCCLUSION_TEXT = (
    "Method: occlusion sensitivity: how much the class's probability drops when a grey patch covers each part."
)
_CAM_CACHE_MAX = 4
METHOD_NAMES = {"cam": "CAM", "contrastive": "contrastive CAM", "occlusion": "occlusion"}


@dataclass(frozen=True)
class Explanation:
    """One map on show: for which image, model and class, made how, and the images to draw and save it on."""

    key: int
    title: str
    model_path: Path
    classes: tuple[tuple[int, str, float], ...]  # the top-5 (index, label, probability)
    result: CamResult
    note: str  # why CAM did not apply ("" when it did or was not tried)
    image: Image.Image = field(repr=False)
    display: Image.Image = field(repr=False)  # preview-sized copy of the image
    display_map: np.ndarray = field(repr=False)  # the map on the preview's pixel grid
    ran: str = ""  # what ran the map's runs, e.g. "ONNX Runtime CPU" (CAM) or the window's engine (occlusion)

    @property
    def method(self) -> str:
        return self.result.method


def _top(probabilities: np.ndarray, labels: tuple[str, ...]) -> tuple[tuple[int, str, float], ...]:
    order = np.argsort(-probabilities, kind="stable")[:TOP_K]
    return tuple((int(i), labels[i] if i < len(labels) else str(i), float(probabilities[i])) for i in order)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - float(np.max(logits)))
    return shifted / shifted.sum()


class CamSessions:
    """Open :class:`CamSession` objects per (file, version, provider), and the files that have none (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, int, int, str], CamSession | CamUnsupportedError] = {}

    def get(self, model: EngineModel, provider: str) -> CamSession:
        """The cached session for ``model``'s file (opened on first use).

        Raises:
            CamUnsupportedError: the file has no GAP + linear head (remembered, not tried again).
        """
        stat = model.entry.path.stat()
        key = (str(model.entry.path.resolve()), stat.st_mtime_ns, stat.st_size, provider)
        with self._lock:
            found = self._sessions.get(key)
        if found is None:
            try:
                found = open_cam_session(model.entry, provider)
            except CamUnsupportedError as exc:
                found = exc
            with self._lock:
                while len(self._sessions) >= _CAM_CACHE_MAX:
                    self._sessions.pop(next(iter(self._sessions)))
                self._sessions[key] = found
        if isinstance(found, CamUnsupportedError):
            raise found
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


def _cam(
    cam: CamSession, image: Image.Image, class_index: int | None, method: str
) -> tuple[CamResult, tuple[tuple[int, str, float], ...]]:
    result, probabilities = explain_with_cam(cam, image, class_index, method)
    return result, _top(probabilities, cam.entry.labels)


def explain_job(
    job: Job,
    model: EngineModel,
    sessions: CamSessions,
    provider: str,
    record: ImageRecord,
    method: str,
    class_index: int | None,
) -> Explanation | None:
    """Decode the image and make the map (``method`` auto / cam / contrastive / occlusion); None when cancelled.

    Raises:
        ImageLoadError: the image cannot be read. CamUnsupportedError: ``method`` is a CAM and the file has no
        CAM head. ValueError: no preprocessing / class out of range.
    """
    image = load_image(record.source)
    note = ""
    result: CamResult | None = None
    classes: tuple[tuple[int, str, float], ...] = ()
    ran = ran_text(model)
    if method in ("auto", "cam", "contrastive"):
        try:
            kind = "contrastive" if method == "auto" else method
            session = sessions.get(model, provider)
            result, classes = _cam(session, image, class_index, kind)
            ran = ort_ran_text(session.providers)
        except CamUnsupportedError as exc:
            if method != "auto":
                raise CamUnsupportedError(f"{exc}; choose Occlusion (works for any model)") from exc
            note = str(exc)
    if result is None:
        entry = model.entry
        if entry.preprocess is None:
            raise ValueError(f"{entry.path.name}: model has no preprocessing")
        classes = _top(_softmax(model.run(preprocess_image(image, entry.preprocess)[None])[0]), entry.labels)
        try:
            result = occlusion_map(
                model,
                image,
                classes[0][0] if class_index is None else class_index,
                progress=lambda done, total: job.report((done, total)),
                cancelled=lambda: job.cancelled,
            )
        except OcclusionCancelledError:
            return None
    display = shrunk(image, PREVIEW_SIDE)
    p = model.entry.preprocess
    assert p is not None and result.grid is not None  # both set above
    display_map = map_to_image(result.grid, p, display.size)
    return Explanation(
        record.key, record.title, model.entry.path, classes, result, note, image, display, display_map, ran
    )


def method_text(explanation: Explanation) -> str:
    """The panel's line on how the map was made (and why CAM did not apply)."""
    if explanation.method == "cam":
        return CAM_TEXT
    if explanation.method == "contrastive":
        return CONTRASTIVE_TEXT
    note = f"\nCAM does not apply: {explanation.note}" if explanation.note else ""
    return OCCLUSION_TEXT + note


class ExplainController(ImageFollower):
    """Owns the map runs, the CAM sessions and the saving; the panel only displays."""

    mapShown = Signal(object)  # Explanation
    failed = Signal(str)
    cancelled = Signal()
    saved = Signal(str)  # the written path

    def __init__(
        self,
        panel: ExplainPanel,
        runner: TaskRunner,
        cache: SessionCache,
        *,
        provider: Callable[[], str],
        notify: Callable[[str, int], None],
        current_model: Callable[[], EngineModel | None],
        current_image: Callable[[], ImageRecord | None],
        show_panel: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(panel, current_image, show_panel, parent)
        self.panel, self.runner, self.cache = panel, runner, cache
        self.provider, self.notify, self.current_model = provider, notify, current_model
        self.sessions = CamSessions()
        self.action = QAction("Explain Prediction", self, shortcut=QKeySequence("Ctrl+Shift+E"))
        self.action.setToolTip("Where in the selected image the model sees each top-5 class (Ctrl+Shift+E)")
        self.action.triggered.connect(self.trigger)
        self.explanation: Explanation | None = None
        panel.explainRequested.connect(self.explain)
        panel.classRequested.connect(self.explain_class)
        panel.methodChanged.connect(lambda _m: self._rerun())
        panel.opacityChanged.connect(lambda _o: self._draw())
        panel.saveRequested.connect(self.save_overlay)
        panel.cancelRequested.connect(self.cancel)
        self._show_image()

    # ---- inputs -------------------------------------------------------------------------------------------------
    def model_changed(self, model: EngineModel | None) -> None:
        """Another model was loaded (or none): the map on show is stale; a new one is made when maps are wanted."""
        del model  # read through current_model() when the job starts
        self._stop()
        self.explanation = None
        self.panel.clear(EMPTY)
        self._rerun()

    # ---- running ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        self.explain()

    def explain(self) -> None:
        """Make the map of the current image's top-1 class (a run still going is dropped)."""
        self._start(None)

    def explain_class(self, index: int) -> None:
        """Make the map of class ``index`` for the current image."""
        self._start(index)

    def _start(self, class_index: int | None) -> None:
        model, record = self.current_model(), self.current_image()
        self._stop()
        self._stale = False
        if model is None or record is None:
            self.explanation = None
            self.panel.clear(NO_MODEL if model is None else NO_IMAGE)
            return
        self._active = True
        self._generation += 1
        generation, provider, method = self._generation, self.provider(), self.panel.method_choice()
        self.panel.set_running(True, cancellable=method not in ("cam", "contrastive"))
        self.panel.set_progress(0, 0, "Making the map…")
        self.panel.set_message(f"Explaining {record.title} with {model.entry.name}…")
        self._job = self.runner.submit(
            lambda job: explain_job(job, model, self.sessions, provider, record, method, class_index),
            on_result=lambda explanation: self._on_result(generation, explanation),
            on_error=lambda message: self._on_error(generation, record.title, message),
            on_progress=lambda step: self._on_progress(generation, *step),
            generation=generation,
            name="explain",
        )

    def cancel(self) -> None:
        """Stop the map being made; the previous map (if any) stays."""
        if self._job is None:
            return
        self._stop()
        self._active = False
        self.panel.set_running(False)
        self.panel.set_message("Explanation cancelled.")
        self.notify("Explanation cancelled", 5000)
        self.cancelled.emit()

    def _on_progress(self, generation: int, done: int, total: int) -> None:
        if generation == self._generation:
            self.panel.set_running(True, cancellable=True)
            self.panel.set_progress(done, total, f"Occlusion: {done} of {total} covered copies")

    def _on_result(self, generation: int, explanation: Explanation | None) -> None:
        if generation != self._generation or explanation is None:
            return
        self._job = None
        self.explanation = explanation
        self.panel.set_running(False)
        self.panel.set_classes(explanation.classes, explanation.result.class_index)
        self.panel.set_method_text(method_text(explanation))
        result = explanation.result
        cam_ran = result.method != "occlusion"
        self.panel.set_message(
            f"{result.label}: {100 * result.probability:.1f}% · map by {METHOD_NAMES.get(result.method, result.method)}"
            f" for {explanation.title}"
            f" · ran on {explanation.ran}" + (engine_note(self.current_model()) if cam_ran else "")
        )
        self._draw()
        self.mapShown.emit(explanation)

    def _on_error(self, generation: int, title: str, message: str) -> None:
        if generation != self._generation:
            return
        self._job = None
        self.explanation = None
        text = message if title in message else f"Cannot explain {title}: {message}"
        self.panel.clear(text)
        self.notify(text, 10000)
        self.failed.emit(text)

    def _draw(self) -> None:
        explanation = self.explanation
        if explanation is None:
            return
        overlay = render_overlay(explanation.display, explanation.display_map, opacity=self.panel.opacity_value())
        self.panel.show_overlay(to_qimage(overlay))

    # ---- saving -------------------------------------------------------------------------------------------------
    def suggested_name(self) -> str:
        explanation = self.explanation
        if explanation is None:
            return "overlay.png"
        stem = Path(explanation.title).stem or "image"
        label = "".join(c if c.isalnum() else "-" for c in explanation.result.label).strip("-") or "class"
        return f"{stem}-{label}-{explanation.method}.png"

    def save_overlay(self, path: str | Path | None = None) -> None:
        """Write the full-size overlay as PNG (atomically, in a job); asks where when ``path`` is None."""
        explanation = self.explanation
        if explanation is None:
            self.notify("No map to save yet: press Explain first.", 5000)
            return
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self.panel, "Save overlay", self.suggested_name(), "PNG images (*.png)"
            )
            if not chosen:
                return
            path = chosen
        target = Path(path) if Path(path).suffix.lower() == ".png" else Path(f"{path}.png")
        opacity = self.panel.opacity_value()
        self.runner.submit(
            lambda job: write_overlay(target, explanation.image, explanation.result.map, opacity=opacity),
            on_result=lambda written: self._on_saved(Path(written)),
            on_error=lambda message: self._on_save_failed(target, message),
            name="save overlay",
        )

    def _on_saved(self, path: Path) -> None:
        self.notify(f"Saved the overlay to {path}", 8000)
        self.saved.emit(str(path))

    def _on_save_failed(self, path: Path, message: str) -> None:
        text = f"Cannot save {path.name}: {message}"
        self.notify(text, 10000)
        self.failed.emit(text)

    def shutdown(self, msecs: int = 30000) -> bool:
        """Stop a run and wait for the runner's jobs (so no signal reaches a closed window)."""
        self._stop()
        return self.runner.wait(msecs)
