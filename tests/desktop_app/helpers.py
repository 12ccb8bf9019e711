"""Helpers for the desktop_app tests: small real ONNX files (ours, foreign and broken) and photos.

Built with torch + onnx (tests may import torch; desktop_app itself may not). The "workbench" model
carries a full ModelCard (labels, preprocess, node map, golden self-test) like the exporter writes. The
session fixtures ``zoo`` and ``photos`` of ``tests/desktop_app/conftest.py`` call ``build_zoo`` and
``write_photos``.

Example::

    python -c "from tests.desktop_app.helpers import TINY_LABELS; print(TINY_LABELS)"
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import external_data_helper
from PIL import Image
from torch import nn

from tests.helpers import DATA, REPO
from workbench.contract import Golden, ModelCard, NodeMap, golden_input
from workbench.preprocess import Preprocess

TINY_SIZE = 32
TINY_LABELS = tuple(f"thing-{i}" for i in range(10))


class TinyNet(nn.Module):
    """A 10-class CNN with named submodules, so node names map to module paths like ``layer1.0``."""

    def __init__(self, num_classes: int = 10, nhwc: bool = False) -> None:
        super().__init__()
        self.nhwc = nhwc
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.nhwc:
            x = x.permute(0, 3, 1, 2)
        x = self.layer1(self.relu(self.conv1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def make_net(num_classes: int = 10, nhwc: bool = False, seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(num_classes, nhwc).eval()


def export_onnx(net: nn.Module, path: Path, shape: tuple[int, ...], dynamic_batch: bool = True) -> onnx.ModelProto:
    """Legacy (TorchScript) export: fast, and node names follow module paths (``/layer1/layer1.0/Conv``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (torch.zeros(shape),),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}} if dynamic_batch else None,
            dynamo=False,
        )
    return onnx.load(str(path))


def node_map_of(model: onnx.ModelProto) -> NodeMap:
    """Map ``/layer1/layer1.0/Conv`` -> ``layer1.0`` (the innermost scope) for nodes and their outputs."""
    nodes: dict[str, str] = {}
    tensors: dict[str, str] = {}
    for node in model.graph.node:
        scopes = [part for part in node.name.split("/")[:-1] if part]
        if not scopes:
            continue
        module = scopes[-1]
        nodes[node.name] = module
        for output in node.output:
            tensors[output] = module
    return NodeMap(nodes=nodes, tensors=tensors)


def write_card(path: Path, model: onnx.ModelProto, card: ModelCard) -> None:
    del model.metadata_props[:]
    for key, value in card.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def golden_for(net: nn.Module, shape: tuple[int, ...], layout: str = "NCHW") -> Golden:
    with torch.no_grad():
        logits = net(torch.from_numpy(golden_input(shape, layout)))[0].double().numpy()
    top5 = tuple(int(i) for i in np.argsort(-logits, kind="stable")[:5])
    span = float(logits.max() - logits.min())
    return Golden(shape, layout, top5, tuple(float(logits[i]) for i in top5), span, 1e-3)


def tiny_card(model: onnx.ModelProto, golden: Golden | None, labels: tuple[str, ...] = TINY_LABELS) -> ModelCard:
    return ModelCard(
        architecture="tinynet",
        label_set="tiny-10",
        labels=labels,
        preprocess=Preprocess(resize=36, crop=(TINY_SIZE, TINY_SIZE)),
        weights={"source": "seeded", "trained": True},
        node_map=node_map_of(model),
        golden=golden,
    )


@dataclass(frozen=True)
class Zoo:
    """Paths of the built model files."""

    good_dir: Path  # only usable models: workbench.onnx + external-data model
    bad_dir: Path  # every kind of broken model file
    foreign_dir: Path  # models without workbench metadata
    workbench: Path
    bad_golden: Path
    external_ok: Path
    nchw_fixed1: Path
    nhwc_dynamic: Path
    voc20: Path
    seven: Path
    net: TinyNet


def _save_external(model: onnx.ModelProto, path: Path, location: str) -> None:
    external_data_helper.convert_model_to_external_data(
        model, all_tensors_to_one_file=True, location=location, size_threshold=0
    )
    onnx.save(model, str(path))


def _build_foreign(folder: Path) -> None:
    export_onnx(make_net(1000, seed=1), folder / "nchw-fixed1-1000.onnx", (1, 3, 40, 40), dynamic_batch=False)
    export_onnx(make_net(20, nhwc=True, seed=2), folder / "nhwc-dynamic-20.onnx", (1, 48, 48, 3))
    export_onnx(make_net(7, seed=3), folder / "nchw-seven.onnx", (1, 3, 24, 30))


