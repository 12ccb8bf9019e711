"""The Evaluate tab's background run: a QRunnable that loads each chosen model and evaluates it on a labelled set.

Models are opened through the window's :class:`~desktop_app.core.runtime.SessionCache` for the window's
Engine choice (a key of :data:`~desktop_app.view.backend.ENGINE_CHOICES`: ONNX Runtime, CUDA, OpenVINO, its
bf16) with the user's remembered preprocessing overrides (:func:`~desktop_app.view.backend.load`; an engine
that fell back, or overrides that could not be used, are said in :attr:`EvaluateWorker.notes`), then
:func:`~desktop_app.core.evaluate.evaluate_model` runs with a ``progress`` callback (sent at most every
:data:`PROGRESS_INTERVAL_S`, and always for an image that ends a model) and a ``should_stop`` that reads a
flag :meth:`EvaluateWorker.stop` sets, so Cancel stops after the current image. The outcome is exactly one
of the signals ``finished`` (evaluations and their comparison), ``failed`` (a kind and a one-line message)
or ``cancelled``, emitted from the worker thread and delivered queued to the GUI thread.
A class mapping (data-set class -> model label, from a mapping file) is passed on to ``evaluate_model``.
:func:`thumbnails` is the job that loads the thumbnails of a clicked cell's images.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from PySide6.QtCore import QCoreApplication, QThreadPool; \\
from desktop_app.core.catalog import scan_models; from desktop_app.core.labelled import read_labelled; \\
from desktop_app.core.runtime import SessionCache; from desktop_app.view.evaluate_worker import EvaluateWorker; \\
app = QCoreApplication([]); w = EvaluateWorker([m for m in scan_models('models') if m.usable][:1], \\
read_labelled('data'), SessionCache(), 'openvino'); \\
w.signals.finished.connect(lambda e, c: print(e[0].model.engine, e[0].metrics.top1)); \\
QThreadPool.globalInstance().start(w); QThreadPool.globalInstance().waitForDone(); app.processEvents()"
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, Signal

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.evaluate import EvaluationCancelled, ModelEvaluation, compare, evaluate_model
from desktop_app.core.labelled import LabelledDataError, LabelledSet
from desktop_app.core.providers import NO_NVIDIA_GPU, ModelLoadError
from desktop_app.core.runtime import SessionCache
from desktop_app.view import backend
from desktop_app.view.qimage import THUMB_SIDE, shrunk, to_qimage
from desktop_app.view.workers import Job, describe_error, is_ours
from workbench.imageio import ImageLoadError, load_image
from workbench.names import display_path

log = logging.getLogger(__name__)
PROGRESS_INTERVAL_S = 0.05

# the ``kind`` of a failure: what the message is about
DATA_ERROR = "data"  # the labelled set (or its classes) cannot be evaluated
MODEL_ERROR = "model"  # a model would not load (on the engine chosen)
OTHER_ERROR = "error"  # anything else (an ONNX Runtime or OpenVINO failure, a bug)


class EvaluateSignals(QObject):
    """Created on the GUI thread, emitted from the worker (queued delivery)."""

    progress = Signal(int, int, int, int)  # images done, images in all, model index (0-based), models
    finished = Signal(object, object)  # list[ModelEvaluation], Comparison | None (None for one model)
    failed = Signal(str, str)  # kind (DATA_ERROR | MODEL_ERROR | OTHER_ERROR), one-line message
    cancelled = Signal()


class EvaluateWorker(QRunnable):
    """Evaluate ``entries`` on ``labelled``, one after the other, on the Engine ``choice`` (a key of
    :data:`~desktop_app.view.backend.ENGINE_CHOICES`); see the module docstring."""

    def __init__(
        self,
        entries: Sequence[ModelEntry],
        labelled: LabelledSet,
        cache: SessionCache,
        choice: str,
        *,
        mapping: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.setAutoDelete(False)  # the controller keeps it until its signals are delivered
        self.entries = tuple(entries)
        self.labelled = labelled
        self.cache = cache
        self.choice = choice
        self.notes: list[str] = []  # an engine that fell back, overrides not used: one line each
        self.mapping = dict(mapping) if mapping is not None else None
        self.signals = EvaluateSignals()
        self._stop = threading.Event()
        self._last_progress = -PROGRESS_INTERVAL_S

    def stop(self) -> None:
        """Ask the run to end after the current image (thread-safe)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:  # Qt override, on a pool thread
        try:
            evaluations = [self._evaluate(index, entry) for index, entry in enumerate(self.entries)]
            comparison = compare(evaluations) if len(evaluations) > 1 else None
        except EvaluationCancelled:
            self.signals.cancelled.emit()
        except LabelledDataError as exc:
            self.signals.failed.emit(DATA_ERROR, describe_error(exc))
        except ModelLoadError as exc:
            self.signals.failed.emit(MODEL_ERROR, describe_error(exc))
        except Exception as exc:  # reported to the GUI, never raised on a worker thread
            level = logging.DEBUG if is_ours(exc) else logging.WARNING
            log.log(level, "evaluation failed:\n%s", traceback.format_exc())
            self.signals.failed.emit(OTHER_ERROR, describe_error(exc))
        else:
            if self.stopped:
                self.signals.cancelled.emit()
            else:
                self.signals.finished.emit(evaluations, comparison)

    def _evaluate(self, index: int, entry: ModelEntry) -> ModelEvaluation:
        if self.stopped:
            raise EvaluationCancelled(f"{entry.name}: cancelled before it started")
        loaded = backend.load(self.cache, entry, self.choice)
        model = loaded.model
        if model.fallback_reason and model.fallback_reason != NO_NVIDIA_GPU:  # (Auto without NVIDIA: no fallback)
            self.notes.append(f"{entry.name}: {model.fallback_reason}")
        if loaded.note:
            self.notes.append(loaded.note)
        count = len(self.entries)
        return evaluate_model(
            model,
            self.labelled,
            mapping=self.mapping,
            progress=lambda done, total: self._progress(done, total, index, count),
            should_stop=self._stop.is_set,
        )

    def _progress(self, done: int, total: int, index: int, count: int) -> None:
        now = time.monotonic()
        if done == total or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.signals.progress.emit(done, total, index, count)


def thumbnails(job: Job, paths: Sequence[Path]) -> int:
    """Report ``(index, QImage | None, tooltip)`` per path (None and the reason when it cannot be read)."""
    for index, path in enumerate(paths):
        if job.cancelled:
            break
        try:
            image = to_qimage(shrunk(load_image(path), THUMB_SIDE))
        except ImageLoadError as exc:
            job.report((index, None, f"{display_path(path)}\ncannot be shown: {exc}"))
        else:
            job.report((index, image, display_path(path)))
    return len(paths)
