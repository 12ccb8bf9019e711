"""The Timing tab profiles a model on the engine it was loaded on (issue 17): OpenVINO's per-layer counters in module
names with the kernel column, its groupings (depth, op type, kernel), its CSV/JSON export, Cancel, and ONNX Runtime
models profiled as before.

Real OpenVINO and ONNX Runtime on the session's tiny workbench model (``zoo``), a real photo, the real controller,
TaskRunner and panel.
``QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_timing_openvino.py -q -n 0``
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino): no OpenVINO engine to test")

from desktop_app import cli_engine
from desktop_app.core.catalog import inspect_model
from desktop_app.core.openvino_engine import OpenVinoModel, load_openvino
from desktop_app.core.openvino_profiling import profile_openvino
from desktop_app.core.profiling import ProfileCancelled, ProfileReport, input_batch
from desktop_app.core.runtime import EngineModel, load_model
from desktop_app.view import profiling_backend as pb
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.timing import TimingController, suggested_name
from desktop_app.view.timing_panel import NODES, OP_TYPES, PROVIDERS, TimingPanel
from desktop_app.view.workers import TaskRunner
from tests.desktop_app.helpers import Zoo
from tests.helpers import DATA

PHOTO = DATA / "chelsea.png"


def _controller(
    qtbot: Any, request: pytest.FixtureRequest, models: list[EngineModel], tmp_path: Path
) -> TimingController:
    """A controller on a panel; the current model is ``models[-1]`` (append to switch), chelsea.png selected;
    its worker is stopped and waited for when the test ends."""
    panel = TimingPanel()
    qtbot.addWidget(panel)
    runner = TaskRunner()

    def stop() -> None:
        runner.cancel_all()
        runner.wait(20000)

    request.addfinalizer(stop)
    controller = TimingController(
        panel,
        runner,
        notify=lambda _text, _ms: None,
        current_model=lambda: models[-1],
        current_image=lambda: ImageRecord(key=1, title=PHOTO.name, source=str(PHOTO)),
        show_panel=lambda: None,
        start_folder=lambda: str(tmp_path),
    )
    panel.runs.setValue(3)
    return controller


def _profiled(qtbot: Any, controller: TimingController) -> Any:
    with qtbot.waitSignal(controller.profiled, timeout=30000) as blocker:
        controller.panel.profile_button.click()
    return blocker.args[0]


def _header(panel: TimingPanel, column: int) -> str:
    item = panel.table.horizontalHeaderItem(column)
    return item.text() if item is not None else ""


def _shares(rows: list[tuple[str, ...]]) -> float:
    return sum(float(r[4].rstrip("%")) for r in rows)


def _group(panel: TimingPanel, grouping: int) -> list[tuple[str, ...]]:
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(grouping))
    return panel.table_rows()


def _ov(zoo: Zoo) -> OpenVinoModel:
    return load_openvino(inspect_model(zoo.workbench), "CPU")


def test_openvino_model_is_timed_on_openvino_named_by_module(
    qtbot, zoo: Zoo, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ov_model = _ov(zoo)
    controller = _controller(qtbot, request, [ov_model], tmp_path)
    report = _profiled(qtbot, controller)
    assert isinstance(report, pb.OpenVinoReport) and report.profile.runs == 3
    panel = controller.panel
    assert panel.current_depth() == NODES
    rows = panel.table_rows()
    assert {"conv1", "layer1.0", "fc"} <= {r[0] for r in rows}
    assert all(r[2] and r[2] != "undef" for r in rows)  # the kernel that ran each layer
    assert any("Convolution" in r[1] for r in rows)
    assert abs(_shares(rows) - 100.0) < 1.0
    assert [_header(panel, c) for c in (0, 2, 5)] == ["Module", "Kernel", "p90 (ms)"]
    assert all(float(r[5]) >= float(r[3]) for r in rows)  # p90 >= median
    text = panel.summary.text()
    found = report.profile
    assert f"Ran on OpenVINO CPU, {ov_model.precision}" in text and "ONNX Runtime" not in text
    assert f"{len(found.rows)} layers, {found.not_run} not run (fused)" in text and found.not_run >= 1
    assert f"{found.mapped_share():.1f}% of the time named by module" in text
    assert "outside the layers OpenVINO timed" in text or "more than the wall time" in text
    assert "first run" not in text  # OpenVINO's profile has none: never a made-up number
    assert panel.depth_combo.findText("Kernel") >= 0 and panel.depth_combo.findText("Provider") < 0


def test_openvino_groupings_by_depth_op_type_and_kernel(
    qtbot, zoo: Zoo, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ov_model = _ov(zoo)
    controller = _controller(qtbot, request, [ov_model], tmp_path)
    _profiled(qtbot, controller)
    panel = controller.panel
    layers = panel.table_rows()
    blocks = _group(panel, 1)
    assert {"conv1", "layer1", "fc"} <= {r[0] for r in blocks} and all("." not in r[0] for r in blocks)
    assert len(blocks) < len(layers) and abs(_shares(blocks) - 100.0) < 1.0
    assert panel.table.horizontalHeader().sectionSize(2) <= 220  # a block's kernel list elides, never squeezes
    kernels = panel.table.item(0, 2)
    assert kernels is not None and kernels.toolTip() and blocks[0][2] in kernels.toolTip()  # the whole list
    by_op = _group(panel, OP_TYPES)
    assert _header(panel, 0) == "Op type" and "Convolution" in {r[0] for r in by_op}
    assert {r[0] for r in by_op} == {r[1] for r in layers}
    by_kernel = _group(panel, PROVIDERS)
    assert _header(panel, 0) == "Kernel" and _header(panel, 2) == "Kernel"
    assert {r[0] for r in by_kernel} == {r[2] for r in layers}
    assert abs(_shares(by_kernel) - 100.0) < 1.0
    _group(panel, 2)
    assert _header(panel, 0) == "Module"


def test_openvino_export_writes_the_profile_commands_csv_and_json(
    qtbot, zoo: Zoo, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ov_model = _ov(zoo)
    controller = _controller(qtbot, request, [ov_model], tmp_path)
    report = _profiled(qtbot, controller)
    assert suggested_name(report, "csv") == f"{zoo.workbench.stem}-timing.csv"
    layers_csv = controller.export(tmp_path / "layers.csv", "csv").read_text(encoding="utf-8")
    assert layers_csv == cli_engine.openvino_profile_csv(report.profile)  # what profile --engine openvino --csv writes
    table = list(csv.DictReader(io.StringIO(layers_csv)))
    assert {"conv1", "layer1.0", "fc"} <= {r["module"] for r in table} and all(r["kernel"] for r in table)
    record = json.loads(controller.export(tmp_path / "layers.json", "json").read_text(encoding="utf-8"))
    expected = cli_engine.openvino_profile_json(ov_model, report.profile, False, image=record["image"])
    assert record == json.loads(expected) and record["model_sha256"] and record["image"] is not None
    assert record["engine"] == "openvino" and record["device"] == "CPU" and record["runs"] == 3
    assert len(record["rows"]) == len(report.profile.rows) and record["not_run"] == report.profile.not_run
    controller.panel.depth_combo.setCurrentIndex(controller.panel.depth_combo.findData(1))
    blocks = json.loads(controller.export(tmp_path / "blocks.json", "json").read_text(encoding="utf-8"))
    assert (blocks["group_by"], blocks["depth"]) == ("module", 1)
    assert {"conv1", "layer1", "fc"} <= {r["group"] for r in blocks["rows"]}
    controller.panel.depth_combo.setCurrentIndex(controller.panel.depth_combo.findData(PROVIDERS))
    by_kernel = list(csv.DictReader(io.StringIO(controller.export(tmp_path / "kernels.csv", "csv").read_text())))
    assert {r["group"] for r in by_kernel} == {row.kernel for row in report.profile.rows}
    assert abs(sum(float(r["share_percent"]) for r in by_kernel) - 100.0) < 0.1


def test_cancel_stops_an_openvino_profile(
    qtbot, zoo: Zoo, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised: list[BaseException] = []
    real = pb.profile_openvino

    def watched(*args: Any, **kwargs: Any) -> Any:  # the real profiler, recording how it ended
        try:
            return real(*args, **kwargs)
        except ProfileCancelled as exc:
            raised.append(exc)
            raise

    monkeypatch.setattr(pb, "profile_openvino", watched)
    ov_model = _ov(zoo)
    controller = _controller(qtbot, request, [ov_model], tmp_path)
    panel = controller.panel
    panel.runs.setValue(1000)
    with qtbot.waitSignal(controller.profileCancelled, timeout=5000):
        panel.profile_button.click()
        assert panel.profile_button.text() == "Cancel"
        panel.profile_button.click()
    assert controller.runner.wait(20000)
    assert len(raised) == 1 and "of 1003 runs" in str(raised[0])
    assert controller.report is None and panel.profile_button.text() == "Profile"
    assert "Profiling cancelled." in panel.summary.text()
    assert not panel.csv_button.isEnabled()


def test_profile_openvino_reports_progress_and_cancels(zoo: Zoo) -> None:
    ov_model = _ov(zoo)
    batch = input_batch(ov_model.entry, None)
    seen: list[tuple[int, int]] = []
    profile = profile_openvino(ov_model, batch, 2, 1, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)] and profile.runs == 2
    seen.clear()
    with pytest.raises(ProfileCancelled, match="after 2 of 6 runs"):
        profile_openvino(
            ov_model, batch, 5, 1, progress=lambda d, t: seen.append((d, t)), cancelled=lambda: len(seen) >= 2
        )
    assert seen == [(1, 6), (2, 6)]


def test_onnxruntime_model_profiles_as_before_then_openvino(
    qtbot, zoo: Zoo, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ov_model = _ov(zoo)
    models: list[EngineModel] = [load_model(inspect_model(zoo.workbench), "cpu")]
    controller = _controller(qtbot, request, models, tmp_path)
    report = _profiled(qtbot, controller)
    panel = controller.panel
    assert isinstance(report, ProfileReport) and report.engine == "onnxruntime"
    assert [_header(panel, c) for c in (2, 5)] == ["Provider", "First run (ms)"]
    assert {r[2] for r in panel.table_rows()} == {"CPU"}
    text = panel.summary.text()
    assert "first run" in text and "ONNX Runtime" in text and "OpenVINO" not in text
    assert panel.depth_combo.findText("Provider") >= 0
    models.append(ov_model)  # the window switched engines: the next profile runs on OpenVINO
    assert isinstance(_profiled(qtbot, controller), pb.OpenVinoReport)
    assert _header(panel, 2) == "Kernel" and "CPU" not in {r[2] for r in panel.table_rows()}
    models.append(models[0])
    assert isinstance(_profiled(qtbot, controller), ProfileReport)
    assert [_header(panel, c) for c in (2, 5)] == ["Provider", "First run (ms)"]
    assert panel.depth_combo.findText("Kernel") < 0
