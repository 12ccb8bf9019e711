"""Shared fixtures for the performance features: small fp32 / int8 / fp16 exports made once per session.

Run: ``pytest tests/perf -q``
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.api import ExportResult, export_model

SIZE = 64


def _export(folder: Path, precision: str) -> ExportResult:
    return export_model(
        "resnet18", "random", folder, image_size=SIZE, progress=False, precision=precision, log=lambda _m: None
    )


@pytest.fixture(scope="session")
def perf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("perf-models")


@pytest.fixture(scope="session")
def fp32_export(perf_dir: Path) -> ExportResult:
    return _export(perf_dir, "fp32")


@pytest.fixture(scope="session")
def int8_export(perf_dir: Path) -> ExportResult:
    return _export(perf_dir, "int8")


@pytest.fixture(scope="session")
def fp16_export(perf_dir: Path) -> ExportResult:
    return _export(perf_dir, "fp16")


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own optimized-model cache (never the user's)."""
    cache = tmp_path / "opt-cache"
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(cache))
    return cache
