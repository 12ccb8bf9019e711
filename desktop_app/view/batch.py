"""Classification of the listed images: one worker per pass, results shown one by one as they arrive.

Each pass has a generation; :meth:`BatchController.cancel` bumps it, so results still queued from a
cancelled pass (other model chosen, new images dropped) are ignored rather than shown.

Example::

    python -m desktop_app photos/   # a pass over every image below photos/
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from desktop_app.view import backend
from desktop_app.view.workers import Job

if TYPE_CHECKING:
    from desktop_app.view.main_window import MainWindow


class BatchController(QObject):
    """Owns the classification passes over ``window.image_list``."""

    classified = Signal(int)  # key of the row that got its result (or error)
    finished = Signal()  # every row of the pass has a result or an error

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._generation = 0  # classification passes
        self._list_generation = 0  # drops/pastes: the newest one wins, a model switch does not cancel it
        self._job: Job | None = None
        self._remaining: set[int] = set()

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
        """Expand ``paths`` (folders recursively) in a worker, then list and classify the files."""
        self.cancel()
        self._list_generation += 1
        generation = self._list_generation
        given = list(paths)
        self.window.runner.submit(
            lambda job: backend.expand_paths(given),
            on_result=lambda files: self._listed(generation, [str(f) for f in files], len(given)),
            on_error=lambda message: self.window.notify(f"Cannot open: {message}", 10000),
            generation=generation,
            name="expand",
        )

    def add_sources(self, sources: list[str | bytes]) -> None:
        """List ``sources`` (paths or encoded image bytes) right away and classify them."""
        self.cancel()
        self._list_generation += 1
        self._listed(self._list_generation, sources, len(sources))

    def _listed(self, generation: int, sources: list[str | bytes], given: int) -> None:
        if generation != self._list_generation:
            return  # newer images were dropped meanwhile
        window = self.window
        window.image_list.clear_all()
        window.result_panel.clear()
        if not sources:
            window.notify(f"No images found in the {given} dropped item(s)", 10000)
            window.stack.setCurrentIndex(0)
            return
        for source in sources:
            window.image_list.add_source(backend.source_title(source), source)
        window.stack.setCurrentIndex(1)
        window.image_list.setCurrentRow(0)
        self.classify_all()

    def classify_all(self) -> None:
        """(Re)classify every listed image with the loaded model, one result at a time."""
        self.cancel()
        window = self.window
        records = list(window.image_list.records.values())
        if not records:
            return
        if window.loaded is None:
            note = "waiting for the model…" if window.current_entry() is not None else "no model loaded"
            for record in records:
                window.image_list.set_pending(record.key, note)
            window.show_current()
            return
        generation, model = self._generation, window.loaded.model
        work = [(r.key, r.source) for r in records]
        for key, _ in work:
            window.image_list.set_pending(key)
        self._remaining = {key for key, _ in work}
        window.show_current()

        def run(job: Job) -> int:
            for key, source in work:
                if job.cancelled:
                    break
                job.report(backend.classify_source(model, key, source))
            return len(work)

        self._job = window.runner.submit(
            run,
            on_progress=lambda result: self._on_result(generation, result),
            on_error=lambda message: self._on_failed(generation, message),
            generation=generation,
            name="classify",
        )

    def _on_result(self, generation: int, result: backend.ClassifiedImage) -> None:
        image_list = self.window.image_list
        if generation != self._generation or result.key not in image_list.records:
            return
        if result.error is not None:
            image_list.set_error(result.key, result.error)
        else:
            image_list.set_thumbnail(result.key, result.thumb, result.preview)
            image_list.set_scores(result.key, list(result.scores))
        if image_list.current_key() == result.key:
            self.window.show_current()
        self._remaining.discard(result.key)
        self.classified.emit(result.key)
        if not self._remaining:
            self._job = None
            self.finished.emit()

    def _on_failed(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        for key in list(self._remaining):
            self.window.image_list.set_error(key, f"classification failed: {message}")
        self._remaining = set()
        self._job = None
        self.window.notify(f"Classification failed: {message}", 15000)
        self.finished.emit()
