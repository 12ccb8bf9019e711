"""Training checkpoints: plain containers written atomically, read back with ``weights_only=True``.

Every checkpoint is the format :func:`exporter.api.export_model` reads (``architecture``, ``state_dict``,
``label_set``, ``labels``, ``metrics``); the resumable ``last.pt`` adds a ``resume`` entry with the
optimizer and scaler state, the position in the run (epoch, batch, global step), the partial epoch's
sums, the log so far and the torch / numpy / Python RNG states, stored as tensors and lists.

Example::

    python -m exporter train --resume runs/digits/last.pt
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from exporter.errors import ExporterError
from workbench.atomic import write_atomic

FORMAT_VERSION = 1


class CheckpointError(ExporterError):
    """A checkpoint that cannot be read or does not fit; the message names the file."""


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temp file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(path, lambda f: torch.save(obj, f))
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write checkpoint ({exc.strerror or exc})") from exc


def load(path: str | os.PathLike[str], *, require: str = "state_dict") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)``; any failure is a :class:`CheckpointError`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused by torch.load(weights_only=True): not a plain checkpoint") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{path}: corrupted or truncated checkpoint ({first})") from exc
    if not isinstance(obj, dict) or require not in obj:
        raise CheckpointError(f"{path}: not a training checkpoint (no {require} entry)")
    return obj


def load_resumable(path: str | os.PathLike[str], architecture: str | None) -> dict[str, Any]:
    """A checkpoint with resume state, checked against the ``--model`` the user asked for (if any)."""
    ckpt = load(path)
    if "resume" not in ckpt:
        raise CheckpointError(f"{path}: holds no resume state (use last.pt or an interrupted run's checkpoint)")
    if architecture is not None and ckpt.get("architecture") != architecture:
        raise CheckpointError(f"{path}: a checkpoint of {ckpt.get('architecture')}, not {architecture} (--model)")
    if ckpt["resume"].get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: resume format {ckpt['resume'].get('format')} is not {FORMAT_VERSION}")
    return ckpt


def rng_state() -> dict[str, Any]:
    """torch, numpy and Python RNG states as tensors and lists (``weights_only``-loadable)."""
    kind, keys, pos, has_gauss, cached = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": [int(version), list(internal), gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
