"""Drives the "Timing" tab: runs the profiler in a worker (with progress and Cancel) and aggregates/exports its report.

The controller owns the Profile action (menu, toolbar, :data:`PROFILE_SHORTCUT`: Ctrl+P is Print
everywhere else) and drives the panel it is given; it asks for the current model and image through
callables and never sees the window. A profile runs on the engine the model was loaded on (ONNX
Runtime's profiler, or OpenVINO's performance counters: :mod:`desktop_app.view.profiling_backend`).
Exports are offered as ``<model file>-timing.csv`` (or ``.json``, which also names the image, versions,
CPU and load on ONNX Runtime, and what ran on OpenVINO).

Example::

    python -m desktop_app   # then drop a photo, open the Timing tab and press Profile
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog

from desktop_app.core.runtime import EngineModel
from desktop_app.view import profiling_backend as pb
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.settings import AppSettings
from desktop_app.view.timing_panel import TimingPanel
from desktop_app.view.workers import Job, TaskRunner
from workbench.atomic import write_text_atomic
from workbench.imageio import CLIPBOARD_NAME
from workbench.names import display_path

PROGRESS_INTERVAL_S = 0.1  # a small model runs thousands of times a second: the label needs ~10 updates
PROFILE_SHORTCUT = "Ctrl+Shift+P"


def suggested_name(report: pb.Report, fmt: str) -> str:
    """``resnet18-imagenet-1k-random-fp32-timing.csv``: the model file's stem, safe in any file system."""
    stem = Path(report.model_file).stem if report.model_file else report.model
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "model"
    return f"{safe[:100]}-timing.{fmt}"


