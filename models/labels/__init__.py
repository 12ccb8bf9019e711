"""Label sets shipped as data files: one class name per line, line i = class index i.

Example::

    python -c "from models.labels import load_labels; print(load_labels('voc-2012')[:3])"
"""

from __future__ import annotations

from functools import cache
from importlib import resources

LABEL_SETS: dict[str, int] = {"imagenet-1k": 1000, "voc-2012": 20}


@cache
def load_labels(name: str) -> tuple[str, ...]:
    """The class names of a shipped label set, checked against its expected size."""
    if name not in LABEL_SETS:
        raise KeyError(f"unknown label set {name!r}; valid: {', '.join(sorted(LABEL_SETS))}")
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    labels = tuple(line.strip() for line in text.splitlines() if line.strip())
    if len(labels) != LABEL_SETS[name]:
        raise ValueError(f"label set {name!r} has {len(labels)} names, expected {LABEL_SETS[name]}")
    return labels
