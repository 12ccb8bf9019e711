"""Shipped label sets (ImageNet-1k, VOC 2012) read as plain text, without importing ``models`` (torch).

The label files live in the ``models/labels`` package folder; importing ``models.labels`` would run
``models/__init__.py`` and import torch, so this module finds the folder with
``importlib.util.find_spec("models")`` (which does not execute the package) and reads the text files
directly. Used for foreign ONNX files that carry no labels of their own.

Example::

    python -c "from desktop_app.core.labelsets import shipped_labels; print(shipped_labels('voc-2012')[:3])"
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

#: Label-set name -> number of classes, for the sets shipped in ``models/labels``.
SHIPPED_SETS: dict[str, int] = {"imagenet-1k": 1000, "voc-2012": 20}


class LabelSetError(RuntimeError):
    """A shipped label file is missing or malformed (the message names the file)."""


def labels_folder() -> Path:
    """The ``models/labels`` folder, located without importing the ``models`` package."""
    spec = importlib.util.find_spec("models")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "labels"
            if candidate.is_dir():
                return candidate
    fallback = Path(__file__).resolve().parents[2] / "models" / "labels"
    if fallback.is_dir():
        return fallback
    raise LabelSetError(f"{fallback}: label folder not found (is the cnn-workbench package installed completely?)")


@cache
def shipped_labels(name: str) -> tuple[str, ...]:
    """The class names of shipped label set ``name`` (``imagenet-1k`` or ``voc-2012``)."""
    if name not in SHIPPED_SETS:
        raise KeyError(f"unknown label set {name!r}; shipped: {', '.join(sorted(SHIPPED_SETS))}")
    path = labels_folder() / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelSetError(f"{path}: cannot read label file ({exc.strerror or exc})") from exc
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != SHIPPED_SETS[name]:
        raise LabelSetError(f"{path}: has {len(labels)} names, expected {SHIPPED_SETS[name]}")
    return labels


def label_set_for(num_classes: int) -> str | None:
    """The shipped label set with exactly ``num_classes`` names, or ``None``."""
    for name, size in SHIPPED_SETS.items():
        if size == num_classes:
            return name
    return None
