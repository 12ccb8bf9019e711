"""The optimized-model cache: the second load reuses ORT's optimised graph, a changed file misses it.

Run: ``pytest tests/perf/test_session_cache.py -q``
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.contract import golden_input
from desktop_app.core.providers import optimized_cache_path
from desktop_app.core.session import inspect_model, load_model
from exporter.api import ExportResult


def test_second_load_reuses_the_optimized_graph(fp32_export: ExportResult, tmp_path: Path, private_cache: Path) -> None:
    model_file = tmp_path / fp32_export.path.name
    shutil.copy(fp32_export.path, model_file)
    first = load_model(inspect_model(model_file), "cpu")
    assert first.optimized_cache == "saved" and first.golden is not None and first.golden.passed
    cached = optimized_cache_path(model_file)
    assert cached is not None and cached.is_file() and cached.parent == private_cache
    second = load_model(inspect_model(model_file), "cpu")
    assert second.optimized_cache == "reused" and second.golden is not None and second.golden.passed
    x = golden_input((2, 3, 64, 64))
    np.testing.assert_allclose(first.run(x), second.run(x), rtol=1e-5, atol=1e-5)


def test_changed_file_invalidates_the_entry(fp32_export: ExportResult, tmp_path: Path, private_cache: Path) -> None:
    model_file = tmp_path / fp32_export.path.name
    shutil.copy(fp32_export.path, model_file)
    load_model(inspect_model(model_file), "cpu")
    old = optimized_cache_path(model_file)
    stat = model_file.stat()
    os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    new = optimized_cache_path(model_file)
    assert new != old and new is not None and not new.exists()
    again = load_model(inspect_model(model_file), "cpu")
    assert again.optimized_cache == "saved" and new.is_file()
    assert old is not None and not old.exists(), "the stale entry of the same file is dropped"


def test_cache_can_be_turned_off(fp32_export: ExportResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", "off")
    assert optimized_cache_path(fp32_export.path) is None
    assert load_model(inspect_model(fp32_export.path), "cpu").optimized_cache is None
