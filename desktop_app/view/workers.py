"""Background work for the GUI: QRunnable jobs whose results come back as queued Qt signals.

A job is a plain callable ``fn(job: Job) -> result``; it may call ``job.report(partial)`` to
deliver intermediate results (e.g. one classified image) and should poll ``job.cancelled``
between steps. Every job carries a *generation*; the GUI bumps its generation when the work
becomes stale (new images dropped, other model chosen) and drops signals of older ones.

Example::

    QT_QPA_PLATFORM=offscreen python -c "from desktop_app.view.workers import TaskRunner; \\
from PySide6.QtCore import QCoreApplication; app = QCoreApplication([]); r = TaskRunner(); \\
r.submit(lambda job: 6 * 7, on_result=print); r.wait(); app.processEvents()"
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)
OWN_PACKAGES = ("desktop_app", "workbench")  # their errors carry a one-line message meant for the user


class JobSignals(QObject):
    """Created on the GUI thread, emitted from the worker: delivery is queued to the GUI thread."""

    progress = Signal(object)
    result = Signal(object)
    error = Signal(str)
    done = Signal()


class Job(QRunnable):
    """One unit of background work; see the module docstring."""

    def __init__(self, fn: Callable[[Job], Any], generation: int = 0, name: str = "job") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the TaskRunner keeps it until its signals are delivered
        self.fn = fn
        self.generation = generation
        self.name = name
        self.signals = JobSignals()
        self._cancel = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        self._cancel.set()

    def report(self, partial: object) -> None:
        """Send an intermediate result to the GUI (ignored once the job is cancelled)."""
        if not self.cancelled:
            self.signals.progress.emit(partial)

    def run(self) -> None:
        try:
            result = self.fn(self)
        except Exception as exc:  # reported to the GUI, never raised on a worker thread
            self.signals.error.emit(describe_error(exc))
            level = logging.DEBUG if is_ours(exc) else logging.WARNING
            log.log(level, "%s failed:\n%s", self.name, traceback.format_exc())
        else:
            if not self.cancelled:
                self.signals.result.emit(result)
        finally:
            self.signals.done.emit()


def is_ours(exc: BaseException) -> bool:
    """An expected error with a one-line message: OSError, ValueError or one of the project's own errors."""
    return isinstance(exc, (OSError, ValueError)) or type(exc).__module__.split(".")[0] in OWN_PACKAGES


def describe_error(exc: BaseException) -> str:
    """One line for the GUI: the message of our own (one-line) errors, the type name for the rest."""
    text = " ".join(str(exc).split())
    return text if text and is_ours(exc) else f"{type(exc).__name__}: {text}".rstrip(": ")


class TaskRunner(QObject):
    """A private thread pool plus bookkeeping that keeps jobs alive until they finish."""

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._jobs: set[Job] = set()

    def submit(
        self,
        fn: Callable[[Job], Any],
        *,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        generation: int = 0,
        name: str = "job",
    ) -> Job:
        """Start ``fn`` on the pool; callbacks run on the GUI thread."""
        job = Job(fn, generation, name)
        if on_result is not None:
            job.signals.result.connect(on_result)
        if on_error is not None:
            job.signals.error.connect(on_error)
        if on_progress is not None:
            job.signals.progress.connect(on_progress)
        job.signals.done.connect(lambda: self._jobs.discard(job))
        self._jobs.add(job)
        self.pool.start(job)
        return job

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def cancel_all(self) -> None:
        for job in list(self._jobs):
            job.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every started job has returned (used at shutdown and in tests)."""
        return self.pool.waitForDone(msecs)
