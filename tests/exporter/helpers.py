"""Helpers for the exporter tests: torchvision-format checkpoints in a private torch hub cache, and the CLI.

Checkpoints are written under torchvision's official file names, with our models' synthetic
weights (DenseNet with the legacy ``norm.1`` key spelling of the real files). Nothing downloads.

Example::

    python -c "from tests.exporter.helpers import run_cli; print(run_cli('--help').stdout)"
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

import models
from tests.helpers import REPO
from tests.models.synthetic_weights import synthetic_state_dict


def torchvision_format_state_dict(name: str) -> dict[str, torch.Tensor]:
    layout = [(k, tuple(v.shape)) for k, v in models.get_model(name).state_dict().items()]
    state_dict: dict[str, torch.Tensor] = synthetic_state_dict(layout)
    if models.get_spec(name).family == "densenet":  # the published files predate the rename
        state_dict = {
            k.replace("norm1.", "norm.1.")
            .replace("norm2.", "norm.2.")
            .replace("conv1.", "conv.1.")
            .replace("conv2.", "conv.2."): v
            for k, v in state_dict.items()
            if not k.endswith("num_batches_tracked")
        }
    return state_dict


def place_checkpoint(torch_home: Path, name: str) -> Path:
    """Write ``name``'s torchvision-format checkpoint into ``torch_home``'s hub cache; returns its path."""
    path = torch_home / "hub" / "checkpoints" / str(models.get_spec(name).pretrained.file_name)
    torch.save(torchvision_format_state_dict(name), path)
    return path


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``python -m exporter ARGS`` in a real subprocess (in the repository unless ``cwd=`` says otherwise)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
        **({"cwd": REPO} | kwargs),
    )
