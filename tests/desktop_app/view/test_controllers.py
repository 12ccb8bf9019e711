"""The view's controllers work on the collaborators they are given, with no main window anywhere.

The batch and timing controllers are built here from real widgets, a real job runner and real ONNX
Runtime sessions of small models written with ``onnx.helper``; a source check makes sure that no view
module imports the window it is part of (the import circles of issue 14).

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_controllers.py -q
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel, QStackedWidget

import desktop_app
from desktop_app.core.runtime import LoadedModel, SessionCache
from desktop_app.view import backend
from desktop_app.view.batch import EMPTY_PAGE, LIST_PAGE, BatchController
from desktop_app.view.batch_progress import BatchProgress
from desktop_app.view.image_list import ImageList
from desktop_app.view.result_panel import ResultPanel
from desktop_app.view.timing import TimingController
from desktop_app.view.timing_panel import TimingPanel
from desktop_app.view.workers import TaskRunner

VIEW = Path(desktop_app.__file__).resolve().parent / "view"


@pytest.fixture
def runner(qtbot) -> Iterator[TaskRunner]:
    jobs = TaskRunner(max_threads=2)
    yield jobs
    jobs.cancel_all()
    assert jobs.wait(30000)


@pytest.fixture
def tiny_model(model_bank, models_dir: Path) -> LoadedModel:
    """The tiny test model opened on the CPU, as the window would (through the view's backend)."""
    shutil.copy(model_bank["tiny"], models_dir)
    (entry,) = backend.scan(models_dir)
    return backend.load(SessionCache(), entry, "cpu").model


def _batch(qtbot, runner: TaskRunner, model: LoadedModel | None, messages: list[tuple[str, int]]):
    image_list, progress, result_panel, stack = ImageList(), BatchProgress(), ResultPanel(), QStackedWidget()
    stack.addWidget(QLabel("empty"))
    stack.addWidget(image_list)
    qtbot.addWidget(stack)
    qtbot.addWidget(result_panel)
    qtbot.addWidget(progress)
    batch = BatchController(
        image_list,
        progress,
        result_panel,
        stack,
        runner,
        notify=lambda text, msecs: messages.append((text, msecs)),
        current_model=lambda: model,
        model_chosen=lambda: model is not None,
    )
    return batch, image_list, result_panel, stack


def test_batch_controller_classifies_into_the_widgets_it_is_given(qtbot, runner, tiny_model, photos) -> None:
    messages: list[tuple[str, int]] = []
    batch, image_list, result_panel, stack = _batch(qtbot, runner, tiny_model, messages)
    shown: list[None] = []
    batch.currentShown.connect(lambda: shown.append(None))
    with qtbot.waitSignal(batch.finished, timeout=15000):
        batch.add_paths([str(photos["chelsea"].parent)])  # the folder: chelsea.png and sub/coffee.png
    assert stack.currentIndex() == LIST_PAGE
    rows = image_list.row_texts()
    assert [r.splitlines()[0] for r in rows] == ["chelsea.png", "coffee.png"]
    assert all("%" in r.splitlines()[1] for r in rows)
    assert len(result_panel.rows()) == 5  # the first row is current: its top-5 is shown
    assert shown and batch.pending == 0 and messages == []


def test_batch_controller_without_a_model_says_so_and_an_empty_drop_goes_back(qtbot, runner, tmp_path) -> None:
    messages: list[tuple[str, int]] = []
    batch, image_list, _panel, stack = _batch(qtbot, runner, None, messages)
    batch.add_sources([str(tmp_path / "cat.png")])
    assert image_list.row_texts() == ["cat.png\nno model loaded"]
    assert stack.currentIndex() == LIST_PAGE
    batch.add_sources([])
    assert stack.currentIndex() == LIST_PAGE  # a drop adds to the list: an empty one leaves it as it is
    assert messages == [("No images found in the 0 item(s)", 10000)]
    batch.clear()
    assert stack.currentIndex() == EMPTY_PAGE and image_list.count() == 0


def test_timing_controller_profiles_the_model_and_image_it_is_asked_for(qtbot, runner, tiny_model, tmp_path) -> None:
    panel = TimingPanel()
    qtbot.addWidget(panel)
    messages: list[str] = []
    shown: list[None] = []
    timing = TimingController(
        panel,
        runner,
        notify=lambda text, msecs: messages.append(text),
        current_model=lambda: tiny_model,
        current_image=lambda: None,  # no image selected: a grey input
        show_panel=lambda: shown.append(None),
        start_folder=lambda: str(tmp_path),
    )
    with pytest.raises(ValueError, match=r"timing\.csv: nothing to export yet"):
        timing.export(tmp_path / "timing.csv", "csv")
    with qtbot.waitSignal(timing.profiled, timeout=30000):
        timing.action.trigger()
        assert not timing.action.isEnabled()  # the controller's own Profile action is locked while it runs
    assert timing.action.isEnabled() and len(shown) == 1
    assert "synthetic grey input" in panel.summary.text()
    assert panel.table_rows() and timing.report is not None and timing.report.runs == panel.runs.value()
    written = timing.export(tmp_path / "timing.csv", "csv")
    assert written.read_text(encoding="utf-8").startswith("module") and messages == [f"Wrote {written}"]


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any level (inside ``if TYPE_CHECKING:`` too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_view_module_but_the_entry_point_imports_the_window() -> None:
    importers = sorted(p.name for p in VIEW.glob("*.py") if "desktop_app.view.main_window" in _imported_modules(p))
    assert importers == ["app.py"]
