"""The optimized-model cache: the second load reuses ORT's optimised graph, a changed file misses it.

An entry is a folder: the optimised graph and its weights as external data (memory-mapped on load).

Run: ``pytest tests/desktop_app/test_session_cache.py -q``
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core import providers
from desktop_app.core.catalog import inspect_model
from desktop_app.core.providers import CACHE_DATA, optimized_cache_path
from desktop_app.core.runtime import load_model
from exporter.api import ExportResult
from workbench.contract import golden_input

pytestmark = pytest.mark.usefixtures("private_cache")  # every test gets its own optimized-model cache


def test_second_load_reuses_the_optimized_graph(fp32_export: ExportResult, tmp_path: Path, private_cache: Path) -> None:
    model_file = tmp_path / fp32_export.path.name
    shutil.copy(fp32_export.path, model_file)
    first = load_model(inspect_model(model_file), "cpu")
    assert first.optimized_cache == "saved" and first.golden is not None and first.golden.passed
    cached = optimized_cache_path(model_file)
    assert cached is not None and cached.is_file() and cached.parent.parent == private_cache
    assert (cached.parent / CACHE_DATA).stat().st_size > 0.9 * model_file.stat().st_size, "weights kept outside"
    assert not list(private_cache.glob("*.part")), "no staging folder left behind"
    second = load_model(inspect_model(model_file), "cpu")
    assert second.optimized_cache == "reused" and second.golden is not None and second.golden.passed
    x = golden_input((2, 3, 64, 64))
    np.testing.assert_allclose(first.run(x), second.run(x), rtol=1e-5, atol=1e-5)


def test_changed_file_invalidates_the_entry(fp32_export: ExportResult, tmp_path: Path, private_cache: Path) -> None:
    model_file = tmp_path / "dotted.name.v2.onnx"
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


def test_a_cache_that_cannot_be_written_does_not_stop_the_load(
    fp32_export: ExportResult, tmp_path: Path, private_cache: Path
) -> None:
    """ORT fails to save the optimised graph (as on a full disk): the model still loads, uncached."""
    model_file = tmp_path / fp32_export.path.name
    shutil.copy(fp32_export.path, model_file)
    cached = optimized_cache_path(model_file)
    assert cached is not None
    (providers._staging(cached) / CACHE_DATA).mkdir(parents=True)  # where ORT writes the weights: not a file
    loaded = load_model(inspect_model(model_file), "cpu")
    assert loaded.optimized_cache is None and loaded.golden is not None and loaded.golden.passed
    assert not cached.exists() and not list(private_cache.glob("*.part")), "nothing half-written is left"
    again = load_model(inspect_model(model_file), "cpu")  # the next load saves the entry as usual
    assert again.optimized_cache == "saved" and cached.is_file()


def test_cache_can_be_turned_off(fp32_export: ExportResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", "off")
    assert optimized_cache_path(fp32_export.path) is None
    assert load_model(inspect_model(fp32_export.path), "cpu").optimized_cache is None


def test_cache_keeps_the_most_recently_used_entries(
    fp32_export: ExportResult, tmp_path: Path, private_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(providers, "CACHE_MAX_ENTRIES", 2)
    files = [tmp_path / f"m{i}.onnx" for i in range(3)]
    for file in files:
        shutil.copy(fp32_export.path, file)
    private_cache.mkdir()
    (private_cache / "old-format.0123.4567.onnx").write_bytes(b"single-file entry of an earlier version")
    for file in (files[0], files[1], files[0], files[2]):  # m0 is used again after m1
        load_model(inspect_model(file), "cpu")
    kept = {path.name.split(".")[0] for path in private_cache.iterdir() if path.name != "inspected"}
    assert kept == {"m0", "m2"}, kept


def test_auto_uses_the_cache_when_cuda_cannot_start(
    fp32_export: ExportResult, tmp_path: Path, private_cache: Path
) -> None:
    reason = providers.cuda_start_failure()
    if reason is None:
        pytest.skip("the CUDA provider starts on this machine")
    assert "\n" not in reason
    model_file = tmp_path / fp32_export.path.name
    shutil.copy(fp32_export.path, model_file)
    first = load_model(inspect_model(model_file), "auto")
    second = load_model(inspect_model(model_file), "auto")
    assert (first.optimized_cache, second.optimized_cache) == ("saved", "reused")
    assert second.providers == (providers.CPU_EP,) and second.fallback_reason == reason


def test_a_damaged_entry_is_dropped_and_the_file_optimised_again(
    fp32_export: ExportResult, tmp_path: Path, private_cache: Path
) -> None:
    model_file = tmp_path / fp32_export.path.name
    shutil.copy(fp32_export.path, model_file)
    load_model(inspect_model(model_file), "cpu")
    cached = optimized_cache_path(model_file)
    assert cached is not None
    data = cached.parent / CACHE_DATA
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])  # truncated weights
    again = load_model(inspect_model(model_file), "cpu")
    assert again.optimized_cache == "saved" and again.golden is not None and again.golden.passed
    assert data.stat().st_size > 0.9 * model_file.stat().st_size, "a whole entry replaced the damaged one"
