"""The definition of a training run: what ``python -m exporter train`` was asked to do.

A :class:`Plan` is built from the command line, stored in every checkpoint (as the ``config`` dict,
``weights_only``-loadable) and read back by ``--resume``, which continues the run it describes.
It lives with the run (:mod:`exporter.train.run` builds a run from it), not with the CLI.

Example::

    python -c "import torch; from exporter.train.plan import Plan; \\
c = torch.load('runs/digits/last.pt', weights_only=True)['config']; print(Plan(**c).model)"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.train.loop import TrainConfig


@dataclass
class Plan:
    """Everything that defines a run (stored in every checkpoint as ``config``; reused by ``--resume``)."""

    model: str
    data: str | None
    voc: str | None
    weights: str
    image_size: int | None
    freeze_backbone: bool
    crop_scale: float
    shift: float
    shear: float
    zoom: float
    hflip: float
    name: str
    train: dict[str, Any]
    models_dir: str | None = None  # absolute; None: $CNN_WORKBENCH_MODELS or the default when exporting
    cache_dir: str | None = None

    @property
    def cfg(self) -> TrainConfig:
        return TrainConfig(**self.train)
