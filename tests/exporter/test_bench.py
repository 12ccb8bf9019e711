"""The benchmark command's output format (a tiny model, few runs, in a subprocess): never a timed test.

Run: ``pytest tests/exporter/test_bench.py -q``
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.api import ExportResult
from exporter.bench import Accuracy, Timing, compare, summarise, torch_native_bf16
from exporter.bench_devices import (
    CUDA_REMEDY,
    BenchTarget,
    cuda_problem,
    describe_variants,
    ort_session,
    resolve_target,
)
from exporter.errors import ExporterError
from workbench.cpu import CPU_FEATURES

pytestmark = pytest.mark.usefixtures("private_cache")  # every test gets its own optimized-model cache

ROOT = Path(__file__).resolve().parents[2]
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


def bench(export: ExportResult, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """``python -m exporter bench`` on the small resnet18 export (64 px, random weights), one thread."""
    command = [
        sys.executable, "-m", "exporter", "bench", "--model", "resnet18", "--weights", "random",
        "--image-size", "64", "--threads", "1", "--dir", str(export.path.parent), "--json", str(out), *flags,
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_bench_prints_the_table_and_writes_the_record(
    fp32_export: ExportResult, int8_export: ExportResult, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    done = bench(fp32_export, out, "--runs", "2", "--warmup", "1", "--batches", "1,2", "--engine", "onnxruntime")
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
    stated = {"engine", "device", "precision"}  # what ran each variant
    assert set(timing) == set(Timing.__dataclass_fields__) | stated and timing["median_ms"] > 0
    accuracy = {a["variant"]: a for a in record["accuracy"]}
    assert set(accuracy["ort-int8"]) == set(Accuracy.__dataclass_fields__) | stated
    assert (record["engines"], record["device"]) == (["onnxruntime", "pytorch"], "cpu")
    assert set(record["variants"]) == set(variants) and not any("openvino" in t["variant"] for t in record["timings"])
    assert record["variants"]["ort-int8"] == {"engine": "onnxruntime", "device": "cpu", "precision": "int8"}
    assert all(t["engine"] == record["variants"][t["variant"]]["engine"] for t in record["timings"])
    assert record["session_options"]["openvino"].startswith("not run") and "engines: onnxruntime, pytorch" in text
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
    from exporter.bench_devices import add_openvino

    bogus = tmp_path / "bogus-int8.onnx"
    bogus.write_text("not a model")
    runners: dict = {}
    info = add_openvino(runners, {"int8": bogus}, threads=1, shape=(3, 32, 32), batches=[1])
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


@pytest.mark.skipif(not HAS_OPENVINO, reason="openvino is not installed (pip install openvino)")
def test_engine_openvino_runs_pytorch_and_openvino_only(fp32_export: ExportResult, tmp_path: Path) -> None:
    out = tmp_path / "bench-ov.json"
    done = bench(fp32_export, out, "--runs", "1", "--warmup", "0", "--batches", "1", "--engine", "openvino")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    engines = {name: v["engine"] for name, v in record["variants"].items()}
    assert {"pytorch-fp32", "openvino-fp32", "openvino-int8"} <= set(engines) and "ort-fp32" not in engines
    assert set(engines.values()) == {"pytorch", "openvino"} == set(record["engines"])
    assert {t["variant"] for t in record["timings"]} == set(engines) and record["device"] == "cpu"
    assert all(t["device"] == "cpu" for t in record["timings"])
    assert record["session_options"]["onnxruntime"] == "not run (--engine openvino)"
    assert "ort-" not in done.stdout and "openvino-int8" in done.stdout


def test_device_cuda_that_does_not_start_is_an_error_naming_the_remedy(tmp_path: Path) -> None:
    problem = cuda_problem()
    if problem is None:
        pytest.skip("CUDA runs ONNX Runtime here: --device cuda would measure it")
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "exporter", "bench", "--model", "resnet18", "--device", "cuda", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == ExporterError.exit_code == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last
        == f"error: --device cuda: {problem}; needs an NVIDIA GPU and ONNX Runtime with CUDA and cuDNN: {CUDA_REMEDY}"
    )
    assert not done.stdout and not out.exists()  # nothing measured, nothing exported


def test_a_session_that_falls_back_from_cuda_is_refused(fp32_export: ExportResult) -> None:
    import onnxruntime as ort

    if cuda_problem() is None:
        pytest.skip("CUDA runs ONNX Runtime here")
    with pytest.raises(ExporterError, match=rf"{fp32_export.path.name}: --device cuda, but ONNX Runtime runs it on "):
        ort_session(fp32_export.path, ort.SessionOptions(), "cuda")
    assert ort_session(fp32_export.path, ort.SessionOptions()).get_providers() == ["CPUExecutionProvider"]


def test_device_npu_absent_is_an_error_listing_the_devices(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "exporter", "bench", "--model", "resnet18", "--device", "npu"]
    done = subprocess.run([*command, "--json", str(tmp_path / "b.json")], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    if HAS_OPENVINO:
        import openvino as ov

        devices = list(ov.Core().available_devices)
        if any(d.startswith("NPU") for d in devices):
            pytest.skip("this machine has an NPU")
        expected = f"error: --device npu: OpenVINO has no NPU device here (available: {', '.join(devices)})"
    else:
        expected = "error: --engine openvino --device npu: OpenVINO is not installed (pip install openvino)"
    assert done.returncode == 2 and "Traceback" not in done.stderr and not done.stdout
    assert done.stderr.strip() == expected


def test_help_says_what_engine_and_device_run() -> None:
    import argparse

    from exporter.cli import build_parser

    parser = build_parser("cnn-export")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    usage = " ".join(sub.choices["bench"].format_help().split())
    assert "--engine {all,onnxruntime,openvino}" in usage and "--device {cpu,cuda,gpu,npu}" in usage
    assert "besides PyTorch eager (always run on the CPU, as the reference)" in usage
    assert "older form of --engine onnxruntime" in usage
    assert CUDA_REMEDY in usage.replace("onnxruntime- gpu", "onnxruntime-gpu")  # argparse may wrap at the hyphen
    assert "gpu, npu: OpenVINO's Intel devices" in usage


def test_engine_and_device_flags_resolve_or_name_the_contradiction() -> None:
    assert resolve_target("all", "cpu") == BenchTarget(onnxruntime=True, openvino=True)
    assert resolve_target("all", "cpu", no_openvino=True) == BenchTarget(onnxruntime=True, openvino=False)
    assert resolve_target("openvino", "cpu") == BenchTarget(False, True, "cpu", openvino_required=True)
    assert resolve_target("all", "cuda") == BenchTarget(onnxruntime=True, openvino=False, device="cuda")
    assert resolve_target("all", "gpu") == BenchTarget(False, True, "gpu", openvino_required=True)
    for flags, message in [
        (("openvino", "cpu", True), "--no-openvino contradicts --engine openvino"),
        (("openvino", "cuda"), "CUDA is ONNX Runtime's"),
        (("onnxruntime", "npu"), "npu is an OpenVINO device"),
    ]:
        with pytest.raises(ExporterError, match=message):
            resolve_target(*flags)  # type: ignore[arg-type]
    names = ["pytorch-fp32", "pytorch-bf16", "ort-int8-cuda", "openvino-bf16-gpu"]
    described = describe_variants(names, BenchTarget(True, True, "gpu"))
    assert described["pytorch-bf16"] == {"engine": "pytorch", "device": "cpu", "precision": "bf16"}
    assert described["openvino-bf16-gpu"] == {"engine": "openvino", "device": "gpu", "precision": "bf16"}
    assert described["ort-int8-cuda"]["engine"] == "onnxruntime"
