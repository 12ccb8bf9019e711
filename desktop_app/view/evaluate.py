"""Drives the "Evaluate" tab: reads a labelled folder, evaluates the ticked models in a worker, shows the results.

The controller is given the panel, the window's job runner and session cache, and callables for the window's
Engine choice (each model runs on it: ONNX Runtime, CUDA or OpenVINO), the status bar, bringing the tab
forward and the folder dialogs start in; it never sees the window. It owns the "Evaluate on Labelled
Images…" action (Model menu, toolbar, Ctrl+E). Reading the labelled folder (again when another split is
chosen), reading a mapping file and writing the report are :class:`~desktop_app.view.workers.TaskRunner`
jobs; the evaluation is an :class:`~desktop_app.view.evaluate_worker.EvaluateWorker` on a one-thread pool of
its own (so classifying dropped photos goes on meanwhile). Every run has a generation: Cancel bumps it, so
what a stopped worker still sends is dropped and nothing of a cancelled run is ever shown.

Example::

    python -m desktop_app   # then open the Evaluate tab, choose a folder of class folders and press Evaluate
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.evaluate import Comparison, ModelEvaluation
from desktop_app.core.labelled import LabelledSet, read_labelled, read_mapping
from desktop_app.core.runtime import SessionCache, ran_text
from desktop_app.view.evaluate_panel import NO_DATA, TOP_K_COLUMN, EvaluatePanel
from desktop_app.view.evaluate_worker import DATA_ERROR, MODEL_ERROR, EvaluateWorker, thumbnails
from desktop_app.view.workers import Job, TaskRunner
from workbench.imagefolder import SPLITS
from workbench.names import display_path

CELL_IMAGES_LISTED = 500
CONFUSED_PAIRS = 15
THUMBNAILS = 100  # the first images of a clicked cell get a thumbnail


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def top_k_accuracy(evaluation: ModelEvaluation, k: int) -> float | None:
    """The share of the scored images whose true class is among the model's ``k`` best answers (from the true
    class's rank in the whole output); None when the model has fewer than ``k`` labels or nothing was scored."""
    known = evaluation.true >= 0
    if k > len(evaluation.labels) or not known.any():
        return None
    ranks = evaluation.true_rank[known]
    return float(((ranks >= 1) & (ranks <= k)).mean())


def accuracy_row(evaluation: ModelEvaluation, k: int = 5) -> tuple[str, ...]:
    """The accuracy table's cells for one model (see :data:`~desktop_app.view.evaluate_panel.COLUMNS`; the
    Top-k column for ``k``)."""
    ips, latency = evaluation.images_per_second, evaluation.latency_ms
    return (
        evaluation.name,
        ran_text(evaluation.model),  # "OpenVINO CPU, bf16": what ran, not only what was asked for
        f"{evaluation.metrics.images:,}",
        f"{len(evaluation.failures):,}",
        _percent(evaluation.metrics.top1),
        _percent(top_k_accuracy(evaluation, k)),
        "—" if ips is None else f"{ips:.1f}",
        "—" if latency is None else f"{latency:.2f}",
    )


def data_summary(labelled: LabelledSet) -> str:
    split = f", split {labelled.split}" if labelled.split else ""
    warnings = len(labelled.problems)
    return (
        f"{display_path(labelled.root)} · {labelled.layout}{split} · {len(labelled.items):,} images · "
        f"{len(labelled.classes)} classes · {warnings} warning{'s' if warnings != 1 else ''}"
    )


def result_notes(
    evaluations: Sequence[ModelEvaluation], comparison: Comparison | None, loading: Sequence[str] = ()
) -> list[str]:
    """What the table does not say: ``loading`` notes (engine fallbacks, overrides unused), failed images, classes
    the models lack, and how far the models agree."""
    notes = list(loading)
    for evaluation in evaluations:
        if evaluation.failures:
            _item, reason = evaluation.failures[0]
            notes.append(f"{evaluation.name}: {len(evaluation.failures):,} images failed, e.g. {reason}")
    unknown = {(e.match.unknown, e.metrics.unknown_images) for e in evaluations if e.match.unknown}
    for classes, images in sorted(unknown):
        lacking = [e.name for e in evaluations if (e.match.unknown, e.metrics.unknown_images) == (classes, images)]
        who = "the models do" if len(lacking) == len(evaluations) > 1 else f"{', '.join(lacking)} does"
        notes.append(f"{images:,} images of classes {who} not know ({', '.join(classes)}) are not scored")
    if comparison is not None and len(comparison.names) > 1:
        agree = ", ".join(f"{100 * float(v):.1f}%" for v in comparison.agreement[0, 1:])
        versus = "the other model" if len(comparison.names) == 2 else "each of the other models"
        notes.append(
            f"top-1 agreement of the first model with {versus}: {agree} · "
            f"{len(comparison.disagree):,} images where the models disagree"
        )
        if comparison.note:
            notes.append(comparison.note)
    return notes


