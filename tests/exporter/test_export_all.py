"""Each kind of architecture exports from a torchvision checkpoint in the hub cache and verifies.

One architecture per builder and block: ResNet with basic blocks (resnet18) and with bottlenecks
(resnet50), VGG without and with batch norm, DenseNet, Inception-v3 and EfficientNet-Lite0. The deeper
variants (resnet34-152, vgg13-19, densenet161-201) run the same export code on a longer graph; that
their checkpoints are torchvision's, name for name, and give torchvision's outputs is checked for every
registered architecture in tests/models/test_torchvision_compat.py, and
``test_every_registered_architecture_has_an_exported_kind`` keeps this list complete as the registry grows.
Exporting them all here cost about 7 minutes of the suite's 2 cores. Reduced input sizes keep it
affordable (the VGGs still write ~500 MB each: their classifier does not shrink);
``test_resnet50_full_size`` keeps one export at native size.

Run: ``pytest tests/exporter/test_export_all.py -q -n 0``
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

import models
from exporter.api import export_model
from exporter.verify import RELATIVE_TOLERANCE
from tests.exporter.helpers import place_checkpoint
from workbench.contract import ModelCard

SMALL = {"vgg": 32, "densenet": 32, "resnet": 64, "inception": 75, "efficientnet": 64}
#: One architecture per (family, block): the export path of each kind.
KINDS = ["resnet18", "resnet50", "vgg11", "vgg11_bn", "densenet121", "inception_v3", "efficientnet_lite0"]


def _kind(name: str) -> tuple[str, str]:
    """(family, block) of a registered architecture: what decides the graph's shape apart from its depth."""
    with torch.device("meta"):  # the structure only: no weights are allocated
        model = models.get_model(name)
    blocks = sorted({type(m).__name__ for m in model.modules() if type(m).__module__.startswith("models.")})
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    return models.get_spec(name).family, ",".join(blocks) + (" +bn" if has_bn else "")


def test_every_registered_architecture_has_an_exported_kind() -> None:
    exported = {_kind(name) for name in KINDS}
    missing = [name for name in models.list_models() if _kind(name) not in exported]
    assert not missing, f"no architecture of the same kind is exported below: {missing}"


def _check_file(path: Path, name: str, size: int) -> ModelCard:
    onnx.checker.check_model(str(path), full_check=True)
    proto = onnx.load(str(path), load_external_data=False)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    (inp,) = proto.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "image" and dims == ["batch", 3, size, size]
    assert [o.name for o in proto.graph.output] == ["logits"]
    card = ModelCard.from_metadata({p.key: p.value for p in proto.metadata_props})
    assert card is not None and card.architecture == name and card.trained
    assert len(card.labels) == 1000 and card.label_set == "imagenet-1k"
    assert card.preprocess.crop == (size, size)
    assert card.golden is not None and len(card.golden.top5) == 5
    assert len(card.weights["sha256"]) == 64
    # Every mapped module path is a real module of the PyTorch model.
    module_names = {n for n, _ in models.get_model(name).named_modules()}
    mapped = set(card.node_map.nodes.values()) | set(card.node_map.tensors.values())
    assert mapped - {""} <= module_names
    assert any(m for m in mapped)
    return card


@pytest.mark.parametrize("name", KINDS)
def test_export_imagenet_from_hub_cache(name: str, torch_home: Path, tmp_path: Path) -> None:
    spec = models.get_spec(name)
    if spec.pretrained.url:
        place_checkpoint(torch_home, name)
    size = SMALL[spec.family]
    result = export_model(name, "imagenet", tmp_path / "out", image_size=size, progress=False, log=lambda _: None)
    assert result.verification.passed
    assert result.verification.relative_diff <= RELATIVE_TOLERANCE and result.verification.top5_identical
    card = _check_file(result.path, name, size)
    assert result.path.name == f"{name}-imagenet-1k-imagenet-fp32-{size}px.onnx"
    if name == "inception_v3":
        assert card.weights["builder_kwargs"] == {"transform_input": True}
    assert [p.name for p in result.path.parent.iterdir()] == [result.path.name]  # no temp files left


@pytest.mark.slow
def test_resnet50_full_size(torch_home: Path, tmp_path: Path) -> None:
    place_checkpoint(torch_home, "resnet50")
    result = export_model("resnet50", "imagenet", tmp_path, progress=False, log=lambda _: None)
    card = _check_file(result.path, "resnet50", 224)
    assert card.preprocess.resize == 256
    # ONNX Runtime's fused nodes map back to PyTorch names, e.g. layer3.1.conv2.
    assert "layer3.1.conv2" in set(card.node_map.tensors.values())
