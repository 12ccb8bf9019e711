"""Training data: ImageFolder layouts, the reproducible 8:1:1 split, the dataset and the epoch sampler.

An ImageFolder is either ``DIR/train|val|test/<class>/*.jpg`` (``test/`` optional: without it the
final metrics are the validation ones) or ``DIR/<class>/*.jpg``, which is split per class 8:1:1
with a fixed seed (see :func:`split_files`). Images are decoded in DataLoader workers; one that cannot
be decoded is skipped, counted and named in the log instead of stopping the run.

The sampler makes the whole run a function of ``(seed, epoch)``: the order of an epoch and each
image's augmentation seed do not depend on the number of workers, on the number of DDP processes or
on where a resumed run restarted.

Example::

    python -m exporter train --model resnet18 --data ~/photos --weights imagenet --out runs/photos
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from exporter.errors import ExporterError
from workbench.imagefolder import SPLITS, class_files, class_folders
from workbench.imageio import ImageLoadError, load_image


class TrainDataError(ExporterError):
    """Training data that cannot be used; the message names the folder or file at fault."""


@dataclass
class DataSplits:
    """Image files with class indices for each split, and what the classes are called."""

    classes: list[str]
    label_set: str
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    test: list[tuple[str, int]]
    source: Mapping[str, object] = field(default_factory=dict)

    def split(self, name: str) -> list[tuple[str, int]]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def to_json(self) -> dict[str, object]:
        return {"classes": self.classes, "label_set": self.label_set, "source": self.source} | {
            name: [[path, label] for path, label in self.split(name)] for name in SPLITS
        }


def _class_images(folder: Path) -> dict[str, list[str]]:
    """``{class name: sorted image paths}`` for the class subfolders of ``folder``."""
    if not folder.is_dir():
        raise TrainDataError(f"{folder}: no such folder")
    classes = class_folders(folder)
    if not classes:
        raise TrainDataError(f"{folder}: no class subfolders (expected {folder}/<class>/<image files>)")
    found: dict[str, list[str]] = {}
    for class_dir in classes:
        files = [str(p) for p in class_files(class_dir)]
        if not files:
            raise TrainDataError(f"{class_dir}: empty class folder (no image files)")
        found[class_dir.name] = files
    return found


def split_files(files: Sequence[str], seed: int) -> tuple[list[str], list[str], list[str]]:
    """Split one class's files 8:1:1 (val and test get ``round(n / 10)`` each, at least 1 when n >= 3)."""
    order = sorted(files)
    random.Random(seed).shuffle(order)
    n = len(order)
    n_held = max(1, round(n / 10)) if n >= 3 else 0
    return order[2 * n_held :], order[:n_held], order[n_held : 2 * n_held]


def read_image_folder(root: str | Path, seed: int) -> DataSplits:
    """Read an ImageFolder, pre-split (``train/ val/ [test/]``) or as one folder of classes split 8:1:1."""
    root = Path(root).expanduser()
    if (root / "train").is_dir():
        return _read_presplit(root)
    per_class = _class_images(root)
    classes = list(per_class)
    parts: dict[str, list[tuple[str, int]]] = {name: [] for name in SPLITS}
    for label, name in enumerate(classes):
        for split, files in zip(SPLITS, split_files(per_class[name], seed + label), strict=True):
            parts[split].extend((f, label) for f in files)
    if not parts["val"]:
        raise TrainDataError(f"{root}: too few images to split off a validation set (need >= 3 in a class)")
    source = {"kind": "imagefolder", "root": str(root), "split": f"8:1:1 per class, seed {seed}"}
    return DataSplits(classes, "custom", parts["train"], parts["val"], parts["test"], source)


def _read_presplit(root: Path) -> DataSplits:
    if not (root / "val").is_dir():
        raise TrainDataError(f"{root}: has train/ but no val/ folder")
    found = {name: _class_images(root / name) for name in SPLITS if (root / name).is_dir()}
    classes = list(found["train"])
    for name, per_class in found.items():
        if list(per_class) != classes:
            only_here = sorted(set(per_class) - set(classes))
            missing = sorted(set(classes) - set(per_class))
            raise TrainDataError(
                f"{root / name}: classes differ from train/ (extra: {', '.join(only_here) or '-'}; "
                f"missing: {', '.join(missing) or '-'})"
            )
    parts = {
        name: [(f, label) for label, c in enumerate(classes) for f in found[name][c]] if name in found else []
        for name in SPLITS
    }
    source = {"kind": "imagefolder", "root": str(root), "split": "train/ val/ test/ folders"}
    return DataSplits(classes, "custom", parts["train"], parts["val"], parts["test"], source)


class ImageDataset(Dataset):
    """``(path, label)`` samples decoded with :func:`load_image`; keys are ``(index, augmentation seed)``.

    An image that fails to decode yields ``(None, label, "file: reason")`` so the batch goes on without it.
    """

    def __init__(self, samples: Sequence[tuple[str, int]], transform: Callable[..., np.ndarray], min_side: int):
        self.samples = list(samples)
        self.transform = transform
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor | None, int, str]:
        index, aug_seed = key
        path, label = self.samples[index]
        try:
            image = load_image(path, min_side=self.min_side)
        except ImageLoadError as exc:
            return None, label, str(exc)
        return torch.from_numpy(self.transform(image, random.Random(aug_seed))), label, ""


class TensorRows(Dataset):
    """Cached feature rows with labels, keyed like :class:`ImageDataset` (the seed is unused)."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features, self.labels = features, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int, str]:
        return self.features[key[0]], int(self.labels[key[0]]), ""


def collate_skip_bad(items: list[tuple[torch.Tensor | None, int, str]]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Stack the good samples; return the messages of the bad ones (empty tensors if all are bad)."""
    good = [(x, y) for x, y, _ in items if x is not None]
    errors = [msg for x, _, msg in items if x is None]
    if not good:
        return torch.empty(0), torch.empty(0, dtype=torch.long), errors
    return torch.stack([x for x, _ in good]), torch.tensor([y for _, y in good], dtype=torch.long), errors


def aug_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of one image in one epoch (independent of order, workers and processes)."""
    return (seed * 1_000_003 + epoch * 7_919 + 1) * 2_147_483_647 + index


@dataclass
class EpochSampler(Sampler):
    """Batches of ``(index, augmentation seed)`` for this process, a pure function of ``(seed, epoch)``.

    Training: the epoch's permutation is cut into global batches of ``batch_size`` (the last, incomplete
    one is dropped) and process ``rank`` takes its ``batch_size / world`` share of each. Evaluation:
    indices in order, process ``rank`` takes every ``world``-th, in batches. ``start_batch`` skips the
    batches a resumed run has already done.
    """

    size: int
    batch_size: int
    seed: int
    epoch: int = 0
    train: bool = True
    rank: int = 0
    world: int = 1
    start_batch: int = 0

    def global_batches(self) -> list[list[int]]:
        if not self.train:
            mine = list(range(self.rank, self.size, self.world))
            return [mine[i : i + self.batch_size] for i in range(0, len(mine), self.batch_size)]
        order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 10_007 + self.epoch))
        full = self.size // self.batch_size
        return [order[i * self.batch_size : (i + 1) * self.batch_size].tolist() for i in range(full)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        share = self.batch_size // self.world
        for number, batch in enumerate(self.global_batches()):
            if number < self.start_batch:
                continue
            mine = batch[self.rank * share : (self.rank + 1) * share] if self.train else batch
            yield [(i, aug_seed(self.seed, self.epoch, i)) for i in mine]

    def __len__(self) -> int:
        return max(0, len(self.global_batches()) - self.start_batch)
