"""The GUI thread keeps running while a slow model classifies and profiles in a worker.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_responsive.py -q
"""

from __future__ import annotations

import time
from itertools import pairwise

from PySide6.QtCore import QTimer

from tests.desktop_app.view.helpers import drop_paths

TICK_MS = 10


def _ticker(window) -> tuple[QTimer, list[float]]:
    ticks: list[float] = []
    timer = QTimer(window, interval=TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    return timer, ticks


def _longest_gap_ms(ticks: list[float]) -> float:
    return 1000 * max((b - a for a, b in pairwise(ticks)), default=0.0)


def _assert_responsive(ticks: list[float], elapsed_ms: float) -> None:
    """A blocked GUI thread would show one gap as long as the whole run and almost no ticks.

    The bounds are relative to the run's length so that a busy machine (other processes
    competing for the CPU) does not make the test flaky.
    """
    assert elapsed_ms > 300, f"the slow model was not slow ({elapsed_ms:.0f} ms); the test proves nothing"
    assert len(ticks) >= 0.25 * elapsed_ms / TICK_MS, (len(ticks), elapsed_ms)
    assert _longest_gap_ms(ticks) < 0.5 * elapsed_ms, (_longest_gap_ms(ticks), elapsed_ms)


def test_event_loop_ticks_while_a_slow_model_classifies(make_window, model_bank, photos, tmp_path, qtbot) -> None:
    window = make_window(model_bank["slow"])
    folder = tmp_path / "several"
    folder.mkdir()
    for i in range(6):
        (folder / f"cat{i}.png").write_bytes(photos["chelsea"].read_bytes())
    pending_at_first: list[int] = []

    def on_result(_key: int) -> None:
        if not pending_at_first:
            pending_at_first.append(sum(not r.scores and not r.error for r in window.image_list.records.values()))

    window.imageClassified.connect(on_result)
    timer, ticks = _ticker(window)
    start = time.perf_counter()
    with qtbot.waitSignal(window.batchFinished, timeout=60000):
        drop_paths(window, [folder])
    elapsed_ms = 1000 * (time.perf_counter() - start)
    timer.stop()
    assert all(r.scores for r in window.image_list.records.values())
    assert pending_at_first and pending_at_first[0] >= 1  # the first result was shown while others still ran
    _assert_responsive(ticks, elapsed_ms)


def test_event_loop_ticks_while_profiling(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["slow"])
    window.timing_panel.runs.setValue(3)
    timer, ticks = _ticker(window)
    start = time.perf_counter()
    with qtbot.waitSignal(window.timing.profiled, timeout=60000):
        window.profile_action.trigger()
        assert window.timing_panel.profile_button.text() == "Cancel"  # returned at once, work in progress
        assert not window.profile_action.isEnabled()
    elapsed_ms = 1000 * (time.perf_counter() - start)
    timer.stop()
    _assert_responsive(ticks, elapsed_ms)
