"""Frozen-backbone transfer learning: pooled backbone features computed once and cached on disk.

``--freeze-backbone`` runs every image once through the pretrained network (evaluation preprocessing,
eval mode) and keeps the input of its final classifier: the pooled features. They are saved under
``--cache-dir`` (default ``~/.cache/cnn-workbench/features``) in a file named by a hash of the model,
the weights' sha256, the preprocessing and the list of image files (path, size, mtime), so a second run
on the same data loads them instead of recomputing. A new ``nn.Linear`` head is then trained on the cache,
and the exported model is the pretrained network with that head.

Example::

    python -m exporter train --model efficientnet_lite0 --weights imagenet --freeze-backbone \\
        --data ~/photos --out runs/p
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from exporter.train import checkpoint
from exporter.train.data import EpochSampler, ImageDataset, TensorRows, collate_skip_bad
from exporter.train.distributed import Dist, barrier
from exporter.train.modelsetup import head_name
from workbench.preprocess import Preprocess

CACHE_VERSION = 1


@dataclass
class FeatureSet:
    """Features and labels of one split, the files that failed to decode, and where they came from."""

    rows: TensorRows
    bad_images: list[str]
    path: Path
    hit: bool
    build_seconds: float
    load_seconds: float


def cache_key(model: str, weights: dict[str, Any], preprocess: Preprocess, samples: list[tuple[str, int]]) -> str:
    files = []
    for path, label in samples:
        try:
            info = os.stat(path)
            files.append([path, label, info.st_size, info.st_mtime_ns])
        except OSError:
            files.append([path, label, -1, -1])
    identity = {
        "version": CACHE_VERSION,
        "model": model,
        "weights": weights.get("sha256") or weights.get("detail") or weights.get("source"),
        "preprocess": preprocess.to_dict(),
        "files": files,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


@torch.no_grad()
def extract(
    model: nn.Module, dataset: ImageDataset, batch_size: int, workers: int, device: torch.device
) -> tuple[Tensor, Tensor, list[str]]:
    """Inputs of the model's final classifier for every decodable image (eval mode, on ``device``)."""
    captured: list[Tensor] = []
    hook = model.get_submodule(head_name(model)).register_forward_pre_hook(
        lambda _m, args: captured.append(args[0].detach().flatten(1).cpu())
    )
    model.eval().to(device)
    labels, bad = [], []
    sampler = EpochSampler(len(dataset), batch_size, 0, 0, train=False)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=collate_skip_bad)
    try:
        for x, y, errors in loader:
            bad.extend(errors)
            if len(y):
                model(x.to(device))
                labels.append(y)
    finally:
        hook.remove()
        model.cpu()
    if not captured:
        return torch.empty(0), torch.empty(0, dtype=torch.long), bad
    return torch.cat(captured), torch.cat(labels), bad


def cached_features(
    model: nn.Module, dataset: ImageDataset, key: str, cache_dir: Path, group: Dist, workers: int
) -> FeatureSet:
    """The features of ``dataset`` from the cache, computing and saving them (rank 0) on a miss."""
    path = cache_dir / f"{key}.pt"
    if group.main and not path.is_file():
        started = time.perf_counter()
        features, labels, bad = extract(model, dataset, 64, workers, group.device)
        seconds = time.perf_counter() - started
        entry = {"features": features, "labels": labels, "bad_images": bad, "seconds": seconds}
        checkpoint.save_atomic(entry, path)
        print(f"feature cache: computed {len(labels)} feature vectors in {seconds:.1f} s -> {path}", file=sys.stderr)
        barrier(group)
        return FeatureSet(TensorRows(features, labels), bad, path, False, seconds, 0.0)
    barrier(group)
    started = time.perf_counter()
    cached = checkpoint.load(path, require="features")
    loaded = time.perf_counter() - started
    if group.main:
        print(
            f"feature cache: reused {path} ({len(cached['labels'])} vectors, loaded in {loaded:.2f} s; "
            f"computing them took {cached['seconds']:.1f} s)",
            file=sys.stderr,
        )
    rows = TensorRows(cached["features"], cached["labels"])
    return FeatureSet(rows, list(cached["bad_images"]), path, True, float(cached["seconds"]), loaded)


def new_head(model: nn.Module, num_classes: int, seed: int) -> nn.Linear:
    """A freshly initialised ``nn.Linear`` the size of the model's classifier input (seeded)."""
    old = model.get_submodule(head_name(model))
    if not isinstance(old, nn.Linear):
        raise TypeError(f"{head_name(model)}: expected an nn.Linear classifier")
    torch.manual_seed(seed)
    return nn.Linear(old.in_features, num_classes)


def full_state_dict(model: nn.Module, head: nn.Module) -> dict[str, Tensor]:
    """The frozen model's state dict with the trained head's weights in place of its classifier."""
    name = head_name(model)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    for key, value in head.state_dict().items():
        state[f"{name}.{key}"] = value.detach().cpu().clone()
    return state


def head_from_state(model: nn.Module, state: dict[str, Tensor], head: nn.Linear) -> nn.Linear:
    """Load the classifier part of a full state dict (e.g. ``best.pt``) into ``head``."""
    name = head_name(model)
    head.load_state_dict({k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")})
    return head
