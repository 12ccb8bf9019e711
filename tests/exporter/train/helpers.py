"""Helpers for the training tests: the real ``python -m exporter train`` CLI in a subprocess, settings, data paths.

Every run gets private models / cache folders (``CNN_WORKBENCH_MODELS``, ``XDG_CACHE_HOME``) under the
folder it is given. The datasets' fixtures are in ``tests/exporter/train/conftest.py``.

Example::

    python -c "from tests.exporter.train.helpers import VOC_MINI; print(VOC_MINI)"
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from tests.helpers import DATA, REPO

VOC_MINI = DATA / "voc_mini"
# Small, fast settings for resnet18 on the 16 px digits (real 8x8 scans upscaled).
DIGITS_ARGS = ["--model", "resnet18", "--weights", "random", "--image-size", "16", "--crop-scale", "0.6",
               "--hflip", "0", "--shear", "5", "--workers", "0"]  # fmt: skip
TINY_ARGS = [*DIGITS_ARGS[:4], "--image-size", "8", *DIGITS_ARGS[6:]]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_train(args: list[str], env_dir: Path, *, torchrun: int = 0, timeout: float = 600) -> Result:
    """Run the train command as a user would; ``torchrun=N`` starts it with N processes."""
    env = os.environ | {
        "CNN_WORKBENCH_MODELS": str(env_dir / "models"),
        "XDG_CACHE_HOME": str(env_dir / "cache"),
        "PYTHONPATH": str(REPO),
    }
    if torchrun:
        torchrun_exe = str(Path(sys.executable).with_name("torchrun"))
        command = [torchrun_exe, "--standalone", f"--nproc_per_node={torchrun}", "-m", "exporter", "train", *args]
    else:
        command = [sys.executable, "-m", "exporter", "train", *args]
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def log_rows(out: Path) -> list[dict]:
    return json.loads((out / "log.json").read_text())
