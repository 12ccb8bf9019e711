"""The exporter library: metadata completeness, golden self-test, node map, atomic keep-or-discard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import exporter.verify
from exporter.api import ExportResult, export_model
from exporter.errors import ExporterError, VerificationError
from tests.helpers import copy_export, profiled_node_names
from workbench.contract import ModelCard, golden_input


@pytest.fixture(scope="module")
def resnet18_export(fp32_export: ExportResult, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    """resnet18 at 64 px, random weights: the session's export, in a folder of its own."""
    return copy_export(fp32_export, tmp_path_factory.mktemp("export"))


def _metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def test_metadata_carries_the_whole_contract(resnet18_export: ExportResult) -> None:
    meta = _metadata(resnet18_export.path)
    for key in (
        "format",
        "architecture",
        "labels.set",
        "labels",
        "preprocess",
        "weights",
        "precision",
        "provenance",
        "node_map",
        "golden",
    ):
        assert f"workbench.{key}" in meta, key
    prep = json.loads(meta["workbench.preprocess"])
    assert prep == {
        "resize": 73,
        "crop": [64, 64],
        "interpolation": "bilinear",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "value_range": [0.0, 1.0],
        "channel_order": "RGB",
        "layout": "NCHW",
    }
    provenance = json.loads(meta["workbench.provenance"])
    assert {"exporter", "torch", "onnx", "onnxruntime", "opset", "created", "python"} <= set(provenance)
    weights = json.loads(meta["workbench.weights"])
    assert weights["source"] == "random" and weights["trained"] is False
    card = ModelCard.from_metadata(meta)
    assert card is not None and "UNTRAINED" in card.display_name
    assert card.labels[0] == "tench" and len(card.labels) == 1000


def test_golden_self_test_rechecks_with_onnx_runtime_alone(resnet18_export: ExportResult) -> None:
    golden = resnet18_export.card.golden
    assert golden is not None
    session = ort.InferenceSession(str(resnet18_export.path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"image": golden_input(golden.shape, golden.layout)})[0][0]
    assert tuple(np.argsort(-logits)[:5].tolist()) == golden.top5
    assert np.abs(logits[list(golden.top5)] - golden.top5_logits).max() <= golden.tolerance * golden.logit_range


def test_dynamic_batch_runs(resnet18_export: ExportResult) -> None:
    session = ort.InferenceSession(str(resnet18_export.path), providers=["CPUExecutionProvider"])
    for batch in (1, 3):
        assert session.run(None, {"image": np.zeros((batch, 3, 64, 64), np.float32)})[0].shape == (batch, 1000)


def test_profiled_nodes_map_to_pytorch_modules(resnet18_export: ExportResult, tmp_path: Path) -> None:
    names = profiled_node_names(resnet18_export.path, tmp_path)
    node_map = resnet18_export.card.node_map
    mapped = {node_map.module_for(n) for n in names}
    # ORT fuses Conv+BN+ReLU and renames the node after its output (e.g. relu_11_nchwc): still mapped.
    assert {"layer3.1.conv1", "layer3.1.conv2", "layer4.0.downsample.0", "conv1", "fc"} <= mapped
    conv_rows = [n for n in names if "nchwc" in n]
    assert conv_rows and all(node_map.module_for(n) for n in conv_rows)


def test_failed_verification_keeps_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exporter.verify, "RELATIVE_TOLERANCE", 0.0)  # no float32 export is bit-exact
    with pytest.raises(VerificationError, match="verification failed, file not kept"):
        export_model("resnet18", "random", tmp_path, image_size=32, progress=False, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_needs_force(resnet18_export: ExportResult) -> None:
    before = resnet18_export.path.stat().st_mtime_ns
    with pytest.raises(ExporterError, match="already exists"):
        export_model("resnet18", "random", resnet18_export.path.parent, image_size=64, log=lambda _: None)
    assert resnet18_export.path.stat().st_mtime_ns == before


def test_opset_below_17_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExporterError, match="opset 17 or newer"):
        export_model("resnet18", "random", tmp_path, opset=13, image_size=32, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []


def test_trained_checkpoint_carries_labels_and_metrics(tmp_path: Path) -> None:
    import torch

    import models

    model = models.get_model("resnet18", num_classes=3)
    checkpoint = {
        "architecture": "resnet18",
        "state_dict": model.state_dict(),
        "label_set": "custom",
        "labels": ["ant", "bee", "wasp"],
        "metrics": {"test_top1": 0.97},
    }
    path = tmp_path / "ours.pt"
    torch.save(checkpoint, path)
    result = export_model("resnet18", str(path), tmp_path / "out", image_size=32, progress=False, log=lambda _: None)
    assert result.card.labels == ("ant", "bee", "wasp") and result.card.training == {"test_top1": 0.97}
    assert result.card.trained and result.path.name == "resnet18-custom-ours-fp32-32px.onnx"
    with pytest.raises(ExporterError, match="a checkpoint of resnet18, not resnet34"):
        export_model("resnet34", str(path), tmp_path / "out", image_size=32, log=lambda _: None)