class TwoInputs(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.flatten(a + b, 1)


def _build_bad(folder: Path, good: Path) -> None:
    data = good.read_bytes()
    (folder / "truncated.onnx").write_bytes(data[: len(data) // 2])
    (folder / "text.onnx").write_text("this is not an ONNX model\n", encoding="utf-8")
    (folder / "empty.onnx").write_bytes(b"")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(nn.Linear(10, 4), (torch.zeros(2, 10),), str(folder / "rank2-input.onnx"), dynamo=False)
        torch.onnx.export(
            TwoInputs(),
            (torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)),
            str(folder / "two-inputs.onnx"),
            dynamo=False,
        )
    _save_external(onnx.load(str(good)), folder / "missing-data.onnx", "missing-data.onnx.data")
    (folder / "missing-data.onnx.data").unlink()
    secret = folder.parent / "secret.bin"
    escaping = onnx.load(str(good))
    _save_external(escaping, folder / "escaping.onnx", "escaping.onnx.data")
    shutil.move(folder / "escaping.onnx.data", secret)
    model = onnx.load(str(folder / "escaping.onnx"), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../secret.bin"
    onnx.save(model, str(folder / "escaping.onnx"))


@dataclass(frozen=True)
class Photos:
    """Image files for classification tests: good ones and every kind of bad one."""

    folder: Path
    good: tuple[Path, ...]
    bad: tuple[Path, ...]
    missing: Path


def build_zoo(root: Path) -> Zoo:
    """Build every model file of the ``zoo`` fixture under ``root`` (an empty folder)."""
    good, bad, foreign = root / "good", root / "bad", root / "foreign"
    for folder in (good, bad, foreign):
        folder.mkdir()
    net = make_net()
    shape = (1, 3, TINY_SIZE, TINY_SIZE)
    workbench = good / "tinynet-tiny-10-fp32.onnx"
    model = export_onnx(net, workbench, shape)
    write_card(workbench, model, tiny_card(model, golden_for(net, shape)))
    golden = golden_for(net, shape)
    shifted = tuple(v + golden.logit_range for v in golden.top5_logits)
    wrong = Golden(golden.shape, golden.layout, golden.top5, shifted, golden.logit_range, 1e-3)
    bad_golden = root / "tinynet-bad-golden.onnx"
    write_card(bad_golden, onnx.load(str(workbench)), tiny_card(model, wrong))
    external_ok = good / "tinynet-external.onnx"
    _save_external(onnx.load(str(workbench)), external_ok, "tinynet-external.onnx.data")
    _build_foreign(foreign)
    _build_bad(bad, workbench)
    return Zoo(
        good_dir=good,
        bad_dir=bad,
        foreign_dir=foreign,
        workbench=workbench,
        bad_golden=bad_golden,
        external_ok=external_ok,
        nchw_fixed1=foreign / "nchw-fixed1-1000.onnx",
        nhwc_dynamic=foreign / "nhwc-dynamic-20.onnx",
        voc20=foreign / "nhwc-dynamic-20.onnx",
        seven=foreign / "nchw-seven.onnx",
        net=net,
    )


def write_photos(folder: Path) -> Photos:
    """Write the good and bad image files of the ``photos`` fixture into ``folder`` (an empty folder)."""
    chelsea = Image.open(DATA / "chelsea.png").convert("RGB")
    coffee = Image.open(DATA / "coffee.png").convert("RGB")
    good = [folder / "a-chelsea.jpg", folder / "b-coffee.png", folder / "c-chelsea-small.png", folder / "d-coffee.jpg"]
    chelsea.save(good[0], quality=92)
    coffee.save(good[1])
    chelsea.resize((40, 30)).save(good[2])
    coffee.save(good[3], quality=90)
    bad = [folder / "e-empty.jpg", folder / "f-truncated.jpg", folder / "g-text.jpg", folder / "h-vector.svg"]
    bad[0].write_bytes(b"")
    bad[1].write_bytes(good[0].read_bytes()[:600])
    bad[2].write_text("just some text\n", encoding="utf-8")
    bad[3].write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>\n', encoding="utf-8")
    return Photos(folder=folder, good=tuple(good), bad=tuple(bad), missing=folder / "z-missing.jpg")


def run_cli(
    *args: str | os.PathLike[str], models: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m desktop_app ARGS`` in a subprocess (UTF-8 output), with ``models`` as the models folder."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONIOENCODING": "utf-8",
        "CNN_WORKBENCH_MODELS": str(models or REPO / "no-such-models-dir"),
    }
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=timeout,
        check=False,
    )
