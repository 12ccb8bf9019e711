"""The window's Engine choice reaches the Evaluate and Compare tabs: with OpenVINO chosen each model of a run is
opened on OpenVINO and the table, the report and the columns say so; with ONNX Runtime CPU it is ONNX Runtime.

Real windows, real OpenVINO and ONNX Runtime sessions of small models: the colour model of
``tests/desktop_app/evaluate_helpers.py`` (answers known by hand) for Evaluate, the ten-class tiny models of
``model_bank`` and two real photos for Compare. Screenshots of both tabs go to /tmp/engine_tabs_*.png.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_engine_tabs.py -q -n 0
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino): no OpenVINO engine to test")

from desktop_app.core.catalog import inspect_model
from desktop_app.core.openvino_engine import bf16_support
from desktop_app.core.overrides import OverrideStore, PreprocessOverrides
from desktop_app.core.overrides_store import file_sha256
from desktop_app.core.runtime import load_model
from desktop_app.view import backend
from desktop_app.view.main_window import MainWindow
from desktop_app.view.settings import AppSettings
from tests.desktop_app.evaluate_helpers import colour_model, image_folder
from tests.desktop_app.test_evaluate import COUNTS
from tests.desktop_app.view.helpers import drop_paths
from workbench.imageio import load_image

NATIVE_BF16 = bf16_support("CPU") is None
SWAPPED = np.eye(3, dtype=np.float32)[[1, 0, 2]] * 4  # red <-> green: wrong on purpose
TIMEOUT = 30000


@pytest.fixture
def colours(tmp_path: Path) -> list[Path]:
    bank = tmp_path / "bank"
    bank.mkdir()
    return [colour_model(bank / "a-good.onnx"), colour_model(bank / "b-bad.onnx", SWAPPED)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return image_folder(tmp_path / "data", COUNTS)


def _openvino_refuses(path: Path) -> Path:
    """The colour model at ``path`` with its weights run through com.microsoft ``Inverse`` (4·P becomes P⁻¹/4
    for a permutation P: the same top-1, softer): ONNX Runtime runs it, OpenVINO cannot compile it."""
    model = onnx.load(str(path))
    graph = model.graph
    graph.node.insert(0, helper.make_node("Inverse", ["w"], ["w_inverse"], domain="com.microsoft", name="inverse"))
    (matmul,) = [node for node in graph.node if node.op_type == "MatMul"]
    matmul.input[1] = "w_inverse"
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(path))
    return path


def _window(make_window, settings: AppSettings, choice: str, *models: Path) -> MainWindow:
    settings.remember_engine(choice)  # as if chosen in the toolbar last time
    window = make_window(*models)
    window.resize(1000, 650)
    assert window.engine_choice() == choice
    return window


def _evaluate(window: MainWindow, qtbot, data: Path, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    window.evaluate.action.trigger()
    with qtbot.waitSignal(window.evaluate.labelledRead, timeout=TIMEOUT):
        window.evaluate.open_labelled(str(data))
    window.evaluate_panel.set_checked([str(window.models_dir / name) for name in names])
    with qtbot.waitSignal(window.evaluate.evaluated, timeout=TIMEOUT):
        window.evaluate_panel.evaluate_button.click()
    return window.evaluate_panel.table_rows()


def _compare(window: MainWindow, qtbot, photos: dict[str, Path], names: tuple[str, ...]) -> list[str]:
    if window.image_list.count() == 0:
        with qtbot.waitSignal(window.batchFinished, timeout=TIMEOUT):
            drop_paths(window, [photos["chelsea"], photos["coffee"]])
    window.compare_panel.set_checked([str(window.models_dir / name) for name in names])
    with qtbot.waitSignal(window.compare.finished, timeout=TIMEOUT):
        window.compare.action.trigger()
    return [column.info.text() for column in window.compare_panel.columns()]


def test_openvino_runs_every_evaluated_and_compared_model_and_each_view_says_so(
    make_window, settings, model_bank, colours, data, photos, qtbot, tmp_path: Path
) -> None:
    window = _window(make_window, settings, "openvino", model_bank["tiny"], model_bank["trained"], *colours)
    assert window.evaluate.engine_choice() == window.compare.engine_choice() == "openvino"
    assert window.image_tabs.explain.provider() == window.image_tabs.inspect.provider() == "cpu"  # ONNX Runtime
    tiny, trained = model_bank["tiny"].name, model_bank["trained"].name
    infos = _compare(window, qtbot, photos, (tiny, trained))
    assert all(info.startswith("ran on OpenVINO CPU, fp32 · ") for info in infos), infos
    comparison = window.compare.comparison
    assert comparison is not None and [c.engine for c in comparison.columns] == ["openvino", "openvino"]
    record = window.image_list.current_record()
    assert record is not None
    photo = load_image(record.source)
    on_ort = [backend.top_k(load_model(inspect_model(c.path), "cpu"), photo) for c in comparison.columns]
    for column, expected in zip(window.compare_panel.columns(), on_ort, strict=True):  # still their top-5s
        assert [row[0] for row in column.rows()] == [label for label, _p in expected]
    window.tabs.setCurrentWidget(window.compare_panel)
    assert not window.grab().isNull()  # what a user sees renders

    rows = _evaluate(window, qtbot, data, ("a-good.onnx", "b-bad.onnx"))
    assert [e.model.engine for e in window.evaluate.evaluations] == ["openvino", "openvino"]
    assert [(r[1], r[4]) for r in rows] == [("OpenVINO CPU, fp32", "87.50%"), ("OpenVINO CPU, fp32", "25.00%")]
    assert not window.grab().isNull()  # what a user sees renders
    with qtbot.waitSignal(window.evaluate.reportWritten, timeout=TIMEOUT):
        window.evaluate.export(tmp_path / "report")
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [(m["engine"], m["ran_on"]) for m in report["models"]] == [("openvino", "OpenVINO CPU, fp32")] * 2


def test_a_model_that_fails_on_openvino_shows_its_error_in_its_own_column(
    make_window, settings, model_bank, photos, qtbot
) -> None:
    window = _window(make_window, settings, "openvino", model_bank["tiny"], model_bank["trained"])
    (window.models_dir / model_bank["trained"].name).write_text("no longer an ONNX file\n")  # listed, now broken
    _compare(window, qtbot, photos, (model_bank["tiny"].name, model_bank["trained"].name))
    broken = window.models_dir / model_bank["trained"].name
    (failed,) = [c for c in window.compare_panel.columns() if c.column.path == broken]
    (good,) = [c for c in window.compare_panel.columns() if c.column.path != broken]
    assert good.state == "reference" and good.info.text().startswith("ran on OpenVINO CPU, fp32")
    assert failed.state == "error" and model_bank["trained"].name in failed.error.text() and failed.rows() == []


def test_onnx_runtime_cpu_runs_them_as_before_and_a_new_choice_applies_to_the_next_run(
    make_window, settings, model_bank, colours, data, photos, qtbot
) -> None:
    window = _window(make_window, settings, "cpu", model_bank["tiny"], *colours)
    rows = _evaluate(window, qtbot, data, ("a-good.onnx", "b-bad.onnx"))
    assert [e.model.engine for e in window.evaluate.evaluations] == ["onnxruntime", "onnxruntime"]
    assert [(r[1], r[4]) for r in rows] == [("ONNX Runtime CPU, fp32", "87.50%"), ("ONNX Runtime CPU, fp32", "25.00%")]
    infos = _compare(window, qtbot, photos, ("a-good.onnx", model_bank["tiny"].name))
    assert all(info.startswith("ran on ONNX Runtime CPU, fp32 · ") for info in infos), infos
    choice = "openvino-bf16" if NATIVE_BF16 else "openvino"
    with qtbot.waitSignal(window.modelLoaded, timeout=TIMEOUT):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData(choice))
    precision = "bf16" if NATIVE_BF16 else "fp32"
    infos = _compare(window, qtbot, photos, ("a-good.onnx", model_bank["tiny"].name))
    assert all(info.startswith(f"ran on OpenVINO CPU, {precision} · ") for info in infos), infos
    rows = _evaluate(window, qtbot, data, ("a-good.onnx",))
    assert [(r[1], r[4]) for r in rows] == [(f"OpenVINO CPU, {precision}", "87.50%")]


def test_a_model_openvino_cannot_open_runs_on_onnx_runtime_and_both_tabs_say_so(
    make_window, settings, colours, data, photos, qtbot
) -> None:
    _openvino_refuses(colours[1])
    window = _window(make_window, settings, "openvino", *colours)
    rows = _evaluate(window, qtbot, data, ("a-good.onnx", "b-bad.onnx"))
    assert [(r[1], r[4]) for r in rows] == [("OpenVINO CPU, fp32", "87.50%"), ("ONNX Runtime CPU, fp32", "25.00%")]
    (fallback,) = [line for line in window.evaluate_panel.message.text().splitlines() if "running on" in line]
    assert fallback.startswith(window.evaluate.evaluations[1].name) and "ONNX Runtime CPU" in fallback, fallback
    infos = _compare(window, qtbot, photos, ("a-good.onnx", "b-bad.onnx"))
    assert infos[0].startswith("ran on OpenVINO CPU, fp32 · ") and not window.compare_panel.columns()[1].error.text()
    assert infos[1].startswith("ran on ONNX Runtime CPU, fp32 (fell back) · "), infos
    assert "Fell back: b-bad.onnx" in window.compare_panel.columns()[1].info.toolTip()
    assert "running on ONNX Runtime CPU" in window.compare_panel.message.text()
    window.tabs.setCurrentWidget(window.compare_panel)
    assert not window.grab().isNull()  # what a user sees renders


def test_compare_uses_the_remembered_labels_override_on_openvino_too(
    make_window, settings, colours, photos, qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "config" / "overrides.json"
    monkeypatch.setenv("CNN_WORKBENCH_OVERRIDES", str(store))
    labels = tmp_path / "french.txt"
    labels.write_text("rouge\nvert\nbleu\n")
    OverrideStore(store).put(file_sha256(colours[0]), PreprocessOverrides(labels_file=labels), colours[0].name)
    window = _window(make_window, settings, "openvino", *colours)
    infos = _compare(window, qtbot, photos, ("a-good.onnx", "b-bad.onnx"))
    assert all(info.startswith("ran on OpenVINO CPU, fp32 · ") for info in infos), infos
    french, english = window.compare_panel.columns()
    assert {row[0] for row in french.rows()} == {"rouge", "vert", "bleu"}
    assert {row[0] for row in english.rows()} == {"red", "green", "blue"}
