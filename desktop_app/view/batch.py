"""Classification of the listed images: one worker per pass, results shown one by one as they arrive.

A pass runs the headless command's pipeline (:func:`backend.classify_sources`: decoding in threads
ahead of the model, batches), so the first result still shows at once. Drops and pastes append to
the list (a file already listed is not listed twice) and only the new rows are classified; Clear
empties the list and Stop ends a pass, keeping the results it has. The progress line under the list
shows the count, rate and time left, then a summary ("520 classified, 4 failed, 10.7 s").

Each pass has a generation; :meth:`BatchController.cancel` bumps it, so results still queued from a
cancelled pass (other model chosen, new images dropped) are ignored rather than shown. The controller
drives the image list, the progress line, the result panel and the page stack it is given; it asks
for the current model through a callable and never sees the window.

Example::

    python -m desktop_app photos/   # a pass over every image below photos/
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QStackedWidget

from desktop_app.core.runtime import EngineModel
from desktop_app.view import backend
from desktop_app.view.batch_progress import BatchProgress, summary_text
from desktop_app.view.image_list import ImageList
from desktop_app.view.result_panel import ResultPanel
from desktop_app.view.workers import Job, TaskRunner
from workbench.imageio import PathProblem

EMPTY_PAGE, LIST_PAGE = 0, 1  # pages of the stack: the empty state, the list beside the tabs

Notify = Callable[[str, int], None]  # a transient status message shown for that many milliseconds
PROGRESS_INTERVAL = 0.1  # seconds between two updates of the progress line
STOPPED = "not classified (stopped)"


class BatchController(QObject):
    """Owns the classification passes over ``image_list`` and what the result panel shows for its current row.

    ``current_model`` gives the loaded model (None while none is loaded); ``model_chosen`` tells whether
    one is on its way (rows then read "waiting for the model…" rather than "no model loaded").
    """

    classified = Signal(int)  # key of the row that got its result (or error)
    finished = Signal()  # every row of the pass has a result or an error (or the pass was stopped)
    currentShown = Signal()  # the result panel shows a listed row again (it may be another image now)

    def __init__(
        self,
        image_list: ImageList,
        progress: BatchProgress,
        result_panel: ResultPanel,
        stack: QStackedWidget,
        runner: TaskRunner,
        *,
        notify: Notify,
        current_model: Callable[[], EngineModel | None],
        model_chosen: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.image_list = image_list
        self.progress = progress
        self.result_panel = result_panel
        self.stack = stack
        self.runner = runner
        self.notify = notify
        self.current_model = current_model
        self.model_chosen = model_chosen
        self._generation = 0  # classification passes
        self._list_generation = 0  # drops/pastes, numbered; each is listed when its search ends
        self._cleared_generation = 0  # drops up to this one were made before the last Clear: not listed
        self._job: Job | None = None
        self._remaining: set[int] = set()
        self._preview_pending: set[int] = set()
        self._started: float | None = None  # when the running passes began (an append keeps the first start)
        self._done = self._total = 0  # rows with an outcome / rows to classify, while passes run
        self._shown_at = 0.0
        image_list.currentItemChanged.connect(lambda *_: self.show_current())
        progress.stopRequested.connect(self.stop)
        progress.clearRequested.connect(self.clear)

    @property
    def pending(self) -> int:
        """Rows of the current pass still waiting for their result."""
        return len(self._remaining)

    def cancel(self) -> None:
        """Stop the running pass; anything it still delivers is ignored."""
        self._generation += 1
        if self._job is not None:
            self._job.cancel()
            self._job = None
        self._remaining = set()

    def stop(self) -> None:
        """The user's Stop: end the pass; rows done keep their results, the others say they were not classified."""
        if not self._remaining:
            return
        left = list(self._remaining)
        self.cancel()
        for key in left:
            self.image_list.set_pending(key, STOPPED)
        self._pass_over(stopped=len(left))
        self.show_current()
        self.finished.emit()

    def clear(self) -> None:
        """Empty the list (Clear): the pass stops, folders still being searched are not listed."""
        self.cancel()
        self._cleared_generation = self._list_generation
        self._started = None
        self.image_list.clear_all()
        self.result_panel.clear()
        self.progress.show_summary("")
        self.stack.setCurrentIndex(EMPTY_PAGE)

    def add_paths(self, paths: Sequence[str]) -> None:
        """Expand ``paths`` (folders recursively) in a worker, then append the files to the list and classify them.

        A path the search had to skip (symbolic-link loop, FIFO, unreadable folder) is listed as one
        row with its reason after the images; it is never opened or classified.
        """
        self._list_generation += 1
        generation = self._list_generation
        given = list(paths)
        self.runner.submit(
            lambda job: backend.expand_paths(given),
            on_result=lambda found: self._listed(generation, [str(f) for f in found.files], len(given), found.problems),
            on_error=lambda message: self.notify(f"Cannot open: {message}", 10000),
            name="expand",
        )

    def add_sources(self, sources: Sequence[str | bytes]) -> None:
        """Append ``sources`` (paths or encoded image bytes) to the list right away and classify them."""
        self._list_generation += 1
        self._listed(self._list_generation, sources, len(sources))

    def _listed(
        self, generation: int, sources: Sequence[str | bytes], given: int, problems: Sequence[PathProblem] = ()
    ) -> None:
        if generation <= self._cleared_generation:
            return  # the list was cleared while this drop was being searched
        listed = {_same_file(r.source) for r in self.image_list.records.values() if isinstance(r.source, str)}
        new = [s for s in sources if not isinstance(s, str) or _same_file(s) not in listed]
        known = len(sources) - len(new)
        if not new and not problems:
            text = f"All {known} image(s) are listed already" if known else f"No images found in the {given} item(s)"
            self.notify(text, 10000)
            if not self.image_list.records:
                self.stack.setCurrentIndex(EMPTY_PAGE)
            return
        first = self.image_list.count()
        for source in new:
            self.image_list.add_source(backend.source_title(source), source)
        for problem in problems:
            self.image_list.add_problem(problem.path.name or str(problem.path), str(problem.path), str(problem))
        if problems:
            self.notify(f"{len(problems)} item(s) skipped, listed after the images: {problems[0]}", 15000)
        elif known:
            self.notify(f"{known} image(s) were listed already, {len(new)} added", 8000)
        self.stack.setCurrentIndex(LIST_PAGE)
        self.image_list.setCurrentRow(first)
        self.image_list.scrollToItem(self.image_list.item(first))
        self.classify_all(only_missing=True)

    def mark_all_pending(self, note: str) -> None:
        """Every row waits again, saying ``note`` (e.g. no model could be loaded)."""
        for key in self.image_list.records:
            self.image_list.set_pending(key, note)
        self.show_current()

    def classify_all(self, *, only_missing: bool = False) -> None:
        """(Re)classify every listed image with the loaded model, results shown as they arrive.

        ``only_missing``: only the rows that have neither a result nor an error yet (the others keep theirs).
        """
        running = bool(self._remaining)
        self.cancel()
        records = [r for r in self.image_list.records.values() if r.problem is None]
        todo = [r for r in records if not r.scores and r.error is None] if only_missing else records
        if not todo:
            return
        model = self.current_model()
        if model is None:
            note = "waiting for the model…" if self.model_chosen() else "no model loaded"
            for record in todo:
                self.image_list.set_pending(record.key, note)
            self.show_current()
            return
        generation = self._generation
        work = [(r.key, r.source) for r in todo]
        shown = self.image_list.current_key()
        for key, _ in work:
            self.image_list.set_pending(key)
        self._remaining = {key for key, _ in work}
        if not running or self._started is None:
            self._started = time.perf_counter()
        self._total, self._done = len(records), len(records) - len(work)
        self._show_progress(force=True)
        self.show_current()

        def run(job: Job) -> int:
            count = 0
            for result in backend.classify_sources(model, work, lambda: job.cancelled, preview_key=shown):
                job.report(result)
                count += 1
            return count

        self._job = self.runner.submit(
            run,
            on_progress=lambda result: self._on_result(generation, result),
            on_error=lambda message: self._on_failed(generation, message),
            generation=generation,
            name="classify",
        )

    def _on_result(self, generation: int, result: backend.ClassifiedImage) -> None:
        image_list = self.image_list
        if generation != self._generation or result.key not in image_list.records:
            return
        if result.error is not None:
            image_list.set_error(result.key, result.error)
            if result.thumb is not None:
                image_list.set_preview(result.key, result.preview)
        else:
            image_list.set_thumbnail(result.key, result.thumb, result.preview)
            image_list.set_scores(result.key, list(result.scores))
        if image_list.current_key() == result.key:
            self.show_current()
        self._remaining.discard(result.key)
        self._done += 1
        self.classified.emit(result.key)
        if not self._remaining:
            self._job = None
            self._pass_over()
            self.finished.emit()
        else:
            self._show_progress()

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        for key in list(self._remaining):
            self.image_list.set_error(key, f"classification failed: {message}")
        self._remaining = set()
        self._job = None
        self.notify(f"Classification failed: {message}", 15000)
        self._pass_over()
        self.finished.emit()

    def _show_progress(self, *, force: bool = False) -> None:
        """The progress line, at most every PROGRESS_INTERVAL seconds (a 5,000-image pass stays cheap)."""
        now = time.perf_counter()
        if force or now - self._shown_at >= PROGRESS_INTERVAL:
            self._shown_at = now
            self.progress.show_progress(self._done, self._total, now - (self._started or now))

    def _pass_over(self, stopped: int = 0) -> None:
        """The summary of the list once no pass runs: results, errors, the time the passes took."""
        seconds = time.perf_counter() - self._started if self._started is not None else None
        self._started = None
        records = self.image_list.records.values()
        classified = sum(1 for r in records if r.scores)
        failed = sum(1 for r in records if r.error is not None)
        self.progress.show_summary(summary_text(classified, failed, seconds, stopped))

    def show_current(self) -> None:
        """Show the current row in the result panel: its image, then its top-k, its error or a waiting note."""
        record = self.image_list.current_record()
        if record is None:
            self.result_panel.clear()
            return
        self.result_panel.set_image(record.title, record.preview)
        if record.error:
            self.result_panel.show_message(record.error, error=True)
        elif record.scores:
            self.result_panel.show_scores(record.title, record.scores)
            if record.preview is None:
                self._request_preview(record.key, record.source)
        else:
            self.result_panel.show_scores(record.title, [])
            loaded = self.current_model() is not None
            self.result_panel.show_message("classifying…" if loaded else "waiting for a model…")
        self.currentShown.emit()

    def _request_preview(self, key: int, source: str | bytes) -> None:
        """Decode a preview that was dropped from the in-memory cache again (worker)."""
        if key in self._preview_pending:
            return
        self._preview_pending.add(key)

        def shown(image: QImage) -> None:
            self._preview_pending.discard(key)
            self.image_list.set_preview(key, image)
            if self.image_list.current_key() == key:
                self.result_panel.preview.set_image(image)

        def failed(message: str) -> None:
            self._preview_pending.discard(key)
            self.notify(f"Cannot show the image: {message}", 10000)

        self.runner.submit(lambda job: backend.preview(source), on_result=shown, on_error=failed, name="preview")


def _same_file(path: str) -> str:
    """One spelling per file, to tell whether a dropped file is listed already."""
    return os.path.normcase(os.path.abspath(path))
