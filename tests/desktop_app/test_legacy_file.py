"""A model file written by an earlier exporter keeps loading, verifying and classifying.

``tests/data/legacy/efficientnet_lite0-imagenet-1k-imagenet-int8-96px.onnx`` was made on 2026-12-01 by the
exporter of commit e7fda16 (``python -m exporter export --default --precision int8 --image-size 96``):
real ImageNet weights, int8, every metadata key of format ``cnn-workbench/1``. Code moves and stricter
metadata checks must not lock out files that users already have.

Run alone::

    python -m pytest tests/desktop_app/test_legacy_file.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from desktop_app.core.catalog import inspect_model
from desktop_app.core.runtime import load_model

DATA = Path(__file__).resolve().parents[1] / "data"
LEGACY = DATA / "legacy" / "efficientnet_lite0-imagenet-1k-imagenet-int8-96px.onnx"
CATS = {"tabby", "tiger cat", "Egyptian cat"}


def test_the_old_file_is_described_and_passes_its_golden_self_test() -> None:
    entry = inspect_model(LEGACY)
    assert entry.error is None
    assert entry.name == "efficientnet_lite0 · imagenet-1k · imagenet · int8"
    assert entry.card is not None and entry.card.quantization is not None
    assert (entry.height, entry.width, len(entry.labels)) == (96, 96, 1000)
    model = load_model(entry, "cpu")
    assert model.golden is not None and model.golden.passed, model.golden


def test_the_old_file_classifies_real_photos_from_the_command_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "desktop_app",
            "classify",
            str(DATA / "chelsea.png"),
            str(DATA / "coffee.png"),
            "--model",
            str(LEGACY),
            "--provider",
            "cpu",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    cat, cup = (json.loads(line) for line in done.stdout.splitlines())
    assert cat["labels"][0] in CATS
    assert cup["labels"][0] == "espresso"
