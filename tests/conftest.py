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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first, longest first (``@pytest.mark.slow(seconds=N)``: N is a rough figure from our 2-core
    machines, used for this order only), the rest in their usual order after them.

    pytest-xdist's worksteal gives each worker a contiguous half of this list and lets an idle worker take
    tests from the *end* of the other's; so the end must be short tests, or one worker finishes the run
    alone with a long training test while the other waits.
    """

    def seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        return float(marker.kwargs.get("seconds", 15)) if marker is not None else 0.0

    items.sort(key=seconds, reverse=True)  # stable: equal figures keep the collection order (and module fixtures)


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
