"""TaskRunner jobs: results, progress and errors arrive on the GUI thread; cancelled jobs stay silent.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_workers.py -q
"""

from __future__ import annotations

import threading

import pytest

from desktop_app.view.workers import Job, TaskRunner, describe_error
from workbench.imageio import ImageLoadError


@pytest.fixture
def runner(qtbot):
    runner = TaskRunner()
    yield runner
    runner.wait(10000)


def test_result_and_progress_are_delivered_on_the_gui_thread(runner, qtbot) -> None:
    gui = threading.get_ident()
    seen: list[tuple[str, object, bool]] = []

    def work(job: Job) -> int:
        job.report(1)
        job.report(2)
        return threading.get_ident()

    runner.submit(
        work,
        on_progress=lambda p: seen.append(("p", p, threading.get_ident() == gui)),
        on_result=lambda r: seen.append(("r", r != gui, threading.get_ident() == gui)),
    )
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)  # "done" is delivered after result and progress
    assert seen == [("p", 1, True), ("p", 2, True), ("r", True, True)]


def test_errors_become_one_line_messages(runner, qtbot) -> None:
    errors: list[str] = []

    def fail(job: Job) -> None:
        raise ImageLoadError("cat.png", "file not found")

    runner.submit(fail, on_error=errors.append)
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert errors == ["cat.png: file not found"]
    assert describe_error(KeyError("x")) == "KeyError: 'x'"
    assert describe_error(RuntimeError()) == "RuntimeError"


def test_cancelled_job_emits_no_result_or_progress(runner, qtbot) -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[object] = []

    def work(job: Job) -> str:
        started.set()
        release.wait(5)
        job.report("late")
        return "late"

    job = runner.submit(work, on_result=seen.append, on_progress=seen.append)
    assert started.wait(5)
    job.cancel()
    release.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert seen == []
