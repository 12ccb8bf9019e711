"""Folders in the window: the batched pipeline, natural order, progress and summary, drops that append, Clear, Stop.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest -q tests/desktop_app/view/test_folder_pass.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_app.core.runtime import LoadedModel
from desktop_app.view.batch import EMPTY_PAGE, LIST_PAGE, STOPPED
from desktop_app.view.batch_progress import progress_text, summary_text
from tests.desktop_app.view.helpers import drop_paths


def _images(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, name in enumerate(names):
        path = folder / name
        Image.new("RGB", (40, 30), (20 * (i % 12), 90, 200 - 10 * (i % 15))).save(path)
        paths.append(path)
    return paths


def _names(window) -> list[str]:
    return [row.splitlines()[0] for row in window.image_list.row_texts()]


@pytest.fixture
def batch_sizes(monkeypatch) -> list[int]:
    """The batch size of every model run in this process (the window's worker threads included)."""
    sizes: list[int] = []
    original = LoadedModel.run

    def run(self: LoadedModel, batch: np.ndarray) -> np.ndarray:
        sizes.append(int(batch.shape[0]))
        return original(self, batch)

    monkeypatch.setattr(LoadedModel, "run", run)
    return sizes


def test_a_folder_runs_in_batches_in_natural_order_with_a_summary(
    make_window, model_bank, tmp_path: Path, qtbot, batch_sizes: list[int]
) -> None:
    window = make_window(model_bank["tiny"])
    folder = tmp_path / "photos"
    _images(folder, [f"{i}_x.png" for i in (10, 2, 1, 30, 3, 20, *range(100, 134))])
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    batch_sizes.clear()
    with qtbot.waitSignal(window.batchFinished, timeout=30000):
        assert drop_paths(window, [folder])
    names = _names(window)
    assert names[:6] == ["1_x.png", "2_x.png", "3_x.png", "10_x.png", "20_x.png", "30_x.png"]
    assert names[6:8] == ["100_x.png", "101_x.png"] and names[-1] == "broken.jpg"
    assert max(batch_sizes) > 1 and len(batch_sizes) < 40  # the headless pipeline's batches, not one run per image
    text = window.batch_progress.text()
    assert text.startswith("40 classified, 1 failed, ") and text.endswith(" s"), text
    assert not window.batch_progress.running()


def test_drops_append_skip_files_already_listed_and_clear_empties(
    make_window, model_bank, tmp_path: Path, qtbot
) -> None:
    window = make_window(model_bank["tiny"])
    first = _images(tmp_path / "a", ["a1.png", "a2.png"])
    second = _images(tmp_path / "b", ["b1.png"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [tmp_path / "a"])
    results_before = [window.image_list.records[k].scores for k in window.image_list.records]
    classified: list[int] = []
    window.imageClassified.connect(classified.append)
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [first[0], *second])  # a1 is listed already
    assert _names(window) == ["a1.png", "a2.png", "b1.png"]
    assert len(classified) == 1  # only the new row was classified; the others kept their results
    assert [window.image_list.records[k].scores for k in list(window.image_list.records)[:2]] == results_before
    assert "1 image(s) were listed already, 1 added" in window.message_label.text()
    assert window.batch_progress.text().startswith("3 classified, 0 failed")
    window.clear_action.trigger()
    assert window.image_list.count() == 0 and window.stack.currentIndex() == EMPTY_PAGE
    assert window.batch_progress.text() == ""
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [first[1]])
    assert _names(window) == ["a2.png"] and window.stack.currentIndex() == LIST_PAGE


def test_stop_keeps_the_results_so_far_and_says_what_was_not_classified(
    make_window, model_bank, tmp_path: Path, qtbot
) -> None:
    window = make_window(model_bank["tiny"])
    _images(tmp_path / "many", [f"img_{i:03d}.png" for i in range(400)])
    with qtbot.waitSignal(window.imageClassified, timeout=15000):
        drop_paths(window, [tmp_path / "many"])
    assert window.batch_progress.running()
    assert window.batch_progress.text().startswith("Classifying ")
    with qtbot.waitSignal(window.batchFinished, timeout=5000):
        window.stop_action.trigger()
    records = list(window.image_list.records.values())
    done = sum(1 for r in records if r.scores)
    assert 1 <= done < 400
    assert sum(1 for r in records if not r.scores and r.error is None) == 400 - done
    assert window.image_list.row_texts()[-1].endswith(STOPPED)
    summary = f"{done} classified, 0 failed, {400 - done} not classified (stopped)"
    assert window.batch_progress.text().startswith(summary)
    later: list[int] = []
    window.imageClassified.connect(later.append)
    qtbot.wait(300)
    assert later == []  # nothing of the stopped pass arrives afterwards


def test_progress_and_summary_texts() -> None:
    assert progress_text(0, 520, 0.0) == "Classifying 0 / 520"
    assert progress_text(120, 520, 2.0) == "Classifying 120 / 520 · 60 img/s · 6.7 s left"
    assert summary_text(520, 4, 10.71) == "520 classified, 4 failed, 10.7 s"
    stopped = summary_text(1200, 0, 125.0, not_done=3)
    assert stopped == "1,200 classified, 0 failed, 3 not classified (stopped), 2 min 05 s"
