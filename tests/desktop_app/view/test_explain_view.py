"""The Explain tab: CAM and occlusion maps of the current image in real TaskRunner jobs, on real tiny ONNX files.

The models are the view tests' tiny classifiers (``tests/desktop_app/view/helpers.py``: GAP + Gemm, so CAM
applies) and a VGG-like head (no GAP: CAM does not apply, Auto falls back to occlusion).

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_explain_view.py -q -n 0
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_app.core.cam import crop_box
from desktop_app.core.catalog import inspect_model
from desktop_app.core.runtime import LoadedModel, SessionCache, load_model
from desktop_app.view.explain import NO_IMAGE, NO_MODEL, ExplainController, Explanation
from desktop_app.view.explain_panel import ExplainPanel
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.workers import TaskRunner
from tests.desktop_app.helpers import TINY_SIZE, export_onnx, tiny_card, write_card
from tests.desktop_app.test_explain_cli import VggLike
from tests.desktop_app.view.helpers import build_model
from tests.helpers import PHOTOS

TIMEOUT = 20000


@dataclass
class Setup:
    panel: ExplainPanel
    controller: ExplainController
    model: list[LoadedModel | None]
    current: list[ImageRecord | None]
    images: dict[str, Path]
    notes: list[str] = field(default_factory=list)

    def select(self, key: int, name: str) -> None:
        self.current[0] = ImageRecord(key, f"{name}.png", str(self.images[name]))
        self.controller.image_changed()


def _load(path: Path) -> LoadedModel:
    return load_model(inspect_model(path), "cpu")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explain-models")
    vgg = root / "vgglike-tiny-10-fp32.onnx"
    exported = export_onnx(VggLike().eval(), vgg, (1, 3, TINY_SIZE, TINY_SIZE))
    write_card(vgg, exported, tiny_card(exported, None))
    return {
        "tiny": build_model(root / "tinynet-a.onnx", trained=True),
        "other": build_model(root / "tinynet-b.onnx", trained=True, seed=5),
        "medium": build_model(root / "medium.onnx", trained=True, size=160, channels=24, seed=6),
        "vgg": vgg,
    }


@pytest.fixture
def setup(qtbot, tmp_path: Path, models: dict[str, Path]) -> Iterator[Setup]:
    images = {"cat": tmp_path / "cat.png", "coffee": tmp_path / "coffee.png"}
    Image.open(PHOTOS["chelsea"]).convert("RGB").resize((150, 100)).save(images["cat"])
    Image.open(PHOTOS["coffee"]).convert("RGB").resize((120, 120)).save(images["coffee"])
    panel = ExplainPanel()
    qtbot.addWidget(panel)
    panel.show()  # maps follow new images and models only while the tab is on show
    model: list[LoadedModel | None] = [_load(models["tiny"])]
    current: list[ImageRecord | None] = [None]
    notes: list[str] = []
    controller = ExplainController(
        panel,
        TaskRunner(),
        SessionCache(),
        provider=lambda: "cpu",
        notify=lambda text, _ms: notes.append(text),
        current_model=lambda: model[0],
        current_image=lambda: current[0],
        show_panel=lambda: None,
    )
    result = Setup(panel, controller, model, current, images, notes)
    yield result
    assert controller.shutdown(10000)


def _explain(qtbot, setup: Setup) -> Explanation:
    with qtbot.waitSignal(setup.controller.mapShown, timeout=TIMEOUT) as blocker:
        setup.controller.explain()
    return blocker.args[0]


def test_cam_map_with_top5_buttons_and_overlay(qtbot, setup: Setup, tmp_path: Path) -> None:
    setup.select(1, "cat")
    shown = _explain(qtbot, setup)
    assert shown.method == "contrastive" and shown.note == ""  # Auto's choice for a GAP + linear head
    assert shown.result.map.shape == (100, 150)
    assert shown.display_map.shape == (shown.display.height, shown.display.width)
    assert len(setup.panel.class_texts()) == 5
    probabilities = [p for _, _, p in shown.classes]
    assert probabilities == sorted(probabilities, reverse=True)
    assert setup.panel.checked_class() == shown.classes[0][0] == shown.result.class_index
    assert "contrastive CAM" in setup.panel.method_label.text()
    assert "map by contrastive CAM for cat.png · ran on ONNX Runtime CPU" in setup.panel.message.text()
    assert not setup.panel.view.pixmap().isNull() and setup.panel.save_button.isEnabled()
    # the centre crop cuts the sides of a 3:2 image off: NaN there, [0, 1] inside
    preprocess = setup.model[0].entry.preprocess if setup.model[0] else None
    assert preprocess is not None
    left, top, right, bottom = (round(v) for v in crop_box(preprocess, (150, 100)))
    assert np.isnan(shown.result.map[:, 0]).all() and left > 0
    assert np.isfinite(shown.result.map[top + 1 : bottom - 1, left + 1 : right - 1]).all()
    assert np.nanmax(shown.result.map) == pytest.approx(1.0) and np.nanmin(shown.result.map) == pytest.approx(0.0)
    assert len(setup.controller.sessions) == 1

    second = shown.classes[3][0]
    with qtbot.waitSignal(setup.controller.mapShown, timeout=TIMEOUT) as blocker:
        setup.panel.classes.button(second).click()
    other = blocker.args[0]
    assert other.result.class_index == second and other.method == "contrastive"
    assert not np.allclose(np.nan_to_num(other.result.map), np.nan_to_num(shown.result.map))
    assert len(setup.controller.sessions) == 1  # the CAM session was reused

    target = tmp_path / "out" / "overlay"
    target.parent.mkdir()
    with qtbot.waitSignal(setup.controller.saved, timeout=TIMEOUT) as saved:
        setup.controller.save_overlay(target)
    assert saved.args[0].endswith("overlay.png")
    written = Image.open(target.with_suffix(".png"))
    assert written.format == "PNG" and written.size == (150, 100)
    assert [p.name for p in target.parent.iterdir()] == ["overlay.png"]  # atomic: no temporary left


def test_opacity_redraws_without_a_job(qtbot, setup: Setup) -> None:
    setup.select(1, "cat")
    _explain(qtbot, setup)
    before = setup.panel.view.pixmap().toImage()
    setup.panel.opacity.setValue(100)
    assert not setup.controller.running
    assert setup.panel.view.pixmap().toImage() != before


def test_stale_map_is_dropped(qtbot, setup: Setup) -> None:
    setup.select(1, "cat")
    shown: list[Explanation] = []
    setup.controller.mapShown.connect(shown.append)
    setup.controller.explain()
    setup.select(2, "coffee")  # the cat's run is still going: it must never show
    qtbot.waitUntil(lambda: bool(shown), timeout=TIMEOUT)
    assert setup.controller.runner.wait(10000)
    qtbot.wait(50)
    assert [e.key for e in shown] == [2]
    assert setup.controller.explanation is not None and setup.controller.explanation.title == "coffee.png"


def test_auto_falls_back_to_occlusion_and_cam_is_refused(qtbot, setup: Setup, models: dict[str, Path]) -> None:
    setup.model[0] = _load(models["vgg"])
    setup.controller.model_changed(setup.model[0])
    setup.select(1, "cat")
    shown = _explain(qtbot, setup)
    assert shown.method == "occlusion" and "vgglike-tiny-10-fp32.onnx: no class activation map" in shown.note
    assert "occlusion" in setup.panel.method_label.text() and "CAM does not apply" in setup.panel.method_label.text()
    assert np.nanmax(shown.result.map) <= 1.0
    with qtbot.waitSignal(setup.controller.failed, timeout=TIMEOUT) as failed:
        setup.panel.method.setCurrentIndex(setup.panel.method.findData("cam"))  # re-runs with CAM: refused
    assert "choose Occlusion" in failed.args[0] and "vgglike" in failed.args[0]
    assert setup.controller.explanation is None and not setup.panel.save_button.isEnabled()


def test_cancel_occlusion(qtbot, setup: Setup, models: dict[str, Path]) -> None:
    setup.model[0] = _load(models["medium"])
    setup.controller.model_changed(setup.model[0])
    setup.panel.method.setCurrentIndex(setup.panel.method.findData("occlusion"))
    setup.select(1, "cat")
    shown: list[Explanation] = []
    setup.controller.mapShown.connect(shown.append)
    setup.controller.explain()
    assert setup.panel.cancel_button.isVisibleTo(setup.panel)
    qtbot.waitUntil(lambda: setup.panel.progress.maximum() > 1, timeout=TIMEOUT)  # the first batch reported
    with qtbot.waitSignal(setup.controller.cancelled, timeout=TIMEOUT):
        setup.panel.cancel_button.click()
    assert setup.controller.runner.wait(10000)
    qtbot.wait(50)
    assert shown == [] and not setup.controller.running
    assert not setup.panel.progress.isVisibleTo(setup.panel)
    assert setup.notes[-1] == "Explanation cancelled"
    setup.select(2, "coffee")  # cancelled: a new image does not start a run by itself
    assert not setup.controller.running


def test_model_change_reruns_and_missing_inputs_are_said(qtbot, setup: Setup, models: dict[str, Path]) -> None:
    setup.controller.explain()
    assert setup.panel.message.text() == NO_IMAGE
    setup.select(1, "cat")
    first = _explain(qtbot, setup)
    with qtbot.waitSignal(setup.controller.mapShown, timeout=TIMEOUT) as blocker:
        setup.model[0] = _load(models["other"])
        setup.controller.model_changed(setup.model[0])
    assert blocker.args[0].model_path == models["other"] != first.model_path
    setup.model[0] = None
    setup.controller.model_changed(None)
    assert setup.panel.message.text() == NO_MODEL and setup.controller.explanation is None


def test_unreadable_image_fails_with_its_name(qtbot, setup: Setup, tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    setup.images["broken"] = bad
    with qtbot.waitSignal(setup.controller.failed, timeout=TIMEOUT) as failed:
        setup.select(1, "broken")
        setup.controller.explain()
    assert "broken.png" in failed.args[0]


def test_hidden_tab_waits_until_shown(qtbot, setup: Setup) -> None:
    setup.select(1, "cat")
    _explain(qtbot, setup)
    setup.panel.hide()
    setup.select(2, "coffee")  # hidden: no job now
    assert not setup.controller.running
    with qtbot.waitSignal(setup.controller.mapShown, timeout=TIMEOUT) as blocker:
        setup.panel.show()
    assert blocker.args[0].title == "coffee.png"


def test_an_openvino_model_is_explained_and_the_tab_says_what_ran(qtbot, setup: Setup, models: dict[str, Path]) -> None:
    """CAM runs an ONNX Runtime copy of the graph (said, with the window's engine); occlusion runs the model itself."""
    from desktop_app.core.openvino_engine import load_openvino

    setup.model[0] = load_openvino(inspect_model(models["tiny"]))  # type: ignore[assignment]
    setup.controller.model_changed(setup.model[0])
    setup.select(1, "cat")
    shown = _explain(qtbot, setup)
    assert shown.ran == "ONNX Runtime CPU"
    text = setup.panel.message.text()
    assert "ran on ONNX Runtime CPU (an ONNX Runtime copy of the graph; the window's model runs on OpenVINO CPU" in text
    with qtbot.waitSignal(setup.controller.mapShown, timeout=TIMEOUT) as blocker:
        setup.panel.method.setCurrentIndex(setup.panel.method.findData("occlusion"))
    assert blocker.args[0].ran.startswith("OpenVINO CPU") and "ran on OpenVINO CPU" in setup.panel.message.text()
