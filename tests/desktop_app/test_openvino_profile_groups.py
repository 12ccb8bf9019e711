"""``profile --engine openvino --depth D --group-by module|op|provider``: OpenVINO's layers summed into module blocks,
op types or kernels (a subprocess on the tiny exported model), and the median-of-sums rule of ``group_layers``.

Run: ``pytest tests/desktop_app/test_openvino_profile_groups.py -q -n 0``
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino): no OpenVINO engine to test")

from desktop_app.core.openvino_profiling import LayerTiming, OpenVinoProfile, group_layers
from tests.desktop_app.helpers import Photos, Zoo, run_cli


@pytest.fixture(scope="module")
def models(zoo: Zoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ov-group-models")
    shutil.copy(zoo.workbench, folder / zoo.workbench.name)
    return folder


def _row(module: str, op: str, kernel: str, times: tuple[float, ...]) -> LayerTiming:
    ordered = sorted(times)
    return LayerTiming(module, module, op, kernel, ordered[len(ordered) // 2], max(times), min(times), max(times),
                       times_us=times)  # fmt: skip


def test_group_times_are_taken_over_the_per_run_sums() -> None:
    rows = (
        _row("layer1.0.conv1", "Convolution", "brgconv", (1.0, 10.0, 1.0)),
        _row("layer1.1.conv1", "Convolution", "jit", (10.0, 1.0, 1.0)),
        _row("fc", "FullyConnected", "gemm", (4.0, 4.0, 4.0)),
        _row("(graph)/Reorder_1", "Reorder", "jit", (0.5, 0.5, 0.5)),
    )
    profile = OpenVinoProfile(rows, not_run=0, runs=3, warmup=0, wall_median_us=20.0, device="CPU", precision="fp32")
    (layer1, fc, graph) = group_layers(profile, 1)
    assert (layer1.name, layer1.layers, layer1.op_types, layer1.kernels) == ("layer1", 2, "Convolution", "brgconv, jit")
    assert (layer1.median_us, layer1.min_us, layer1.max_us) == (11.0, 2.0, 11.0)  # runs: 11, 11, 2 -- not 1 + 1
    assert (fc.name, fc.median_us, graph.name, graph.median_us) == ("fc", 4.0, "(graph)", 0.5)
    # shares of the groups' medians (11 + 4 + 0.5), which add up to 100; not of the layers' medians (6.5)
    assert layer1.share == pytest.approx(100 * 11 / 15.5)
    assert sum(g.share for g in (layer1, fc, graph)) == pytest.approx(100)
    for depth, by in ((0, "module"), (2, "module"), (0, "provider"), (0, "op")):
        assert sum(g.share for g in group_layers(profile, depth, by)) == pytest.approx(100)
    assert [g.name for g in group_layers(profile, 2)] == ["fc", "layer1.0", "layer1.1", "(graph)"]  # medians 4, 1, 1
    assert [g.name for g in group_layers(profile, 0)] == [r.module for r in rows]  # depth 0: the single layers
    by_kernel = {g.name: g for g in group_layers(profile, 0, "provider")}
    assert set(by_kernel) == {"brgconv", "jit", "gemm"} and by_kernel["jit"].op_types == "Convolution, Reorder"
    assert [g.name for g in group_layers(profile, 3, "op")] == ["Convolution", "FullyConnected", "Reorder"]
    with pytest.raises(ValueError, match="cannot group by 'node'"):
        group_layers(profile, 0, "node")
    with pytest.raises(ValueError, match="depth must be >= 0"):
        group_layers(profile, -1)


def test_depth_groups_in_json_and_csv_sum_to_the_layer_time(models: Path, photos: Photos, tmp_path: Path) -> None:
    table = tmp_path / "blocks.csv"
    args = ("profile", photos.good[0], "--engine", "openvino", "--runs", "1", "--warmup", "1", "--depth", "2")
    proc = run_cli(*args, "--json", "--csv", table, models=models)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["engine"], data["group_by"], data["depth"]) == ("openvino", "module", 2)
    names = [row["group"] for row in data["rows"]]
    assert {"conv1", "layer1.0", "pool", "fc"} <= set(names) and len(names) == len(set(names)), names
    assert not any(name.startswith("layer1.0.") for name in names)
    assert sum(row["layers"] for row in data["rows"]) >= 5
    # one run: each group's median is its layers' time in that run, so the groups add up to the layer sum
    assert sum(row["median_ms"] for row in data["rows"]) == pytest.approx(data["layer_sum_ms"], abs=1e-5)
    assert sum(row["share_percent"] for row in data["rows"]) == pytest.approx(100, abs=0.01)
    with table.open(encoding="utf-8", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [line["group"] for line in lines] == names
    assert [float(line["median_ms"]) for line in lines] == [row["median_ms"] for row in data["rows"]]


def test_depth_and_group_by_tables(models: Path, photos: Photos) -> None:
    base = ("profile", photos.good[0], "--engine", "openvino", "--runs", "3", "--warmup", "1")
    blocks = run_cli(*base, "--depth", "1", models=models)
    assert blocks.returncode == 0, blocks.stderr
    lines = blocks.stdout.splitlines()
    assert "on OpenVINO CPU, fp32" in lines[0]
    assert lines[1].split()[:4] == ["module", "layers", "op", "types"] and lines[1].split()[-2:] == ["share", "%"]
    body = lines[2:-2]
    assert {"conv1", "layer1", "pool", "fc"} <= {line.split()[0] for line in body}, body
    assert "sum of its layers' times in each run" in lines[-2] and "sum of layer times" in lines[-1]
    kernels = run_cli(*base, "--group-by", "provider", "--json", models=models)
    assert kernels.returncode == 0, kernels.stderr
    rows = json.loads(kernels.stdout)["rows"]
    assert all(row["group"] == row["kernels"] and row["group"] not in ("", "undef") for row in rows), rows
    assert "Convolution" in {op for row in rows for op in row["op_types"].split(", ")}
    assert all(row["min_ms"] <= row["median_ms"] <= row["p90_ms"] <= row["max_ms"] for row in rows)
    usage = " ".join(run_cli("profile", "--help").stdout.split())
    assert "on OpenVINO: by the kernel that ran each layer" in usage
