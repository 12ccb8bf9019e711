"""Shared fixtures and hooks: the repository's test data; per-user folders redirected away from the user's own;
small fp32 / int8 / fp16 exports made once per session (for the perf tests of the exporter and the app).

Helpers that test modules import are in ``tests/helpers.py``, not here.

Run: ``pytest tests -q``
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import DATA, export_small

if TYPE_CHECKING:
    from exporter.api import ExportResult


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def pytest_configure(config: pytest.Config) -> None:
    """Keep tests (and the CLIs they start) out of the user's optimized-model cache, models folder and overrides."""
    scratch = Path(tempfile.mkdtemp(prefix="cnn-workbench-tests-"))
    os.environ["CNN_WORKBENCH_CACHE"] = str(scratch / "optimized-cache")
    os.environ.setdefault("CNN_WORKBENCH_MODELS", str(scratch / "models"))
    os.environ["CNN_WORKBENCH_OVERRIDES"] = str(scratch / "overrides.json")  # never the user's remembered overrides


@pytest.fixture(scope="session")
def perf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("perf-models")


@pytest.fixture(scope="session")
def fp32_export(perf_dir: Path) -> ExportResult:
    return export_small(perf_dir, "fp32")


@pytest.fixture(scope="session")
def int8_export(perf_dir: Path) -> ExportResult:
    return export_small(perf_dir, "int8")


@pytest.fixture(scope="session")
def fp16_export(perf_dir: Path) -> ExportResult:
    return export_small(perf_dir, "fp16")


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's own optimized-model cache (never the user's); the perf modules use it for every test."""
    cache = tmp_path / "opt-cache"
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(cache))
    return cache
