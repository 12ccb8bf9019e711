"""Classification of the listed images: one worker per pass, results shown one by one as they arrive.

Each pass has a generation; :meth:`BatchController.cancel` bumps it, so results still queued from a
cancelled pass (other model chosen, new images dropped) are ignored rather than shown. The controller
drives the image list, the result panel and the page stack it is given; it asks for the current model
through a callable and never sees the window.

Example::

    python -m desktop_app photos/   # a pass over every image below photos/
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QStackedWidget

from desktop_app.core.runtime import LoadedModel
from desktop_app.view import backend
from desktop_app.view.image_list import ImageList
from desktop_app.view.result_panel import ResultPanel
from desktop_app.view.workers import Job, TaskRunner
from workbench.imageio import PathProblem

EMPTY_PAGE, LIST_PAGE = 0, 1  # pages of the stack: the empty state, the list beside the tabs

Notify = Callable[[str, int], None]  # a transient status message shown for that many milliseconds


class BatchController(QObject):
    """Owns the classification passes over ``image_list`` and what the result panel shows for its current row.

    ``current_model`` gives the loaded model (None while none is loaded); ``model_chosen`` tells whether
    one is on its way (rows then read "waiting for the model…" rather than "no model loaded").
    """

    classified = Signal(int)  # key of the row that got its result (or error)
    finished = Signal()  # every row of the pass has a result or an error
    currentShown = Signal()  # the result panel shows a listed row again (it may be another image now)

    def __init__(
        self,
        image_list: ImageList,
        result_panel: ResultPanel,
        stack: QStackedWidget,
        runner: TaskRunner,
        *,
        notify: Notify,
        current_model: Callable[[], LoadedModel | None],
        model_chosen: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.image_list = image_list
        self.result_panel = result_panel
        self.stack = stack
        self.runner = runner
        self.notify = notify
        self.current_model = current_model
        self.model_chosen = model_chosen
        self._generation = 0  # classification passes
        self._list_generation = 0  # drops/pastes: the newest one wins, a model switch does not cancel it
        self._job: Job | None = None
        self._remaining: set[int] = set()
        self._preview_pending: set[int] = set()
        image_list.currentItemChanged.connect(lambda *_: self.show_current())

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

    def add_paths(self, paths: Sequence[str]) -> None:
        """Expand ``paths`` (folders recursively) in a worker, then list and classify the files.

        A path the search had to skip (symbolic-link loop, FIFO, unreadable folder) is listed as one
        row with its reason after the images; it is never opened or classified.
        """
        self.cancel()
        self._list_generation += 1
        generation = self._list_generation
        given = list(paths)
        self.runner.submit(
            lambda job: backend.expand_paths(given),
            on_result=lambda found: self._listed(generation, [str(f) for f in found.files], len(given), found.problems),
            on_error=lambda message: self.notify(f"Cannot open: {message}", 10000),
            generation=generation,
            name="expand",
        )

    def add_sources(self, sources: Sequence[str | bytes]) -> None:
        """List ``sources`` (paths or encoded image bytes) right away and classify them."""
        self.cancel()
        self._list_generation += 1
        self._listed(self._list_generation, sources, len(sources))

    def _listed(
        self, generation: int, sources: Sequence[str | bytes], given: int, problems: Sequence[PathProblem] = ()
    ) -> None:
        if generation != self._list_generation:
            return  # newer images were dropped meanwhile
        self.image_list.clear_all()
        self.result_panel.clear()
        if not sources and not problems:
            self.notify(f"No images found in the {given} dropped item(s)", 10000)
            self.stack.setCurrentIndex(EMPTY_PAGE)
            return
        for source in sources:
            self.image_list.add_source(backend.source_title(source), source)
        for problem in problems:
            self.image_list.add_problem(problem.path.name or str(problem.path), str(problem.path), str(problem))
        if problems:
            self.notify(f"{len(problems)} item(s) skipped, listed after the images: {problems[0]}", 15000)
        self.stack.setCurrentIndex(LIST_PAGE)
        self.image_list.setCurrentRow(0)
        self.classify_all()

    def mark_all_pending(self, note: str) -> None:
        """Every row waits again, saying ``note`` (e.g. no model could be loaded)."""
        for key in self.image_list.records:
            self.image_list.set_pending(key, note)
        self.show_current()

    def classify_all(self, *, only_missing: bool = False) -> None:
        """(Re)classify every listed image with the loaded model, one result at a time.

        ``only_missing``: only the rows that have neither a result nor an error yet (the others keep theirs).
        """
        self.cancel()
        records = [r for r in self.image_list.records.values() if r.problem is None]
        if only_missing:
            records = [r for r in records if not r.scores and r.error is None]
        if not records:
            return
        model = self.current_model()
        if model is None:
            note = "waiting for the model…" if self.model_chosen() else "no model loaded"
            for record in records:
                self.image_list.set_pending(record.key, note)
            self.show_current()
            return
        generation = self._generation
        work = [(r.key, r.source) for r in records]
        for key, _ in work:
            self.image_list.set_pending(key)
        self._remaining = {key for key, _ in work}
        self.show_current()

        def run(job: Job) -> int:
            for key, source in work:
                if job.cancelled:
                    break
                job.report(backend.classify_source(model, key, source))
            return len(work)

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
        else:
            image_list.set_thumbnail(result.key, result.thumb, result.preview)
            image_list.set_scores(result.key, list(result.scores))
        if image_list.current_key() == result.key:
            self.show_current()
        self._remaining.discard(result.key)
        self.classified.emit(result.key)
        if not self._remaining:
            self._job = None
            self.finished.emit()

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        for key in list(self._remaining):
            self.image_list.set_error(key, f"classification failed: {message}")
        self._remaining = set()
        self._job = None
        self.notify(f"Classification failed: {message}", 15000)
        self.finished.emit()

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
