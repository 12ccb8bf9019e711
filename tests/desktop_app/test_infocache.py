"""The on-disk cache of what a model file's graph says: reused across starts, invalidated by any change.

Run: ``pytest tests/desktop_app/test_infocache.py -q``
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import onnx
import pytest

from desktop_app.core import catalog, infocache
from tests.desktop_app.helpers import Zoo
from workbench.modelfile import GraphInfo, read_graph_info


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


def test_a_damaged_record_is_ignored_and_rewritten(zoo: Zoo, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    infocache.cached_graph_info(zoo.workbench)
    (record,) = cache.glob("*.json")
    record.write_text('{"metadata": {}, "input_name": 3')
    assert infocache.cached_graph_info(zoo.workbench) == read_graph_info(zoo.workbench)
    _no_parsing(monkeypatch)
    assert infocache.cached_graph_info(zoo.workbench) == read_graph_info(zoo.workbench)  # the rewritten record


def test_models_with_external_data_are_not_cached(zoo: Zoo, cache: Path) -> None:
    info = infocache.cached_graph_info(zoo.external_ok)
    assert info.external_data and not list(cache.glob("*.json"))


def test_caching_off_parses_every_time(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", "off")
    assert infocache.cache_path(zoo.workbench) is None
    assert infocache.cached_graph_info(zoo.workbench) == read_graph_info(zoo.workbench)


def test_old_records_are_pruned(zoo: Zoo, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(infocache, "MAX_RECORDS", 2)
    monkeypatch.setattr(infocache, "_WRITES", itertools.count(), raising=False)  # a process counts at its 1st write
    cache.mkdir(parents=True)
    for i in range(3):
        old = cache / f"old{i}.json"
        old.write_text("{}")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    infocache.cached_graph_info(zoo.workbench)
    assert sorted(r.name for r in cache.glob("*.json")) == sorted(
        [infocache.cache_path(zoo.workbench).name, "old2.json"]
    )


def _count_parsing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Let parsing happen, recording every file parsed."""
    parsed: list[Path] = []
    real = infocache.read_graph_info

    def counting(path: Path) -> GraphInfo:
        parsed.append(path)
        return real(path)

    monkeypatch.setattr(infocache, "read_graph_info", counting)
    return parsed


def test_a_folder_of_300_models_is_parsed_once_then_remembered(
    zoo: Zoo, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(300):
        shutil.copy(zoo.workbench, folder / f"m{i:03d}.onnx")
    monkeypatch.setattr(catalog, "_INSPECTED", type(catalog._INSPECTED)())
    parsed = _count_parsing(monkeypatch)
    assert all(e.usable for e in catalog.scan_models(folder)) and len(parsed) == 300
    assert len(catalog.scan_models(folder)) == 300 and len(parsed) == 300  # same process: nothing read again
    catalog._INSPECTED.clear()  # as after a restart: the disk records answer
    assert len(catalog.scan_models(folder)) == 300 and len(parsed) == 300
    assert len(list(cache.glob("*.json"))) == 300


def test_a_changed_file_replaces_its_record(zoo: Zoo, cache: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    shutil.copy(zoo.workbench, model)
    for step in range(3):
        os.utime(model, ns=(1_000_000_000 * step, 1_000_000_000 * step))
        infocache.cached_graph_info(model)
    assert len(list(cache.glob("*.json"))) == 1


def test_the_record_keeps_only_what_a_consumer_reads(zoo: Zoo, cache: Path, tmp_path: Path) -> None:
    model = onnx.load(str(zoo.workbench))
    model.metadata_props.add(key="producer.notes", value="n" * 25_000_000)
    model.metadata_props.add(key="workbench.future_key", value="f" * 25_000_000)
    path = tmp_path / "fat-metadata.onnx"
    onnx.save(model, str(path))
    info = infocache.cached_graph_info(path)
    assert "producer.notes" not in info.metadata and "workbench.future_key" not in info.metadata
    assert "workbench.labels" in info.metadata and "workbench.node_map" in info.metadata
    assert catalog.inspect_model(path).usable
    (record,) = cache.glob("*.json")
    assert record.stat().st_size < 64 * 1024, record.stat().st_size