class EvaluateController(QObject):
    """Owns the labelled set and the evaluations; the panel only displays them."""

    labelledRead = Signal(object)  # LabelledSet
    labelledFailed = Signal(str)  # one line naming the folder
    progressed = Signal(int, int, int, int)  # done, total, model index, models
    evaluated = Signal(object)  # list[ModelEvaluation]
    evaluationFailed = Signal(str)
    evaluationCancelled = Signal()
    reportWritten = Signal(object)  # tuple[Path, ...]
    reportFailed = Signal(str)
    mappingRead = Signal(object)  # dict[str, str]
    mappingFailed = Signal(str)

    def __init__(
        self,
        panel: EvaluatePanel,
        runner: TaskRunner,
        cache: SessionCache,
        *,
        engine_choice: Callable[[], str],
        notify: Callable[[str, int], None],
        show_panel: Callable[[], None],
        start_folder: Callable[[], str],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.panel, self.runner, self.cache = panel, runner, cache
        self.engine_choice, self.notify, self.start_folder = engine_choice, notify, start_folder
        self.action = QAction("Evaluate on Labelled Images…", self, shortcut=QKeySequence("Ctrl+E"))
        self.action.setToolTip("Accuracy of models on a folder of images sorted into class folders")
        self.action.triggered.connect(show_panel)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self.entries: list[ModelEntry] = []
        self.labelled: LabelledSet | None = None
        self.evaluations: list[ModelEvaluation] = []
        self.comparison: Comparison | None = None
        self._worker: EvaluateWorker | None = None
        self._workers: set[EvaluateWorker] = set()  # kept alive until their signals are delivered
        self._generation = 0
        self._started = 0.0
        self._shown: ModelEvaluation | None = None
        self._read_generation = 0
        self._thumbs: Job | None = None
        self._thumb_generation = 0
        self._path = ""
        self.mapping: dict[str, str] | None = None
        panel.chooseRequested.connect(self.choose_dialog)
        panel.splitChosen.connect(lambda split: self.open_labelled(self._path, split=split or None))
        panel.mappingRequested.connect(self.mapping_dialog)
        panel.mappingCleared.connect(self.clear_mapping)
        panel.topKChanged.connect(self._on_top_k)
        panel.folderDropped.connect(self.open_labelled)
        panel.evaluateRequested.connect(self.evaluate)
        panel.cancelRequested.connect(self.cancel)
        panel.exportRequested.connect(self.export_dialog)
        panel.modelSelected.connect(self.show_model)
        panel.heatmap.cellClicked.connect(self.show_cell)
        panel.pairClicked.connect(self.show_pair)

    @property
    def running(self) -> bool:
        return self._worker is not None

    # ---- models and data ----------------------------------------------------------------------------------------
    def set_models(self, entries: Sequence[ModelEntry], current: ModelEntry | None) -> None:
        """List the usable ``entries``; ticks are kept by file, else the ``current`` model is ticked."""
        kept = set(self.panel.checked_keys()) if self.panel.models.count() else set()
        self.entries = [e for e in entries if e.usable]
        if not kept & {str(e.path) for e in self.entries} and current is not None:
            kept = {str(current.path)}
        self.panel.set_models([(e.name, str(e.path), str(e.path) in kept, str(e.path)) for e in self.entries])
        self._update_buttons()

    def choose_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self.panel.window(), "Choose a labelled folder (one subfolder per class)", self.start_folder()
        )
        if folder:
            self.open_labelled(folder)

    def open_labelled(self, path: str, *, split: str | None = None) -> None:
        """Read the labelled set at ``path`` (its ``split`` folder; None: test, else val) in a job; earlier
        results are cleared."""
        if self.running or not path:
            return
        self._path = path
        self._clear()
        self.labelled = None
        self.panel.set_data_text(f"Reading {display_path(path)}…")
        self.panel.set_message("")
        self._update_buttons()
        self._read_generation += 1
        generation = self._read_generation
        self.runner.submit(
            lambda job: read_labelled(path, split=split),
            on_result=lambda labelled: self._on_labelled(generation, labelled),
            on_error=lambda message: self._on_labelled_failed(generation, path, message),
            name="read labelled",
        )

    def _on_labelled(self, generation: int, labelled: LabelledSet) -> None:
        if generation != self._read_generation:
            return  # another folder was chosen meanwhile
        self.labelled = labelled
        self.panel.set_splits(_split_folders(labelled.root) if labelled.layout == "imagefolder" else [], labelled.split)
        summary = data_summary(labelled)
        self.panel.set_data_text(summary, "\n".join((summary, *labelled.problems)))
        self._update_buttons()
        self.labelledRead.emit(labelled)

    def _on_labelled_failed(self, generation: int, path: str, message: str) -> None:
        if generation != self._read_generation:
            return
        shown_path = display_path(path)
        text = message if shown_path in message else f"{shown_path}: {message}"
        self.panel.set_splits(_split_folders(Path(path)), None)  # e.g. only train/: it can still be chosen
        self.panel.set_data_text(NO_DATA)
        self.panel.set_message(f"Cannot evaluate on this data: {text}")
        self._update_buttons()
        self.labelledFailed.emit(text)

    def _update_buttons(self) -> None:
        self.panel.set_running(self.running, can_start=self.labelled is not None and bool(self.entries))

    # ---- running ------------------------------------------------------------------------------------------------
    def evaluate(self) -> None:
        """Evaluate the ticked models on the labelled set in the worker."""
        keys = set(self.panel.checked_keys())
        chosen = [e for e in self.entries if str(e.path) in keys]
        if self.labelled is None or self.running:
            return
        if not chosen:
            self.panel.set_message("Tick at least one model to evaluate.")
            return
        self._clear()
        self.panel.heatmap.clear(f"Evaluating {len(chosen)} model{'s' if len(chosen) > 1 else ''}…")
        self._generation += 1
        generation = self._generation
        worker = EvaluateWorker(chosen, self.labelled, self.cache, self.engine_choice(), mapping=self.mapping)
        signals = worker.signals
        signals.progress.connect(lambda *args: self._on_progress(generation, *args))
        signals.finished.connect(lambda found, compared: self._on_finished(generation, found, compared, worker.notes))
        signals.failed.connect(lambda kind, message: self._on_failed(generation, kind, message))
        for signal in (signals.finished, signals.failed, signals.cancelled):
            signal.connect(lambda *_args, w=worker: self._workers.discard(w))
        self._worker = worker
        self._workers.add(worker)
        self._started = time.monotonic()
        self.panel.set_message("")
        self._update_buttons()
        self.pool.start(worker)

    def cancel(self) -> None:
        """Stop the run after its current image; the tab goes back to no results at once."""
        if self._worker is None:
            return
        self._worker.stop()
        self._worker = None
        self._generation += 1
        self._clear()
        self._update_buttons()
        self.panel.set_message("Evaluation cancelled; nothing of it is kept.")
        self.notify("Evaluation cancelled", 5000)
        self.evaluationCancelled.emit()

    def _on_progress(self, generation: int, done: int, total: int, index: int, count: int) -> None:
        if generation != self._generation:
            return
        overall, whole = index * total + done, max(1, total * count)
        text = f"{done:,} of {total:,} images · model {index + 1} of {count}"
        elapsed = time.monotonic() - self._started
        if overall and elapsed > 0.5:
            left = (whole - overall) * elapsed / overall
            text += f" · about {_duration(left)} left" if left >= 1 else " · almost done"
        self.panel.set_progress(overall, whole, text)
        self.progressed.emit(done, total, index, count)

    def _on_finished(
        self, generation: int, evaluations: list[ModelEvaluation], comparison: Comparison | None, notes: list[str]
    ) -> None:
        if generation != self._generation:
            return
        self._worker = None
        self.evaluations, self.comparison = evaluations, comparison
        self._update_buttons()
        self.panel.set_has_results(True)
        self.panel.set_message("\n".join(result_notes(evaluations, comparison, notes)))
        self.panel.show_rows([accuracy_row(e, self.panel.top_k.value()) for e in evaluations])
        self.panel.show_tradeoff(
            [e.name for e in evaluations], [e.latency_ms for e in evaluations], [e.metrics.top1 for e in evaluations]
        )
        self.evaluated.emit(evaluations)

    def _on_failed(self, generation: int, kind: str, message: str) -> None:
        if generation != self._generation:
            return
        self._worker = None
        self._update_buttons()
        what = {DATA_ERROR: "Cannot evaluate on this data", MODEL_ERROR: "A model did not load"}
        text = f"{what.get(kind, 'Evaluation failed')}: {message}"
        self.panel.set_message(text)
        self.evaluationFailed.emit(text)

    def _clear(self) -> None:
        self._stop_thumbnails()
        self.evaluations, self.comparison, self._shown = [], None, None
        self.panel.clear_results()
        self.panel.set_progress(0, 1, "")

    def _on_top_k(self, k: int) -> None:
        self.panel.set_column(TOP_K_COLUMN, [_percent(top_k_accuracy(e, k)) for e in self.evaluations])

    # ---- mapping file -------------------------------------------------------------------------------------------
    def mapping_dialog(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(
            self.panel.window(),
            "Choose a mapping file (CSV of class,label)",
            self.start_folder(),
            "Mapping files (*.csv *.tsv *.txt);;All files (*)",
        )
        if path:
            self.load_mapping(path)

    def load_mapping(self, path: str) -> None:
        """Read the mapping file at ``path`` (a job); the next evaluation uses it."""
        self.runner.submit(
            lambda job: read_mapping(path),
            on_result=lambda mapping: self._on_mapping(path, mapping),
            on_error=lambda message: self._on_mapping_failed(path, message),
            name="read mapping",
        )

    def _on_mapping(self, path: str, mapping: dict[str, str]) -> None:
        self.mapping = mapping
        lines = "\n".join(f"{name} → {label}" for name, label in list(mapping.items())[:40])
        self.panel.set_mapping_text(f"mapping: {display_path(path)} ({len(mapping)} classes)", lines)
        self.mappingRead.emit(mapping)

    def _on_mapping_failed(self, path: str, message: str) -> None:
        shown_path = display_path(path)
        text = f"Cannot use this mapping file: {message if shown_path in message else f'{shown_path}: {message}'}"
        self.panel.set_message(text)
        self.mappingFailed.emit(text)

    def clear_mapping(self) -> None:
        self.mapping = None
        self.panel.set_mapping_text("")

    # ---- results ------------------------------------------------------------------------------------------------
    def show_model(self, row: int) -> None:
        """Show the heatmap and most-confused pairs of the evaluation in table row ``row``."""
        if not 0 <= row < len(self.evaluations):
            return
        evaluation = self.evaluations[row]
        self._shown = evaluation
        metrics = evaluation.metrics
        self.panel.heatmap.set_matrix(metrics.confusion, metrics.class_labels, metrics.confusion_columns)
        pairs = metrics.most_confused(CONFUSED_PAIRS)
        self.panel.show_pairs([f"{p.true_label} → {p.predicted_label}: {p.count:,}" for p in pairs])
        self.panel.show_cell_images(f"{evaluation.name}: click a cell of the matrix to list its images.", [])

    def show_pair(self, index: int) -> None:
        """Select the matrix cell of most-confused pair ``index`` (which lists its images)."""
        if self._shown is None:
            return
        metrics = self._shown.metrics
        pairs = metrics.most_confused(CONFUSED_PAIRS)
        if 0 <= index < len(pairs):
            pair = pairs[index]
            known = pair.predicted in metrics.classes
            column = metrics.classes.index(pair.predicted) if known else len(metrics.classes)
            self.panel.heatmap.select(metrics.classes.index(pair.true), column)

    def cell_images(self, row: int, column: int) -> list[tuple[Path, str, float]]:
        """The images of cell (row, column) of the shown model's matrix: (file, top-1 label, confidence)."""
        evaluation, labelled = self._shown, self.labelled
        if evaluation is None or labelled is None:
            return []
        classes = np.array(evaluation.metrics.classes, dtype=np.int64)
        top1 = evaluation.top1
        hit = evaluation.true == classes[row]
        hit &= top1 == classes[column] if column < len(classes) else ~np.isin(top1, classes)
        return [
            (
                labelled.items[int(evaluation.item[i])].path,
                evaluation.labels[int(top1[i])],
                float(evaluation.probabilities[i, 0]),
            )
            for i in np.flatnonzero(hit)
        ]

    def show_cell(self, row: int, column: int) -> None:
        if self._shown is None or self.labelled is None:
            return
        found = self.cell_images(row, column)
        rows, columns = self.panel.heatmap.labels()
        base = self.labelled.root if self.labelled.root.is_dir() else self.labelled.root.parent
        lines = [f"{_relative(path, base)} — {label} {100 * p:.1f}%" for path, label, p in found[:CELL_IMAGES_LISTED]]
        if len(found) > CELL_IMAGES_LISTED:
            lines.append(f"… and {len(found) - CELL_IMAGES_LISTED:,} more")
        title = f"{len(found):,} images of {rows[row]} predicted {columns[column]} (top-1, confidence):"
        self.panel.show_cell_images(title, lines)
        self._load_thumbnails([path for path, _label, _p in found[:THUMBNAILS]])

    def _load_thumbnails(self, paths: list[Path]) -> None:
        """Thumbnails of the listed images, in a job (the previous cell's job is stopped)."""
        self._stop_thumbnails()
        if not paths:
            return
        self._thumb_generation += 1
        generation = self._thumb_generation
        self._thumbs = self.runner.submit(
            lambda job: thumbnails(job, paths),
            on_progress=lambda item: self._on_thumbnail(generation, *item),
            generation=generation,
            name="cell thumbnails",
        )

    def _on_thumbnail(self, generation: int, index: int, image: object, tip: str) -> None:
        if generation == self._thumb_generation:
            self.panel.set_cell_thumbnail(index, image if isinstance(image, QImage) else None, tip)

    def _stop_thumbnails(self) -> None:
        self._thumb_generation += 1
        if self._thumbs is not None:
            self._thumbs.cancel()
            self._thumbs = None

    # ---- export -------------------------------------------------------------------------------------------------
    def export_dialog(self) -> None:
        if not self.evaluations:
            return
        folder = QFileDialog.getExistingDirectory(
            self.panel.window(), "Export the report into a folder", self.start_folder()
        )
        if folder:
            self.export(Path(folder))

    def export(self, folder: Path) -> None:
        """Write predictions.csv, report.json and report.html into ``folder`` (a job); says how it went."""
        labelled, evaluations, comparison = self.labelled, list(self.evaluations), self.comparison
        if labelled is None or not evaluations:
            self.reportFailed.emit("nothing to export yet: evaluate first")
            return
        from desktop_app.core.report import write_report

        self.panel.export_button.setEnabled(False)
        self.runner.submit(
            lambda job: write_report(folder, labelled, evaluations, comparison),
            on_result=self._on_written,
            on_error=lambda message: self._on_write_failed(folder, message),
            name="write report",
        )

    def _on_written(self, paths: tuple[Path, ...]) -> None:
        self.panel.set_has_results(bool(self.evaluations))
        folder = display_path(paths[0].parent) if paths else ""
        self.panel.set_message(f"Report written to {folder}: {', '.join(p.name for p in paths)}")
        self.notify(f"Wrote the report to {folder}", 8000)
        self.reportWritten.emit(paths)

    def _on_write_failed(self, folder: Path, message: str) -> None:
        self.panel.set_has_results(bool(self.evaluations))
        text = f"Could not write the report to {display_path(folder)}: {message}"
        self.panel.set_message(text)
        self.notify(text, 15000)
        self.reportFailed.emit(text)

    def shutdown(self, msecs: int = 30000) -> bool:
        """Stop a run and wait for the worker (so no signal reaches a closed window)."""
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
            self._generation += 1
        return self.pool.waitForDone(msecs)


def _split_folders(root: Path) -> list[str]:
    return [name for name in SPLITS if (root / name).is_dir()]


def _relative(path: Path, base: Path) -> str:
    try:
        return display_path(path.relative_to(base))
    except ValueError:
        return display_path(path)
