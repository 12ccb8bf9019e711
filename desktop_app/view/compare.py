"""Drives the "Compare" tab: the ticked models on the current image, side by side, in a background job.

The controller is given the panel, the window's job runner and session cache, and callables for the
window's Engine choice, the status bar, the current image and bringing the tab forward; it never sees the
window. It owns the "Compare Models" action (Ctrl+Shift+C). A run is one
:class:`~desktop_app.view.workers.TaskRunner` job: decode the image (a path or pasted bytes), load each
ticked model through the cache for the Engine choice (ONNX Runtime, CUDA or OpenVINO, with the remembered
preprocessing overrides: :func:`~desktop_app.view.backend.load`; a model that does not load on it becomes a
column with its error, the others still run), then :func:`~desktop_app.core.compare_image.compare_on_image`,
so each column's latency is measured on the engine that ran it. Every run has a generation:
Cancel, a new image or a new run bump it, so what a stale job still sends is dropped.

Example::

    python -m desktop_app   # drop a photo, open the Compare tab, tick two models and press Compare
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.compare_image import ComparisonCancelled, ImageComparison, ModelFailure, compare_on_image
from desktop_app.core.providers import ModelLoadError
from desktop_app.core.runtime import EngineModel, SessionCache
from desktop_app.view import backend
from desktop_app.view.compare_panel import EMPTY, ComparePanel
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.workers import Job, TaskRunner, describe_error
from workbench.imageio import load_image

RUNS = 5  # timed runs per model (after one warm-up)
NO_IMAGE = "Select an image in the list (or drop photos on the window), then press Compare."
NO_MODELS = "No usable model in the models folder: add two or more .onnx files to compare them."


def compare_job(
    job: Job, entries: Sequence[ModelEntry], cache: SessionCache, choice: str, source: str | bytes, runs: int = RUNS
) -> ImageComparison | None:
    """Decode ``source``, load ``entries`` for the Engine ``choice`` (a key of
    :data:`~desktop_app.view.backend.ENGINE_CHOICES`; reporting ``(done, total, text)``), compare them; None
    when cancelled.

    Raises:
        ImageLoadError: the image cannot be read (the message names it).
        ValueError: an unknown engine choice.
    """
    total, engine = 2 * len(entries), backend.ENGINE_CHOICES.get(choice, (choice,))[0]
    image = load_image(source)
    models: list[EngineModel | ModelFailure] = []
    for index, entry in enumerate(entries):
        if job.cancelled:
            return None
        job.report((index, total, f"Loading {entry.name} for {engine} ({index + 1} of {len(entries)})…"))
        try:
            models.append(backend.load(cache, entry, choice).model)
        except ModelLoadError as exc:  # OpenVINO's load errors and a refused bf16 too
            models.append(ModelFailure(entry.name, entry.path, describe_error(exc)))

    def ran(done: int, count: int) -> None:
        job.report((len(entries) + done, total, f"Ran {done} of {count} models"))

    job.report((len(entries), total, f"Running {len(entries)} models, {runs} timed runs each…"))
    try:
        return compare_on_image(models, image, runs=runs, should_stop=lambda: job.cancelled, progress=ran)
    except ComparisonCancelled:
        return None


def comparison_message(comparison: ImageComparison) -> str:
    """What the columns do not say: which models differ, label-set notes, how latency was measured."""
    lines = list(comparison.notes)
    ran = [c for c in comparison.columns if c.ok]
    if len(comparison.columns) == 1:
        lines.insert(0, "Tick another model to compare it with this one.")
    elif len(ran) > 1:
        differing = comparison.differing
        lines.insert(
            0,
            f"top-1 differs from the reference: {', '.join(differing)}"
            if differing
            else "every model that ran agrees with the reference on the top-1",
        )
    return "\n".join(lines)


class CompareController(QObject):
    """Owns the comparison runs; the panel only displays them."""

    finished = Signal(object)  # ImageComparison
    failed = Signal(str)  # one line: why nothing could be compared
    cancelled = Signal()

    def __init__(
        self,
        panel: ComparePanel,
        runner: TaskRunner,
        cache: SessionCache,
        *,
        engine_choice: Callable[[], str],
        notify: Callable[[str, int], None],
        current_image: Callable[[], ImageRecord | None],
        show_panel: Callable[[], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.runner, self.cache = panel, runner, cache
        self.engine_choice, self.notify, self.current_image = engine_choice, notify, current_image
        self.show_panel = show_panel
        self.action = QAction("Compare Models", self, shortcut=QKeySequence("Ctrl+Shift+C"))
        self.action.setToolTip("The ticked models' top-5 on the selected image, side by side (Ctrl+Shift+C)")
        self.action.triggered.connect(self.trigger)
        self.entries: list[ModelEntry] = []
        self.comparison: ImageComparison | None = None
        self._job: Job | None = None
        self._generation = 0
        self._compared: tuple[int, str | bytes] | None = None  # (record key, source) of the shown or running run
        panel.compareRequested.connect(self.compare)
        panel.cancelRequested.connect(self.cancel)
        self._show_image()
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self._job is not None

    # ---- models and image ---------------------------------------------------------------------------------------
    def set_models(self, entries: Sequence[ModelEntry], current: ModelEntry | None) -> None:
        """List the usable ``entries``; ticks are kept by file, else the ``current`` model and the other files of
        its architecture (its fp32 / int8 / fp16 versions) are ticked."""
        kept = set(self.panel.checked_keys()) if self.panel.models.count() else set()
        self.entries = [e for e in entries if e.usable]
        if not kept & {str(e.path) for e in self.entries} and current is not None:
            arch = current.architecture
            kept = {str(current.path)} | {str(e.path) for e in self.entries if arch and e.architecture == arch}
        self.panel.set_models([(e.name, str(e.path), str(e.path) in kept, str(e.path)) for e in self.entries])
        if not self.entries and not self.panel.has_results:
            self.panel.clear_results(NO_MODELS)
        self._update_buttons()

    def image_changed(self) -> None:
        """The selected image changed: re-run for it when results are showing (or a run is going)."""
        self._show_image()
        record = self.current_image()
        if not (self.panel.has_results or self.running):
            return
        if record is None:
            self._stop()
            self.panel.clear_results(NO_IMAGE)
            self._update_buttons()
        elif (record.key, record.source) != self._compared and self.panel.checked_keys():
            self.compare()

    def _show_image(self) -> None:
        record = self.current_image()
        self.panel.set_image_text(f"Image: {record.title}" if record is not None else "Image: none selected")

    def trigger(self) -> None:
        """The action: bring the tab forward and compare when models are ticked and an image is selected."""
        self.show_panel()
        if self.panel.checked_keys() and self.current_image() is not None and not self.running:
            self.compare()
        elif not self.panel.has_results:
            self.panel.clear_results(EMPTY if self.current_image() is not None else NO_IMAGE)

    def _update_buttons(self) -> None:
        self.panel.set_running(self.running, can_start=bool(self.entries))

    # ---- running ------------------------------------------------------------------------------------------------
    def compare(self) -> None:
        """Run the ticked models on the current image (a run still going is dropped)."""
        keys = set(self.panel.checked_keys())
        chosen = [e for e in self.entries if str(e.path) in keys]
        record = self.current_image()
        if not chosen:
            self.panel.set_message("Tick at least one model (two or more to compare them).")
            return
        if record is None:
            self.panel.set_message(NO_IMAGE)
            return
        self._stop()
        self._generation += 1
        generation, choice, source = self._generation, self.engine_choice(), record.source
        self._compared = (record.key, source)
        self.panel.set_message("")
        self.panel.clear_results(f"Comparing {len(chosen)} model{'s' if len(chosen) > 1 else ''} on {record.title}…")
        self._job = self.runner.submit(
            lambda job: compare_job(job, chosen, self.cache, choice, source),
            on_result=lambda comparison: self._on_result(generation, comparison),
            on_error=lambda message: self._on_error(generation, record.title, message),
            on_progress=lambda step: self._on_progress(generation, *step),
            generation=generation,
            name="compare models",
        )
        self._update_buttons()

    def cancel(self) -> None:
        """Stop the run; nothing of it is shown."""
        if self._job is None:
            return
        self._stop()
        self._compared = None
        self._update_buttons()
        self.panel.set_message("Comparison cancelled.")
        self.notify("Comparison cancelled", 5000)
        self.cancelled.emit()

    def _stop(self) -> None:
        self._generation += 1
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def _on_progress(self, generation: int, done: int, total: int, text: str) -> None:
        if generation == self._generation:
            self.panel.set_progress(done, total, text)

    def _on_result(self, generation: int, comparison: ImageComparison | None) -> None:
        if generation != self._generation or comparison is None:
            return
        self._job = None
        self.comparison = comparison
        self._update_buttons()
        self.panel.show_comparison(comparison)
        self.panel.set_message(comparison_message(comparison))
        self.finished.emit(comparison)

    def _on_error(self, generation: int, title: str, message: str) -> None:
        if generation != self._generation:
            return
        self._job = None
        self._compared = None
        self._update_buttons()
        text = message if title in message else f"Cannot compare on {title}: {message}"
        self.panel.clear_results(text)
        self.panel.set_message(text)
        self.notify(text, 10000)
        self.failed.emit(text)

    def shutdown(self, msecs: int = 30000) -> bool:
        """Stop a run and wait for the runner's jobs (so no signal reaches a closed window)."""
        self._stop()
        return self.runner.wait(msecs)
