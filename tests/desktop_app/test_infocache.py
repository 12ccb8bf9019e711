"""The on-disk cache of what a model file's graph says: reused across starts, invalidated by any change.

Run: ``pytest tests/desktop_app/test_infocache.py -q``
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from desktop_app.core import infocache
from desktop_app.core.modelfile import GraphInfo, read_graph_info
from tests.desktop_app.conftest import Zoo


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache" / "optimized"
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", str(folder))
    return folder / "inspected"


def _no_parsing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Make parsing fail loudly; returns the list of files it was asked to parse."""
    asked: list[Path] = []

    def refuse(path: Path) -> GraphInfo:
        asked.append(path)
        raise AssertionError(f"{path} was parsed again")

    monkeypatch.setattr(infocache, "read_graph_info", refuse)
    return asked


def test_second_start_reads_the_record_not_the_model(zoo: Zoo, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = infocache.cached_graph_info(zoo.workbench)
    assert first == read_graph_info(zoo.workbench) and len(list(cache.glob("*.json"))) == 1
    _no_parsing(monkeypatch)
    assert infocache.cached_graph_info(zoo.workbench) == first


def test_a_changed_file_is_parsed_again(zoo: Zoo, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "m.onnx"
    shutil.copy(zoo.workbench, model)
    infocache.cached_graph_info(model)
    stat = model.stat()
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    asked = _no_parsing(monkeypatch)
    with pytest.raises(AssertionError):
        infocache.cached_graph_info(model)
    assert asked == [model]


def test_a_damaged_record_is_ignored_and_rewritten(zoo: Zoo, cache: Path) -> None:
    infocache.cached_graph_info(zoo.workbench)
    (record,) = cache.glob("*.json")
    record.write_text('{"metadata": {}, "input_name": 3')
    assert infocache.cached_graph_info(zoo.workbench) == read_graph_info(zoo.workbench)
    assert infocache._read(record) is not None


def test_models_with_external_data_are_not_cached(zoo: Zoo, cache: Path) -> None:
    info = infocache.cached_graph_info(zoo.external_ok)
    assert info.external_data and not list(cache.glob("*.json"))


def test_caching_off_parses_every_time(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", "off")
    assert infocache.cache_path(zoo.workbench) is None
    assert infocache.cached_graph_info(zoo.workbench) == read_graph_info(zoo.workbench)


def test_old_records_are_pruned(zoo: Zoo, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infocache, "MAX_RECORDS", 2)
    cache.mkdir(parents=True)
    for i in range(3):
        old = cache / f"old{i}.json"
        old.write_text("{}")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    infocache.cached_graph_info(zoo.workbench)
    assert sorted(r.name for r in cache.glob("*.json")) == sorted(
        [infocache.cache_path(zoo.workbench).name, "old2.json"]
    )
