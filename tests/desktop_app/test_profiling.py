"""Tests for desktop_app.core.profiling: ORT's profiler on a real exporter file and on foreign files.

Run: ``pytest tests/desktop_app/test_profiling.py -q``
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from desktop_app.core.catalog import inspect_model
from desktop_app.core.profiling import (
    GRAPH_PREFIX,
    ProfileCancelled,
    ProfileReport,
    aggregate,
    block_of,
    parse_trace,
    profile_model,
    to_csv,
    to_json,
)
from desktop_app.core.runtime import ModelLoadError
from tests.desktop_app.helpers import Zoo
from tests.helpers import DATA
from workbench.imageio import load_image


@pytest.fixture(scope="module")
def resnet_report(resnet18_64: Path) -> ProfileReport:
    entry = inspect_model(resnet18_64)
    assert entry.error is None, entry.error
    return profile_model(entry, load_image(DATA / "chelsea.png"), provider="cpu", runs=5, warmup=2)


def test_rows_are_named_after_pytorch_modules(resnet_report: ProfileReport) -> None:
    modules = {row.module for row in resnet_report.rows}
    assert "layer3.1.conv2" in modules and "conv1" in modules and "fc" in modules
    mapped = [r for r in resnet_report.rows if not r.module.startswith(GRAPH_PREFIX)]
    assert sum(r.median_us for r in mapped) > 0.9 * resnet_report.node_sum_us
    assert all(r.provider == "CPU" for r in resnet_report.rows)
    assert any(r.op_types == "Conv" for r in resnet_report.rows)
    times = [r.median_us for r in resnet_report.rows]
    assert times == sorted(times, reverse=True)
    assert sum(r.share for r in resnet_report.rows) == pytest.approx(100, abs=1)
    assert resnet_report.wall_median_us > 0 and resnet_report.first_run_wall_us > 0
    assert resnet_report.node_sum_us > 0 and resnet_report.first_run_node_sum_us > 0
    assert (resnet_report.runs, resnet_report.warmup) == (5, 2)


@pytest.mark.parametrize(
    ("depth", "expected"), [(1, "layer3"), (2, "layer3.1"), (0, "layer3.1.conv2"), (None, "conv1")]
)
def test_depth_aggregation(resnet_report: ProfileReport, depth: int | None, expected: str) -> None:
    rows = aggregate(resnet_report, depth)
    modules = [r.module for r in rows]
    assert expected in modules
    if depth:
        assert len(modules) == len(set(modules)) and all(r.node == "" for r in rows)
    else:
        assert rows == list(resnet_report.rows) and all(r.node for r in rows)
    assert sum(r.share for r in rows) == pytest.approx(100, abs=1)
    assert sum(r.median_us for r in rows) == pytest.approx(resnet_report.node_sum_us)
    assert [r.median_us for r in rows] == sorted((r.median_us for r in rows), reverse=True)
    if depth == 1:
        assert not any("." in m for m in modules)
        layer3 = next(r for r in rows if r.module == "layer3")
        assert layer3.nodes > 1 and "Conv" in layer3.op_types


def test_block_names() -> None:
    assert block_of("layer3.1.conv2", 1) == "layer3"
    assert block_of("layer3.1.conv2", 2) == "layer3.1"
    assert block_of("layer3.1.conv2", 5) == "layer3.1.conv2"
    assert block_of("layer3.1.conv2", 0) == "layer3.1.conv2"
    assert block_of(f"{GRAPH_PREFIX}/ReorderOutput", 1) == GRAPH_PREFIX
    with pytest.raises(ValueError, match="depth"):
        aggregate(ProfileReport("m", (), None, 1, 1, (), 1, 1, 1, 1), -1)


def test_csv_and_json_exports(resnet_report: ProfileReport) -> None:
    rows = aggregate(resnet_report, 2)
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert len(table) == len(rows)
    assert set(table[0]) == {
        "module",
        "node",
        "op_types",
        "provider",
        "median_ms",
        "p90_ms",
        "min_ms",
        "max_ms",
        "share_percent",
        "first_run_ms",
        "nodes",
    }
    assert table[0]["module"] == rows[0].module
    data = json.loads(to_json(resnet_report, rows))
    assert data["runs"] == 5 and data["providers"] == ["CPUExecutionProvider"]
    assert data["wall_median_ms"] > 0 and data["node_sum_ms"] > 0 and data["first_run_wall_ms"] > 0
    assert [r["module"] for r in data["rows"]] == [r.module for r in rows]


def test_parse_trace_groups_kernels_by_run() -> None:
    def kernel(name: str, ts: int, dur: int) -> dict[str, object]:
        args = {"op_name": "Conv", "provider": "CPUExecutionProvider"}
        return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": args}

    events = [
        {"cat": "Session", "name": "model_loading_uri", "ts": 0, "dur": 5},
        kernel("a", 12, 7),
        {"cat": "Node", "name": "a_fence_before", "ts": 11, "dur": 1},
        kernel("b", 20, 3),
        kernel("b", 24, 2),
        {"cat": "Session", "name": "model_run", "ts": 10, "dur": 20},
        {"cat": "Session", "name": "model_run", "ts": 40, "dur": 20},
        kernel("a", 41, 5),
        kernel("stray", 100, 9),
    ]
    runs = parse_trace(events)
    assert runs == [{"a": (7.0, "Conv", "CPU"), "b": (5.0, "Conv", "CPU")}, {"a": (5.0, "Conv", "CPU")}]


def test_foreign_model_nodes_keep_onnx_names(zoo: Zoo) -> None:
    entry = inspect_model(zoo.nhwc_dynamic)
    report = profile_model(entry, load_image(DATA / "coffee.png"), provider="cpu", runs=3, warmup=1)
    assert report.rows and all(r.module.startswith(GRAPH_PREFIX + "/") for r in report.rows)
    assert [r.module for r in aggregate(report, 1)] == [GRAPH_PREFIX]


def test_profile_with_cuda_request_reports_fallback(zoo: Zoo) -> None:
    report = profile_model(inspect_model(zoo.workbench), load_image(DATA / "coffee.png"), provider="cuda", runs=2)
    assert report.providers[0] == "CPUExecutionProvider" and report.fallback_reason


def test_profile_refuses_bad_input(zoo: Zoo) -> None:
    image = load_image(DATA / "coffee.png")
    with pytest.raises(ModelLoadError, match="escapes"):
        profile_model(inspect_model(zoo.bad_dir / "escaping.onnx"), image)
    with pytest.raises(ValueError, match="runs"):
        profile_model(inspect_model(zoo.workbench), image, runs=0)


def test_progress_is_reported_and_cancel_stops_between_runs(zoo: Zoo) -> None:
    entry, image = inspect_model(zoo.workbench), load_image(DATA / "coffee.png")
    seen: list[tuple[int, int]] = []
    report = profile_model(entry, image, provider="cpu", runs=3, warmup=1, progress=lambda *p: seen.append(p))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)] and report.runs == 3
    seen.clear()
    with pytest.raises(ProfileCancelled, match="after 2 of 12 runs"):
        profile_model(
            entry,
            image,
            provider="cpu",
            runs=10,
            warmup=2,
            progress=lambda *p: seen.append(p),
            cancelled=lambda: len(seen) >= 2,
        )
    assert seen == [(1, 12), (2, 12)]


def test_to_json_is_strict_and_escapes_names(resnet_report: ProfileReport) -> None:
    first = resnet_report.rows[0]
    odd = dataclasses.replace(first, module="layer1.\udce9\n", median_us=float("nan"))
    report = dataclasses.replace(resnet_report, rows=(odd,), model="caf\udce9")
    with pytest.raises(ValueError, match="not JSON compliant"):
        to_json(report)  # NaN is never written as the non-JSON token NaN
    finite = dataclasses.replace(report, rows=(dataclasses.replace(odd, median_us=1.5),))
    text = to_json(finite, ensure_ascii=True)
    text.encode("ascii")
    data = json.loads(text)
    assert data["model"] == "caf\\xe9" and data["rows"][0]["module"] == "layer1.\\xe9\\x0a"
    to_csv(finite.rows).encode("utf-8")  # no lone surrogate left: a strict UTF-8 file can hold it
