"""Fixtures for exporter tests: a private torch hub cache (``TORCH_HOME``) and models folder per test.

The checkpoints placed in the cache and the CLI runner are in ``tests/exporter/helpers.py``.

Run: ``pytest tests/exporter -q``
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "torch_home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def models_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    out = tmp_path / "models"
    monkeypatch.setenv("CNN_WORKBENCH_MODELS", str(out))
    yield out
