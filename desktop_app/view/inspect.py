"""Drives the "Inspect" tab: every layer of the loaded model on the current image, and the precision A/B.

The controller is given the panel, the window's job runner and session cache, and callables for the
provider, the status bar, the loaded model, the current image and bringing the tab forward; it never
sees the window. It owns the "Inspect Layers" action (Ctrl+Shift+I). A run is one
:class:`~desktop_app.view.workers.TaskRunner` job: decode the image, run it through an in-memory copy of
the file that outputs every layer (:mod:`desktop_app.core.inspect_layers`; that copy is opened once per
file and provider and kept), and, with a second file chosen under "Compare with", the same for it and the
per-layer SQNR (:func:`~desktop_app.core.inspect_layers.compare_layers`; a file of another architecture
is refused with the reason). Once the user inspected, a new image, model or comparison file is inspected
too (when the tab is on show; else when it is brought forward). Every run has a generation: a new image,
model, comparison file or run bumps it, so a stale table is never shown. Choosing a layer draws its first
64 feature maps (from the values kept in memory: no job); changing the threshold re-marks the chart and
the table. "Export CSV…" writes the table atomically in a job.

Example::

    python -m desktop_app   # drop a photo, choose the fp32 model, Ctrl+Shift+I, pick its int8 file to compare
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.inspect_layers import (
    InspectError,
    LayerComparison,
    LayerRun,
    LayerSession,
    check_comparable,
    compare_layers,
    feature_maps,
    first_below,
    inspect_layers,
    open_layer_session,
    write_csv,
)
from desktop_app.core.runtime import EngineModel, SessionCache
from desktop_app.view.image_follower import ImageFollower, engine_note, ort_ran_text
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.inspect_panel import EMPTY, InspectPanel, montage
from desktop_app.view.sqnr_chart import db_text
from desktop_app.view.workers import Job, TaskRunner
from workbench.imageio import load_image

NO_IMAGE = "Select an image in the list (or drop a photo on the window), then press Inspect."
NO_MODEL = "Choose a model first: the table shows that model's layers."
NO_COMPARISON = "(no comparison)"
_SESSIONS_MAX = 4


@dataclass(frozen=True)
class Inspection:
    """What the tab shows: one model's layers on one image, and the comparison with a second file if chosen."""

    key: int
    title: str
    run: LayerRun
    comparison: LayerComparison | None
    ran: str = ""  # what ran the layer copy, e.g. "ONNX Runtime CPU"


