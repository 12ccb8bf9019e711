"""The Compare tab: ticked models on the current image side by side, in a real TaskRunner job, with real sessions.

The controller runs with a real :class:`TaskRunner` and :class:`SessionCache` on the colour model of
``tests/desktop_app/evaluate_helpers.py`` (a red image is "red" to the identity model and "green" to the
swapped one, on purpose) and Pillow-written images; the tests read the panel's columns.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_compare_view.py -q
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.catalog import ModelEntry, inspect_model
from desktop_app.core.runtime import SessionCache
from desktop_app.view.compare import NO_IMAGE, CompareController
from desktop_app.view.compare_panel import EMPTY, ColumnView, ComparePanel
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.workers import TaskRunner
from tests.desktop_app.evaluate_helpers import colour_model, write_image

SWAPPED = np.eye(3, dtype=np.float32)[[1, 0, 2]] * 4  # red <-> green: wrong on purpose
TIMEOUT = 20000


@dataclass
class Setup:
    panel: ComparePanel
    controller: CompareController
    entries: dict[str, ModelEntry]
    images: dict[str, Path]
    current: list[ImageRecord | None]
    shown: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def select(self, key: int, name: str) -> None:
        self.current[0] = ImageRecord(key, f"{name}.png", str(self.images[name]))
        self.controller.image_changed()

    def tick(self, *names: str) -> None:
        self.panel.set_checked([str(self.entries[n].path) for n in names])


@pytest.fixture
def setup(qtbot, tmp_path: Path) -> Iterator[Setup]:
    models = tmp_path / "models"
    models.mkdir()
    entries = {
        "good": inspect_model(colour_model(models / "a-good.onnx")),
        "swapped": inspect_model(colour_model(models / "b-swapped.onnx", SWAPPED)),
        "third": inspect_model(colour_model(models / "c-third.onnx")),
    }
    images = {name: write_image(tmp_path / f"{name}.png", name) for name in ("red", "blue")}
    panel = ComparePanel()
    qtbot.addWidget(panel)
    current: list[ImageRecord | None] = [None]
    shown: list[int] = []
    notes: list[str] = []
    controller = CompareController(
        panel,
        TaskRunner(),
        SessionCache(),
        engine_choice=lambda: "cpu",
        notify=lambda text, _ms: notes.append(text),
        current_image=lambda: current[0],
        show_panel=lambda: shown.append(1),
    )
    controller.set_models(list(entries.values()), entries["good"])
    result = Setup(panel, controller, entries, images, current, shown, notes)
    yield result
    assert result.controller.shutdown(10000)


def _compare(setup: Setup, qtbot) -> None:
    with qtbot.waitSignal(setup.controller.finished, timeout=TIMEOUT):
        setup.panel.compare_button.click()


def test_the_empty_state_says_what_to_do_and_the_current_model_is_ticked(setup) -> None:
    panel = setup.panel
    assert panel.empty.text() == EMPTY and "Tick two or more models" in EMPTY and not panel.has_results
    assert panel.checked_keys() == [str(setup.entries["good"].path)]
    assert panel.compare_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.compare_button.click()  # no image selected yet
    assert panel.message.text() == NO_IMAGE and not setup.controller.running
    assert setup.controller.action.shortcut().toString() == "Ctrl+Shift+C"


def test_columns_side_by_side_with_the_differences_marked(setup, qtbot) -> None:
    setup.select(1, "red")
    setup.tick("good", "swapped", "third")
    _compare(setup, qtbot)
    panel = setup.panel
    columns = panel.columns()
    assert [c.state for c in columns] == ["reference", "differs", "same"]
    assert [c.title.text() for c in columns] == [e.name for e in setup.entries.values()]
    assert columns[1].badge.text() == "top-1 differs" and columns[2].badge.text() == "same top-1"
    assert all(c.info.text().startswith("ran on ONNX Runtime CPU, fp32 · ") for c in columns)
    assert all(c.info.text().endswith("s") and "Ran: ONNX Runtime CPU, fp32" in c.info.toolTip() for c in columns)
    assert columns[0].rows()[0] == ("red", "100.0%", "", "")
    labels_marks = [(label, mark) for label, _p, _change, mark in columns[1].rows()]
    assert labels_marks == [("green", "▲2"), ("blue", "="), ("red", "▼2")]
    assert columns[1].rows()[2][2].startswith("\u2212")  # red lost almost all its probability
    assert [mark for *_rest, mark in columns[2].rows()] == ["=", "=", "="]
    assert columns[1].bars._top1_differs and not columns[2].bars._top1_differs
    assert setup.entries["swapped"].name in panel.message.text() and "preprocessing excluded" in panel.message.text()
    assert panel.image_label.text() == "Image: red.png" and not panel.legend.isHidden()
    assert panel.progress.isHidden() and not panel.cancel_button.isEnabled()
    comparison = setup.controller.comparison
    assert comparison is not None
    panel.show_comparison(comparison)  # shown again with no event loop in between (no deferred delete yet):
    assert sum(not view.isHidden() for view in panel.strip.findChildren(ColumnView)) == 3  # the old ones are gone


def test_a_new_image_re_runs_and_a_stale_run_is_dropped(setup, qtbot) -> None:
    setup.select(1, "red")
    setup.tick("good", "swapped")
    _compare(setup, qtbot)
    got: list[object] = []
    setup.controller.finished.connect(got.append)
    setup.select(2, "red")  # re-runs; then, before it ends, another image
    assert setup.controller.running
    setup.select(3, "blue")
    qtbot.waitUntil(lambda: len(got) == 1, timeout=TIMEOUT)
    setup.controller.runner.wait()
    qtbot.wait(50)
    assert len(got) == 1  # the run for image 2 never showed
    assert [c.state for c in setup.panel.columns()] == ["reference", "same"]  # both say "blue"
    assert sum(not view.isHidden() for view in setup.panel.strip.findChildren(ColumnView)) == 2
    assert setup.panel.columns()[0].rows()[0][0] == "blue" and setup.panel.image_label.text() == "Image: blue.png"
    setup.controller.image_changed()  # the same image shown again: nothing to re-run
    assert not setup.controller.running
    setup.current[0] = None
    setup.controller.image_changed()
    assert not setup.panel.has_results and setup.panel.empty.text() == NO_IMAGE


def test_cancel_stops_the_run_and_nothing_of_it_is_shown(setup, qtbot) -> None:
    setup.select(1, "red")
    setup.tick("good", "swapped", "third")
    got: list[object] = []
    setup.controller.finished.connect(got.append)
    with qtbot.waitSignal(setup.controller.cancelled, timeout=TIMEOUT):
        setup.panel.compare_button.click()
        assert setup.panel.cancel_button.isEnabled() and not setup.panel.progress.isHidden()
        assert not setup.panel.models.isEnabled()
        setup.panel.cancel_button.click()
    setup.controller.runner.wait()
    qtbot.wait(50)
    assert got == [] and not setup.panel.has_results
    assert setup.panel.message.text() == "Comparison cancelled." and setup.notes == ["Comparison cancelled"]
    assert setup.panel.compare_button.isEnabled() and setup.panel.progress.isHidden()


def test_a_model_that_fails_to_load_shows_its_error_in_its_column(setup, qtbot) -> None:
    setup.entries["swapped"].path.write_text("no longer an ONNX file\n")  # listed as usable, now broken
    setup.select(1, "red")
    setup.tick("good", "swapped", "third")
    _compare(setup, qtbot)
    columns = setup.panel.columns()
    assert [c.state for c in columns] == ["reference", "error", "same"]
    assert columns[1].badge.text() == "failed" and columns[1].rows() == [] and columns[1].bars.isHidden()
    assert columns[1].error.text().startswith("Error: ") and "b-swapped.onnx" in columns[1].error.text()
    assert columns[0].rows()[0][0] == "red" and columns[2].rows()[0][0] == "red"


def test_an_unreadable_image_is_a_message_naming_it(setup, qtbot, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    setup.current[0] = ImageRecord(7, "broken.png", str(broken))
    setup.tick("good", "swapped")
    with qtbot.waitSignal(setup.controller.failed, timeout=TIMEOUT) as blocker:
        setup.panel.compare_button.click()
    assert "broken.png" in blocker.args[0]
    assert "broken.png" in setup.panel.message.text() and not setup.panel.has_results


def test_the_action_brings_the_tab_forward_and_compares(setup, qtbot) -> None:
    setup.select(1, "red")
    setup.tick("good", "swapped")
    with qtbot.waitSignal(setup.controller.finished, timeout=TIMEOUT):
        setup.controller.action.trigger()
    assert setup.shown == [1] and len(setup.panel.columns()) == 2


def test_ticks_are_kept_by_file_across_rescans(setup) -> None:
    setup.tick("swapped", "third")
    entries = list(setup.entries.values())
    setup.controller.set_models(entries[::-1], entries[0])
    assert sorted(setup.panel.checked_keys()) == sorted(str(setup.entries[n].path) for n in ("swapped", "third"))
    setup.controller.set_models([], None)
    assert setup.panel.models.count() == 0 and not setup.panel.compare_button.isEnabled()
