"""The benchmark command's output format (a tiny model, few runs, in a subprocess): never a timed test.

Run: ``pytest tests/exporter/test_bench.py -q``
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.api import ExportResult
from exporter.bench import Accuracy, Timing, compare, summarise, torch_native_bf16
from workbench.cpu import CPU_FEATURES

pytestmark = pytest.mark.usefixtures("private_cache")  # every test gets its own optimized-model cache

ROOT = Path(__file__).resolve().parents[2]


def test_bench_prints_the_table_and_writes_the_record(
    fp32_export: ExportResult, int8_export: ExportResult, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable, "-m", "exporter", "bench", "--model", "resnet18", "--weights", "random",
        "--image-size", "64", "--runs", "2", "--warmup", "1", "--batches", "1,2", "--threads", "1",
        "--dir", str(fp32_export.path.parent), "--json", str(out), "--no-openvino",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    text = done.stdout
    progress = done.stderr.splitlines()  # off a terminal: plain lines on stderr, one per variant / per round
    assert [line for line in progress if line.startswith("bench: accuracy: ")][-1].startswith("bench: accuracy: ")
    assert any(line.startswith("bench: timing: ") and "batch 2, round 2/2" in line for line in progress), progress
    assert "onnxruntime:" not in done.stderr  # ORT's own log stays out
    assert "median ms" in text and "p90 ms" in text and "vs PyTorch" in text and "top-1 agree" in text
    variants = ("pytorch-fp32", "ort-fp32", "ort-int8") + (("pytorch-bf16",) if torch_native_bf16() else ())
    for variant in variants:
        assert text.count(variant) == 3, variant  # batch 1, batch 2, accuracy
    record = json.loads(out.read_text())
    assert {"hardware", "versions", "session_options", "load_average_1_5_15", "timings", "accuracy"} <= set(record)
    assert record["files"]["int8"] == str(int8_export.path)
    hardware = record["hardware"]
    assert set(hardware["cpu_features"]) <= set(CPU_FEATURES) and hardware["cpu"] in text
    if sys.platform == "linux" and torch_native_bf16():  # oneDNN's answer and /proc/cpuinfo agree
        assert {"avx512_bf16", "amx_bf16"} & set(hardware["cpu_features"])
    assert {(t["variant"], t["batch"]) for t in record["timings"]} == {(v, b) for v in variants for b in (1, 2)}
    assert ("autocast" in record["session_options"]["pytorch-bf16"]) == torch_native_bf16()
    timing = record["timings"][0]
    assert set(timing) == set(Timing.__dataclass_fields__) and timing["median_ms"] > 0
    accuracy = {a["variant"]: a for a in record["accuracy"]}
    assert set(accuracy["ort-int8"]) == set(Accuracy.__dataclass_fields__)
    assert accuracy["ort-fp32"]["top1_agreement"] == 1.0 and accuracy["ort-fp32"]["max_rel_diff"] < 1e-3
    assert accuracy["ort-int8"]["images"] >= 4  # scikit-learn's two photos (dev extra), whole and mirrored
    if torch_native_bf16():  # bf16 keeps 8 bits of mantissa: logits within a few per cent of their range
        assert 0 < accuracy["pytorch-bf16"]["max_rel_diff"] < 0.1
    assert 0.0 <= record["fp32_noise_floor"]["top1_agreement"] <= 1.0 and "noise floor" in text


def test_a_json_path_in_a_missing_folder_fails_before_measuring(tmp_path: Path) -> None:
    target = tmp_path / "no-such-folder" / "bench.json"
    command = [sys.executable, "-m", "exporter", "bench", "--model", "resnet18", "--json", str(target)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: --json {target}: folder {target.parent} does not exist"
    assert not done.stdout and not target.parent.exists()


def test_a_file_openvino_cannot_read_is_skipped_and_named(tmp_path: Path) -> None:
    pytest.importorskip("openvino")  # in the dev extra (and the perf extra)
    from exporter.bench import _add_openvino

    bogus = tmp_path / "bogus-int8.onnx"
    bogus.write_text("not a model")
    runners: dict = {}
    info = _add_openvino(runners, {"int8": bogus}, threads=1, shape=(3, 32, 32), batches=[1])
    assert runners == {} and info["openvino-int8"].startswith("skipped: Unable to read the model")


def test_summary_ratios_are_relative_to_pytorch() -> None:
    samples = {("pytorch-fp32", 1): [0.08, 0.08, 0.09], ("ort-int8", 1): [0.01, 0.02, 0.02]}
    rows = {t.variant: t for t in summarise(samples, gmacs=4.0)}
    assert rows["ort-int8"].speedup_vs_pytorch == pytest.approx(4.0)
    assert rows["ort-int8"].images_per_s == pytest.approx(50.0)
    assert rows["ort-int8"].gmacs_per_s == pytest.approx(200.0)


def test_compare_counts_top1_agreement() -> None:
    import numpy as np

    reference = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)
    got = np.array([[0.0, 1.0], [0.0, 1.0]], np.float32)
    result = compare(reference, got, "x", stable=np.array([True, False]))
    assert result.top1_agreement == 0.5 and result.max_abs_diff == 1.0 and result.max_rel_diff == 1.0
    assert result.stable_images == 1 and result.top1_agreement_stable == 1.0  # the flip was on the unstable one
    flipped = compare(reference, got, "x", stable=np.array([False, True]))
    assert flipped.top1_agreement_stable == 0.0


def test_the_file_comparison_script_prints_one_row_per_file(
    fp32_export: ExportResult, int8_export: ExportResult, tmp_path: Path
) -> None:
    files = [str(fp32_export.path), str(int8_export.path)]
    script = [sys.executable, "scripts/bench_onnx_files.py"]
    command = [*script, *files, "--runs", "2", "--warmup", "0"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line.split() for line in done.stdout.splitlines() if line.endswith(".onnx")]
    assert [row[-1] for row in rows] == files
    assert rows[0][2] == "1.00x" and all(float(row[0]) > 0 and row[2].endswith("x") for row in rows)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    done = subprocess.run([*script, files[0], str(broken)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode != 0 and f"{broken}: cannot be loaded by ONNX Runtime" in done.stderr
    assert "Traceback" not in done.stderr
