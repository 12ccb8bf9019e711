"""int8 and fp16 exports: verified against PyTorch, metadata complete, golden self-test passes in the app.

Run: ``pytest tests/exporter/quant/test_quantize.py -q``
"""

from __future__ import annotations

from pathlib import Path

import onnx
import onnxruntime as ort
import pytest

import exporter.verify
from desktop_app.core.catalog import inspect_model
from desktop_app.core.runtime import load_model
from exporter.api import ExportResult, export_model
from exporter.errors import ExporterError, VerificationError
from tests.helpers import profiled_node_names
from workbench.contract import ModelCard
from workbench.cpu import cpu_info, int8_saturates

pytestmark = pytest.mark.usefixtures("private_cache")  # every test gets its own optimized-model cache


def _card(path: Path) -> ModelCard:
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    card = ModelCard.from_metadata(props)
    assert card is not None
    return card


def test_int8_export_is_quantized_verified_and_described(int8_export: ExportResult) -> None:
    assert int8_export.path.name == "resnet18-imagenet-1k-random-int8-64px.onnx"
    assert int8_export.verification.passed
    card = _card(int8_export.path)
    assert card.precision == "int8" and card.display_name.endswith("· int8")
    q = dict(card.quantization or {})
    assert q["format"] == "QDQ" and q["per_channel"] is True and q["calibration_method"] == "minmax"
    assert q["calibration"]["images"] >= 8 and "shipped photos" in q["calibration"]["source"]
    assert isinstance(q["fp32_fallback"], list)
    assert {"rule", "top1_agreement", "max_abs_diff", "tolerance"} <= set(q["verification"])
    name, features = cpu_info()  # the accuracy figures depend on the CPU they were measured on
    measured_on = {"cpu": name, "cpu_features": list(features), "int8_saturates": int8_saturates()}
    assert q["vs_fp32_onnx"]["measured_on"] == measured_on
    ops = {n.op_type for n in onnx.load(str(int8_export.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops


def test_int8_accuracy_on_a_tiny_model(int8_export: ExportResult) -> None:
    q = dict(_card(int8_export.path).quantization or {})
    assert q["verification"]["top1_agreement"] >= 0.9
    assert q["vs_fp32_onnx"]["sqnr_db"] >= 20.0
    assert q["verification"]["relative_diff"] <= q["verification"]["tolerance"]


def test_int8_golden_self_test_passes_in_the_app(int8_export: ExportResult) -> None:
    entry = inspect_model(int8_export.path)
    assert entry.usable, entry.error
    model = load_model(entry, "cpu")
    assert model.golden is not None and model.golden.passed, model.golden
    golden = _card(int8_export.path).golden
    assert golden is not None and golden.tolerance == exporter.verify.LOWERED_GOLDEN_TOLERANCE["int8"]


def test_int8_profiled_nodes_still_map_to_modules(int8_export: ExportResult, tmp_path: Path) -> None:
    names = profiled_node_names(int8_export.path, tmp_path)
    node_map = _card(int8_export.path).node_map
    mapped = [n for n in names if node_map.module_for(n)]
    assert len(mapped) >= 0.9 * len(names), sorted(set(names) - set(mapped))[:10]
    assert {"conv1", "layer3.1.conv2", "fc"} <= {node_map.module_for(n) for n in names}


def test_fp16_export_keeps_float32_io_and_verifies(fp16_export: ExportResult) -> None:
    assert fp16_export.path.name.endswith("-fp16-64px.onnx") and fp16_export.verification.passed
    session = ort.InferenceSession(str(fp16_export.path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)" and session.get_outputs()[0].type == "tensor(float)"
    graph = onnx.load(str(fp16_export.path)).graph
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.initializer)
    card = _card(fp16_export.path)
    assert card.precision == "fp16" and card.quantization is not None
    model = load_model(inspect_model(fp16_export.path), "cpu")
    assert model.golden is not None and model.golden.passed, model.golden


def test_failed_int8_verification_keeps_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(exporter.verify.LOWERED_TOLERANCE, "int8", 0.0)
    with pytest.raises(VerificationError, match="file not kept"):
        export_model("resnet18", "random", tmp_path, image_size=32, precision="int8", log=lambda _m: None)
    assert list(tmp_path.iterdir()) == []


def test_calibration_folder_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ExporterError, match="no image files"):
        export_model(
            "resnet18", "random", tmp_path, image_size=32, precision="int8", calibration=tmp_path, log=lambda _m: None
        )
    with pytest.raises(ExporterError, match="only used with --precision int8"):
        export_model("resnet18", "random", tmp_path, image_size=32, calibration=tmp_path, log=lambda _m: None)


def test_unreadable_calibration_images_are_left_out_and_named(tmp_path: Path) -> None:
    import shutil

    from exporter.quant.calibration import calibration_set
    from exporter.verify import photo_paths
    from workbench.preprocess import Preprocess

    for photo in photo_paths():
        shutil.copy(photo, tmp_path / photo.name)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    preprocess = Preprocess(resize=36, crop=32)
    calib = calibration_set(tmp_path, preprocess)
    assert calib.batch.shape == (len(photo_paths()), 3, 32, 32) and calib.files == len(photo_paths())
    (reason,) = calib.skipped
    assert reason.startswith(str(tmp_path / "broken.jpg") + ": ")
    assert calib.describe()["skipped"] == [reason]  # recorded in the file's metadata
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    shutil.move(tmp_path / "broken.jpg", only_bad / "broken.jpg")
    with pytest.raises(ExporterError, match=r"none of its 1 image files can be read \(.*broken\.jpg: "):
        calibration_set(only_bad, preprocess)