class LayerSessions:
    """Open :class:`LayerSession` objects per (file, version, provider) (thread-safe, a few kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, int, int, str], LayerSession] = {}

    def get(self, entry: ModelEntry, provider: str) -> LayerSession:
        """The cached session for ``entry`` (opened on first use).

        Raises:
            InspectError: the file cannot be read or opened.
        """
        try:
            stat = entry.path.stat()
        except OSError as exc:
            raise InspectError(f"{entry.path.name}: cannot read file ({exc.strerror or exc})") from exc
        key = (str(entry.path.resolve()), stat.st_mtime_ns, stat.st_size, provider)
        with self._lock:
            found = self._sessions.get(key)
        if found is None:
            found = open_layer_session(entry, provider)
            with self._lock:
                while len(self._sessions) >= _SESSIONS_MAX:
                    self._sessions.pop(next(iter(self._sessions)))
                self._sessions[key] = found
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)


def inspect_job(
    job: Job, sessions: LayerSessions, entry: ModelEntry, other: ModelEntry | None, provider: str, record: ImageRecord
) -> Inspection | None:
    """Decode the image, run every layer of ``entry`` (and ``other``), compare; None when cancelled.

    Raises:
        ImageLoadError: the image cannot be read. InspectError: a file cannot be inspected, or ``other`` is
        not comparable with ``entry`` (the message says why).
    """
    if other is not None:
        check_comparable(entry, other)
    image = load_image(record.source)
    session = sessions.get(entry, provider)
    run = inspect_layers(session, image)
    if job.cancelled:
        return None
    comparison = None
    if other is not None:
        theirs = inspect_layers(sessions.get(other, provider), image)
        comparison = compare_layers(run, theirs)
    return Inspection(record.key, record.title, run, comparison, ort_ran_text(session.providers))


def ab_text(comparison: LayerComparison, threshold: float) -> str:
    """The line above the chart: what is compared, and the first layer below the threshold."""
    head = f"SQNR of {comparison.other.path.name} against {comparison.reference.path.name}, per layer: "
    first = first_below(comparison, threshold)
    if first is not None:
        text = head + f"first below {threshold:g} dB: {first.module} ({db_text(first.sqnr_db)} dB)"
    else:
        lowest = min(comparison.rows, key=lambda r: r.sqnr_db)
        text = (
            head + f"every layer at or above {threshold:g} dB (lowest: {lowest.module}, {db_text(lowest.sqnr_db)} dB)"
        )
    if comparison.unmatched:
        text += (
            f"\n{len(comparison.unmatched)} layers have no counterpart in the second file (e.g. a convolution "
            "whose activation the quantizer folded into it): no SQNR for them"
        )
    return text


class InspectController(ImageFollower):
    """Owns the inspection runs, the layer sessions and the CSV export; the panel only displays."""

    inspected = Signal(object)  # Inspection
    failed = Signal(str)
    exported = Signal(str)  # the written path

    def __init__(
        self,
        panel: InspectPanel,
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
        self.sessions = LayerSessions()
        self.action = QAction("Inspect Layers", self, shortcut=QKeySequence("Ctrl+Shift+I"))
        self.action.setToolTip("Every layer of the model on the selected image; per-layer SQNR against a second file")
        self.action.triggered.connect(self.trigger)
        self.entries: list[ModelEntry] = []
        self.inspection: Inspection | None = None
        panel.inspectRequested.connect(self.inspect)
        panel.compareChanged.connect(self._rerun)
        panel.thresholdChanged.connect(lambda _t: self._show_comparison())
        panel.layerSelected.connect(self.show_layer)
        panel.exportRequested.connect(self.export_csv)
        self._show_image()
        self._fill_choices()

    # ---- inputs -------------------------------------------------------------------------------------------------
    def set_models(self, entries: Sequence[ModelEntry]) -> None:
        """The models folder's files, offered under "Compare with" (the loaded model's architecture first)."""
        self.entries = [e for e in entries if e.usable]
        self._fill_choices()

    def _fill_choices(self) -> None:
        model = self.current_model()
        current = model.entry if model is not None else None
        others = [e for e in self.entries if current is None or e.path != current.path]
        arch = current.architecture if current is not None else None
        others.sort(key=lambda e: (0 if arch and e.architecture == arch else 1, e.name))
        self.panel.set_compare_choices([(NO_COMPARISON, "")] + [(e.name, str(e.path)) for e in others])

    def model_changed(self, model: EngineModel | None) -> None:
        """Another model was loaded (or none): the table is stale; a new one is made when inspections are wanted."""
        del model  # read through current_model() when the job starts
        self._stop()
        self.inspection = None
        self._fill_choices()
        self.panel.clear(EMPTY)
        self._rerun()

    def _compare_entry(self) -> ModelEntry | None:
        key = self.panel.compare_key()
        return next((e for e in self.entries if str(e.path) == key), None) if key else None

    # ---- running ------------------------------------------------------------------------------------------------
    def _run(self) -> None:
        self.inspect()

    def inspect(self) -> None:
        """Inspect the current image with the loaded model (and the comparison file); a run going is dropped."""
        model, record = self.current_model(), self.current_image()
        self._stop()
        self._stale = False
        if model is None or record is None:
            self.inspection = None
            self.panel.clear(NO_MODEL if model is None else NO_IMAGE)
            return
        self._active = True
        self._generation += 1
        generation, provider, entry, other = self._generation, self.provider(), model.entry, self._compare_entry()
        self.panel.set_running(True)
        against = f" against {other.name}" if other is not None else ""
        self.panel.set_message(f"Running every layer of {entry.name}{against} on {record.title}…")
        self._job = self.runner.submit(
            lambda job: inspect_job(job, self.sessions, entry, other, provider, record),
            on_result=lambda inspection: self._on_result(generation, inspection),
            on_error=lambda message: self._on_error(generation, record.title, message),
            generation=generation,
            name="inspect layers",
        )

    def _on_result(self, generation: int, inspection: Inspection | None) -> None:
        if generation != self._generation or inspection is None:
            return
        self._job = None
        self.inspection = inspection
        self.panel.set_running(False)
        comparison = inspection.comparison
        sqnr = {r.module: r.sqnr_db for r in comparison.rows} if comparison is not None else None
        self.panel.show_rows(inspection.run.rows, sqnr)
        self._show_comparison()
        entry = inspection.run.entry
        self.panel.set_message(
            f"{len(inspection.run.rows)} layers of {entry.path.name} on {inspection.title} · ran on {inspection.ran}"
            + engine_note(self.current_model())
        )
        rows = inspection.run.rows
        if rows:
            self.panel.select_layer(next((r.module for r in rows if len(r.shape) == 4), rows[0].module))
        self.inspected.emit(inspection)

    def _on_error(self, generation: int, title: str, message: str) -> None:
        if generation != self._generation:
            return
        self._job = None
        self.inspection = None
        text = message if title in message or "cannot compare" in message else f"Cannot inspect {title}: {message}"
        self.panel.clear(text)
        self.notify(text, 10000)
        self.failed.emit(text)

    def _show_comparison(self) -> None:
        inspection = self.inspection
        threshold = self.panel.threshold_value()
        if inspection is None or inspection.comparison is None:
            self.panel.show_chart([], threshold, "Choose a second file under Compare with for the per-layer SQNR.")
            return
        comparison = inspection.comparison
        self.panel.show_chart(
            [(r.module, r.sqnr_db) for r in comparison.rows], threshold, ab_text(comparison, threshold)
        )
        self.panel.mark_below(threshold)

    def show_layer(self, module: str) -> None:
        """Draw the first 64 feature maps of ``module`` (or say why there are none)."""
        inspection = self.inspection
        if inspection is None or module not in inspection.run.values:
            return
        row = inspection.run.row(module)
        try:
            maps = feature_maps(inspection.run.values[module])
        except InspectError as exc:
            self.panel.show_maps(None, f"{module}: {exc}")
            return
        shape = " x ".join(map(str, row.shape))
        self.panel.show_maps(montage(maps.maps), f"{module} ({row.op_type}, {shape}, {row.source}): {maps.note}")

    # ---- export -------------------------------------------------------------------------------------------------
    def export_csv(self, path: str | Path | None = None) -> None:
        """Write the layer table (with SQNR when compared) as CSV, atomically in a job; asks where when None."""
        inspection = self.inspection
        if inspection is None:
            self.notify("No layer table to export yet: press Inspect first.", 5000)
            return
        if path is None:
            suggested = f"{inspection.run.entry.path.stem}-layers.csv"
            chosen, _ = QFileDialog.getSaveFileName(self.panel, "Export layer table", suggested, "CSV files (*.csv)")
            if not chosen:
                return
            path = chosen
        target = Path(path) if Path(path).suffix else Path(f"{path}.csv")
        self.runner.submit(
            lambda job: write_csv(target, inspection.run.rows, inspection.comparison),
            on_result=lambda written: self._on_exported(Path(written)),
            on_error=lambda message: self._on_export_failed(target, message),
            name="export layers",
        )

    def _on_exported(self, path: Path) -> None:
        self.notify(f"Exported the layer table to {path}", 8000)
        self.exported.emit(str(path))

    def _on_export_failed(self, path: Path, message: str) -> None:
        text = f"Cannot export {path.name}: {message}"
        self.notify(text, 10000)
        self.failed.emit(text)

    def shutdown(self, msecs: int = 30000) -> bool:
        """Stop a run and wait for the runner's jobs (so no signal reaches a closed window)."""
        self._stop()
        return self.runner.wait(msecs)
