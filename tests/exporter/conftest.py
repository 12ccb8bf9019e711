"""Fixtures for exporter tests: a private torch hub cache with torchvision-format checkpoints.

Checkpoints are written under torchvision's official file names, with our models' synthetic
weights (DenseNet with the legacy ``norm.1`` key spelling of the real files). Nothing downloads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import models
from tests.models.synthetic_weights import synthetic_state_dict

REPO = Path(__file__).resolve().parents[2]


def torchvision_format_state_dict(name: str) -> dict[str, torch.Tensor]:
    layout = [(k, tuple(v.shape)) for k, v in models.get_model(name).state_dict().items()]
    state_dict = synthetic_state_dict(layout)
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


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch_home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def place_checkpoint(torch_home: Path, name: str) -> Path:
    path = torch_home / "hub" / "checkpoints" / str(models.get_spec(name).pretrained.file_name)
    torch.save(torchvision_format_state_dict(name), path)
    return path


@pytest.fixture
def models_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    out = tmp_path / "models"
    monkeypatch.setenv("CNN_WORKBENCH_MODELS", str(out))
    yield out


def run_cli(*args: str, env: dict[str, str] | None = None, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``python -m exporter ARGS`` in a real subprocess."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        timeout=600,
        **kwargs,  # type: ignore[arg-type]
    )
