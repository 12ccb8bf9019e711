"""The Inspect tab: every layer of the tiny TinyNet file in a real TaskRunner job, feature maps, the SQNR A/B.

The second file is a copy with layer1.0's weights perturbed (so SQNR is infinite before it and finite
from it on), or another architecture (refused with the reason).

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_inspect_view.py -q -n 0
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from desktop_app.core.catalog import ModelEntry, inspect_model
from desktop_app.core.runtime import LoadedModel, SessionCache, load_model
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.inspect import NO_IMAGE, InspectController, Inspection
from desktop_app.view.inspect_panel import COLUMNS, SQNR_COLUMN, InspectPanel
from desktop_app.view.workers import TaskRunner
from tests.desktop_app.helpers import TINY_SIZE, Zoo
from tests.desktop_app.test_inspect_layers import perturbed_copy
from tests.desktop_app.view.helpers import build_model
from tests.helpers import PHOTOS

TIMEOUT = 20000


@dataclass
class Setup:
    panel: InspectPanel
    controller: InspectController
    model: list[LoadedModel | None]
    current: list[ImageRecord | None]
    images: dict[str, Path]
    entries: dict[str, ModelEntry]
    notes: list[str] = field(default_factory=list)

    def select(self, key: int, name: str) -> None:
        self.current[0] = ImageRecord(key, f"{name}.png", str(self.images[name]))
        self.controller.image_changed()


@pytest.fixture
def setup(qtbot, tmp_path: Path, zoo: Zoo) -> Iterator[Setup]:
    images = {"cat": tmp_path / "cat.png", "coffee": tmp_path / "coffee.png"}
    Image.open(PHOTOS["chelsea"]).convert("RGB").resize((60, 45)).save(images["cat"])
    Image.open(PHOTOS["coffee"]).convert("RGB").resize((50, 50)).save(images["coffee"])
    entries = {
        "fp32": inspect_model(zoo.workbench),
        "noisy": inspect_model(perturbed_copy(zoo, tmp_path / "tinynet-noisy.onnx")),
        "other": inspect_model(build_model(tmp_path / "othernet.onnx", architecture="othernet", size=TINY_SIZE)),
    }
    panel = InspectPanel()
    qtbot.addWidget(panel)
    panel.show()  # maps follow new images and models only while the tab is on show
    model: list[LoadedModel | None] = [load_model(entries["fp32"], "cpu")]
    current: list[ImageRecord | None] = [None]
    notes: list[str] = []
    controller = InspectController(
        panel,
        TaskRunner(),
        SessionCache(),
        provider=lambda: "cpu",
        notify=lambda text, _ms: notes.append(text),
        current_model=lambda: model[0],
        current_image=lambda: current[0],
        show_panel=lambda: None,
    )
    controller.set_models(list(entries.values()))
    result = Setup(panel, controller, model, current, images, entries, notes)
    yield result
    assert controller.shutdown(10000)


def _inspect(qtbot, setup: Setup) -> Inspection:
    with qtbot.waitSignal(setup.controller.inspected, timeout=TIMEOUT) as blocker:
        setup.controller.inspect()
    return blocker.args[0]


def test_layer_table_and_feature_maps(qtbot, setup: Setup) -> None:
    setup.controller.inspect()
    assert setup.panel.message.text() == NO_IMAGE
    setup.select(1, "cat")
    shown = _inspect(qtbot, setup)
    assert shown.comparison is None and setup.panel.table.isColumnHidden(SQNR_COLUMN)
    modules = setup.panel.modules()
    assert modules == [r.module for r in shown.run.rows] and modules[:3] == ["conv1", "relu", "layer1.0"]
    assert setup.panel.cell(0, COLUMNS.index("Shape")) == "1x8x16x16"
    assert setup.panel.selected_layer() == "conv1"  # the first layer with feature maps is selected
    assert not setup.panel.maps.pixmap().isNull() and "8 channels" in setup.panel.maps_label.text()
    setup.panel.select_layer("fc")
    assert setup.panel.maps.pixmap().isNull() and "no feature maps" in setup.panel.maps_label.text()
    assert "Choose a second file" in setup.panel.ab_label.text()
    assert shown.ran == "ONNX Runtime CPU" and setup.panel.message.text().endswith("· ran on ONNX Runtime CPU")


def test_ab_against_a_perturbed_copy_and_threshold(qtbot, setup: Setup, tmp_path: Path) -> None:
    setup.select(1, "cat")
    _inspect(qtbot, setup)
    with qtbot.waitSignal(setup.controller.inspected, timeout=TIMEOUT) as blocker:
        setup.panel.set_compare_key(str(setup.entries["noisy"].path))  # re-runs by itself once inspected
    comparison = blocker.args[0].comparison
    assert comparison is not None and comparison.other.path == setup.entries["noisy"].path
    by_module = {r.module: r.sqnr_db for r in comparison.rows}
    assert math.isinf(by_module["conv1"]) and math.isfinite(by_module["layer1.0"])
    assert not setup.panel.table.isColumnHidden(SQNR_COLUMN)
    assert setup.panel.cell(0, SQNR_COLUMN) == "inf"
    assert [name for name, _ in setup.panel.chart.points] == [r.module for r in comparison.rows]
    threshold = by_module["layer1.0"] + 1
    setup.panel.threshold.setValue(threshold)  # no job: the chart and the line follow
    assert not setup.controller.running
    assert setup.panel.chart.first_below() == "layer1.0"
    assert "first below" in setup.panel.ab_label.text() and "layer1.0" in setup.panel.ab_label.text()
    setup.panel.threshold.setValue(-40)
    assert setup.panel.chart.first_below() is None and "every layer at or above" in setup.panel.ab_label.text()

    target = tmp_path / "out" / "layers"
    target.parent.mkdir()
    with qtbot.waitSignal(setup.controller.exported, timeout=TIMEOUT):
        setup.controller.export_csv(target)
    rows = list(csv.DictReader(target.with_suffix(".csv").open(encoding="utf-8")))
    assert [r["module"] for r in rows[:2]] == ["conv1", "relu"] and rows[0]["sqnr_db"] == "inf"
    assert [p.name for p in target.parent.iterdir()] == ["layers.csv"]


def test_another_architecture_is_refused(qtbot, setup: Setup) -> None:
    setup.select(1, "cat")
    setup.panel.set_compare_key(str(setup.entries["other"].path))
    with qtbot.waitSignal(setup.controller.failed, timeout=TIMEOUT) as failed:
        setup.controller.inspect()
    assert "architecture othernet is not tinynet" in failed.args[0]
    assert setup.panel.table.rowCount() == 0 and setup.controller.inspection is None


def test_stale_table_is_dropped(qtbot, setup: Setup) -> None:
    setup.select(1, "cat")
    shown: list[Inspection] = []
    setup.controller.inspected.connect(shown.append)
    setup.controller.inspect()
    setup.select(2, "coffee")  # the cat's run is still going: it must never show
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT)
    assert setup.controller.runner.wait(10000)
    qtbot.wait(50)
    assert [i.key for i in shown] == [2]
    assert len(setup.controller.sessions) == 1  # one layer session for the file, reused


def test_model_change_offers_the_other_files(qtbot, setup: Setup) -> None:
    texts = [setup.panel.compare.itemText(i) for i in range(setup.panel.compare.count())]
    assert texts[0] == "(no comparison)" and len(texts) == 3  # every file but the loaded one
    setup.model[0] = load_model(setup.entries["noisy"], "cpu")
    setup.controller.model_changed(setup.model[0])
    keys = [setup.panel.compare.itemData(i) for i in range(setup.panel.compare.count())]
    assert str(setup.entries["fp32"].path) in keys and str(setup.entries["noisy"].path) not in keys


def test_hidden_tab_waits_until_shown(qtbot, setup: Setup) -> None:
    setup.select(1, "cat")
    _inspect(qtbot, setup)
    setup.panel.hide()
    setup.select(2, "coffee")  # hidden: no job now
    assert not setup.controller.running
    with qtbot.waitSignal(setup.controller.inspected, timeout=TIMEOUT) as blocker:
        setup.panel.show()
    assert blocker.args[0].title == "coffee.png"