def _every(interval_s: float, report: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """``report`` at most once per ``interval_s`` (and always for the last run), called from the worker."""
    last = -interval_s

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done == total or now - last >= interval_s:
            last = now
            report(done, total)

    return progress


class TimingController(QObject):
    """Owns the current profile report; the panel only displays it.

    ``current_model`` and ``current_image`` give what Profile measures (None: no model / a grey input);
    ``show_panel`` brings the Timing tab forward when a profile starts; ``start_folder`` is where the
    export dialog opens.
    """

    profiled = Signal(object)  # the report: core ProfileReport (ONNX Runtime) or pb.OpenVinoReport
    profileFailed = Signal(str)  # one-line reason
    profileCancelled = Signal()

    def __init__(
        self,
        panel: TimingPanel,
        runner: TaskRunner,
        *,
        notify: Callable[[str, int], None],
        current_model: Callable[[], EngineModel | None],
        current_image: Callable[[], ImageRecord | None],
        show_panel: Callable[[], None],
        start_folder: Callable[[], str],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel = panel
        self.runner = runner
        self.notify = notify
        self.current_model = current_model
        self.current_image = current_image
        self.show_panel = show_panel
        self.start_folder = start_folder
        self.report: pb.Report | None = None
        self._subject = ("", "")  # (image title, description) the report was measured on
        self._image_name: str | None = None  # the measured image as the JSON export names it (None: grey input)
        self._generation = 0
        self._job: Job | None = None
        self._busy_text = ""
        self.action = QAction("Profile", self, shortcut=QKeySequence(PROFILE_SHORTCUT))
        self.action.setToolTip("Time every layer of the current model on the current image")
        self.action.triggered.connect(lambda: self.profile(panel.runs.value()))
        panel.profileRequested.connect(self.profile)
        panel.cancelRequested.connect(self.cancel)
        panel.depthChanged.connect(lambda _depth: self._show())
        panel.exportRequested.connect(self.export_dialog)

    def reset(self, text: str = "Profile the current model on the current image.") -> None:
        """Forget the report (model switched): a late profile result is ignored."""
        self._generation += 1
        self._stop_job()
        self.report = None
        self._set_busy(False)
        self.panel.clear(text)

    def cancel(self) -> None:
        """Stop the running profile after its current run; the previous report (if any) stays."""
        if self._job is None:
            return
        self._generation += 1
        self._stop_job()
        self._set_busy(False, "Profiling cancelled.")
        self._show()
        self.notify("Profiling cancelled", 5000)
        self.profileCancelled.emit()

    def _stop_job(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.panel.set_busy(busy, text)
        self.action.setEnabled(not busy)

    def model_changed(self, model: EngineModel) -> None:
        self.reset(f"Press Profile to time each layer of {model.entry.name}.")

    def image_changed(self) -> None:
        """The selected image changed; the report stays (it names its image) until the next Profile."""
        self._show()

    def profile(self, runs: int) -> None:
        model = self.current_model()
        if model is None:
            self.panel.set_summary("Load a model first.")
            return
        self._generation += 1
        generation = self._generation
        image = self.current_image()
        source, title = (image.source, image.title) if image is not None else (None, "")
        what = title or "a synthetic grey input (no image selected)"
        self._busy_text = f"Profiling {model.entry.name} ({pb.engine_text(model)}) on {what}: {runs} runs after warm-up"
        self._set_busy(True, f"{self._busy_text}…")
        self.show_panel()
        self._job = self.runner.submit(
            lambda job: pb.profile(
                model,
                source,
                runs,
                progress=_every(PROGRESS_INTERVAL_S, lambda done, total: job.report((done, total))),
                cancelled=lambda: job.cancelled,
            ),
            on_result=lambda report: self._on_report(generation, report, (title, what), _image_name(image)),
            on_error=lambda message: self._on_failed(generation, message),
            on_progress=lambda done_total: self._on_progress(generation, *done_total),
            generation=generation,
            name="profile",
        )

    def _on_progress(self, generation: int, done: int, total: int) -> None:
        if generation == self._generation:
            self.panel.set_summary(f"{self._busy_text}: run {done} of {total} done…")

    def _on_report(self, generation: int, report: pb.Report, subject: tuple[str, str], image_name: str | None) -> None:
        if generation != self._generation:
            return
        self._job = None
        self.report = report
        self._subject = subject
        self._image_name = image_name
        self._set_busy(False)
        # the user's last grouping, where this model has it; on OpenVINO the provider grouping is the kernel
        self.panel.set_depths(pb.max_depth(report), provider_label=pb.provider_label(report))
        self._show()
        self.profiled.emit(report)

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self._job = None
        self._set_busy(False, f"Profiling failed: {message}")
        self.profileFailed.emit(message)

    def _show(self) -> None:
        if self.report is None:
            return
        table = pb.timing_table(self.report, self.panel.current_depth())
        title, what = self._subject
        image = self.current_image()
        moved = (image.title if image is not None else "") != title
        stale = " — another image is selected now; press Profile to time it" if moved else ""
        self.panel.show_table(replace(table, note=f"measured on {what}{stale} · {table.note}"))

    def export_dialog(self, fmt: str) -> None:
        if self.report is None:
            return
        start = Path(self.start_folder() or Path.home()) / suggested_name(self.report, fmt)
        path, _ = QFileDialog.getSaveFileName(
            self.panel.window(), f"Export timing as {fmt.upper()}", str(start), f"{fmt.upper()} (*.{fmt})"
        )
        if not path:
            return
        try:
            self.export(path, fmt)
        except OSError as exc:  # reported in the status bar by export(); keep the GUI running
            self.panel.set_summary(f"Export failed: {exc.strerror or exc}")

    def export(self, path: str | os.PathLike[str], fmt: str) -> Path:
        """Write the table at the current depth as ``fmt`` ("csv" | "json"), atomically.

        ValueError when there is no report yet (the export buttons are disabled until there is one).
        """
        if self.report is None:
            raise ValueError(f"{Path(path)}: nothing to export yet; press Profile first")
        text = pb.export_text(self.report, self.panel.current_depth(), fmt, self._image_name)
        target = Path(path)
        try:
            write_text_atomic(target, text)
        except OSError as exc:
            self.notify(f"Could not write {target}: {exc.strerror or exc}", 15000)
            raise
        self.notify(f"Wrote {target}", 8000)
        return target


def _image_name(image: ImageRecord | None) -> str | None:
    """The image a profile measured, as its export names it: the file, ``<clipboard>`` for pasted data."""
    if image is None:
        return None
    return display_path(image.source) if isinstance(image.source, str) else CLIPBOARD_NAME


def restore_timing(panel: TimingPanel, settings: AppSettings) -> None:
    """The run count and grouping the user chose last time."""
    panel.runs.setValue(settings.profile_runs)
    panel.wanted_grouping = settings.timing_grouping
    panel.set_depths(1)


def remember_timing(panel: TimingPanel, settings: AppSettings) -> None:
    settings.profile_runs = panel.runs.value()
    settings.timing_grouping = panel.wanted_grouping
