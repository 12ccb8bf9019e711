"""scripts/gpu_check.py: the no-GPU answer (exit 0, why, remedy) and the parts that need no GPU.

Agreement on two real CPU sessions, node placement parsed from a real CPU profile JSON, the report's
formatting and the latency measurement; the CUDA checks themselves need an NVIDIA GPU.

Example::

    python -m pytest -q -n 0 tests/test_gpu_check.py
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pytest

from desktop_app.core import providers
from desktop_app.core.catalog import inspect_model
from exporter.api import ExportResult
from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_why_and_exits_0(gpu_check: ModuleType, tmp_path: Path) -> None:
    if gpu_check.unavailable_reason() is None:
        pytest.skip("CUDA starts on this machine: the script runs the full check instead")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--models-dir", str(tmp_path), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("no GPU to check on this machine: "), done.stdout
    assert "remedy: " in lines[0]
    if not providers.nvidia_present():
        assert "no NVIDIA GPU found" in lines[0] and "install the NVIDIA driver" in lines[0]
    assert "Failed to load" not in done.stderr, "ONNX Runtime's library errors stay out of the terminal"
    assert list(tmp_path.iterdir()) == [], "nothing is exported when there is no GPU to check"


def test_agreement_of_two_real_cpu_sessions(gpu_check: ModuleType, fp32_export: ExportResult) -> None:
    entry = inspect_model(fp32_export.path)
    optimised = ort.InferenceSession(str(entry.path), providers=[providers.CPU_EP])
    plain_options = ort.SessionOptions()
    plain_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain = ort.InferenceSession(str(entry.path), plain_options, providers=[providers.CPU_EP])
    x = gpu_check.photo_batch(entry, 2)
    assert x.shape[0] == 2 and x.dtype == np.float32
    ref = optimised.run([entry.output_name], {entry.input_name: x})[0]
    got = plain.run([entry.output_name], {entry.input_name: x})[0]
    same = gpu_check.agreement(ref, got)
    assert same.images == 2 and same.top1_equal == 2 and same.logit_range > 0
    assert same.relative < 1e-4 and same.passed(gpu_check.TOLERANCE["fp32"])
    swapped = got.copy()
    top = int(ref[0].argmax())
    swapped[0, top] = ref[0].min() - 1.0  # the winning class now loses: top-1 differs
    bad = gpu_check.agreement(ref, swapped)
    assert bad.top1_equal == 1 and not bad.passed(1.0)
    check = gpu_check.agreement_check("fp32 m.onnx", bad, 0.01)
    assert check.ok is False and "top-1 equal on 1 of 2 images" in check.lines[0]
    with pytest.raises(ValueError, match="of one shape"):
        gpu_check.agreement(ref, ref[:1])


def test_placement_from_a_real_cpu_profile(gpu_check: ModuleType, fp32_export: ExportResult, tmp_path: Path) -> None:
    entry = inspect_model(fp32_export.path)
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(tmp_path / "ort")
    session = ort.InferenceSession(str(entry.path), options, providers=[providers.CPU_EP])
    session.run([entry.output_name], {entry.input_name: gpu_check.photo_batch(entry, 1)})
    events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    placed = gpu_check.placement(events)
    assert len(placed) > 10 and {ep for _, ep in placed.values()} == {"CPU"}
    assert any(op == "Conv" or "Conv" in op for op, _ in placed.values())
    assert entry.card is not None
    check = gpu_check.placement_check(placed, entry.card.node_map, "fp32 resnet18")
    assert check.ok is False and check.lines[0] == f"0 of {len(placed)} nodes on CUDA"
    assert any("layer1.0.conv1" in line and "on CPU" in line for line in check.lines), check.lines
    on_cuda = {node: (op, "CUDA") for node, (op, _) in placed.items()}
    all_on_cuda = gpu_check.placement_check(on_cuda, entry.card.node_map, "fp32 resnet18")
    assert all_on_cuda.ok is True and all_on_cuda.lines == [f"{len(placed)} of {len(placed)} nodes on CUDA"]
    with_shape = {**on_cuda, "flatten_shape": ("Shape", "CPU")}  # ORT keeps shape arithmetic on the CPU
    shape_only = gpu_check.placement_check(with_shape, entry.card.node_map, "fp32 resnet18")
    assert shape_only.ok is True and "1 shape-arithmetic nodes on the CPU" in shape_only.lines[1]
    assert shape_only.lines[2] == "not on CUDA: (graph)/flatten_shape (Shape) on CPU"


def test_report_formatting_and_latency_measurement(gpu_check: ModuleType) -> None:
    calls: list[int] = []
    latency = gpu_check.measure(lambda: calls.append(1), runs=4, warmup=2)
    assert len(calls) == 1 + 2 + 4 and 0 <= latency.median_ms <= latency.p90_ms
    fast = gpu_check.Latency(median_ms=1.0, p90_ms=1.2, first_ms=300.0)
    slow = gpu_check.Latency(median_ms=8.0, p90_ms=9.0, first_ms=10.0)
    table = gpu_check.latency_table([("batch 1 CPU", slow, None), ("batch 1 CUDA", fast, slow)])
    assert table[0].split() == ["median", "ms", "p90", "ms", "first", "ms", "vs", "CPU"]
    assert table[2].split()[-1] == "8.0x" and "300.0" in table[2] and table[1].split()[-1] == "10.0"
    checks = [
        gpu_check.Check("fp32 m.onnx: node placement", True, ["12 of 12 nodes on CUDA"]),
        gpu_check.Check("fp32 m.onnx: latency", None, table),
    ]
    text = gpu_check.format_report(["GPU check · test"], checks)
    assert text.splitlines()[0] == "GPU check · test"
    assert "[PASS] fp32 m.onnx: node placement" in text and "[INFO] fp32 m.onnx: latency" in text
    assert text.endswith("all 1 checks passed")
    failing = gpu_check.format_report([], [*checks, gpu_check.Check("fp16 m.onnx: CUDA agrees with the CPU", False)])
    assert "[FAIL] fp16 m.onnx: CUDA agrees with the CPU" in failing
    assert failing.endswith("FAILED: fp16 m.onnx: CUDA agrees with the CPU")
