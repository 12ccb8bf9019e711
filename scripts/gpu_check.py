"""Does CUDA really run this workbench's models? One report: placement, agreement, layers, latency, I/O binding.

On a machine whose ONNX Runtime CUDA provider starts, for the default model's fp32 and fp16 files it checks and
prints: every node placed on CUDA (the ``provider`` of each node in ONNX Runtime's profile), the CUDA outputs
agree with the CPU's on two real photos (top-1 equal, max |diff| relative to the logit range), the slowest
layers on CUDA in PyTorch module names (``desktop_app.core.profiling``), the first run (cuDNN algorithm
search) apart from the steady state, batch-1 and batch-32 latency against the CPU, and the same with I/O
binding (input and output on the GPU, no host copies). Files come from ``--models-dir`` (default: the app's
models folder); missing ones are exported there with ``python -m exporter export --default [--precision fp16]``.
On a machine without an NVIDIA GPU, or where the CUDA provider cannot start, it says so, why and the remedy
(``desktop_app.core.providers``), and exits 0. Exit 1 when a check fails on a GPU.

Example::

    python scripts/gpu_check.py --quick                # ~1 minute on a GPU machine
    python scripts/gpu_check.py --models-dir ~/models  # the full run: a few minutes
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_app.core import providers  # noqa: E402
from desktop_app.core.catalog import DEFAULT_ARCHITECTURE, ModelEntry, scan_models  # noqa: E402
from desktop_app.core.profiling import ProfileRow, aggregate, module_name, parse_trace, profile_model  # noqa: E402
from workbench.contract import NodeMap  # noqa: E402
from workbench.imageio import load_image  # noqa: E402
from workbench.paths import models_dir  # noqa: E402
from workbench.preprocess import preprocess_batch  # noqa: E402

PHOTOS = (REPO / "exporter" / "data" / "photos" / "chelsea.png", REPO / "exporter" / "data" / "photos" / "coffee.png")
PRECISIONS = ("fp32", "fp16")
#: max |CUDA - CPU| / (logit max - logit min) allowed per file precision (fp32: TF32 convolutions may be on).
TOLERANCE = {"fp32": 1e-2, "fp16": 3e-2}
BIG_BATCH = 32
#: Ops ONNX Runtime may keep on the CPU beside a CUDA graph (shape arithmetic on a few integers).
SHAPE_OPS = frozenset(
    {"Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "ConstantOfShape", "Range", "Size"}
)


@dataclass(frozen=True)
class Agreement:
    """How closely one session's logits match a reference's on the same inputs."""

    top1_equal: int
    images: int
    max_abs_diff: float
    logit_range: float

    @property
    def relative(self) -> float:
        return self.max_abs_diff / self.logit_range if self.logit_range > 0 else float("inf")

    def passed(self, tolerance: float) -> bool:
        return self.top1_equal == self.images and self.relative <= tolerance


@dataclass
class Check:
    """One section of the report: a title, PASS/FAIL/INFO, and its lines."""

    title: str
    ok: bool | None  # None: information, not a check
    lines: list[str] = field(default_factory=list)


def agreement(reference: np.ndarray, other: np.ndarray) -> Agreement:
    """Compare two (N, classes) logit arrays: top-1 per row, max |diff|, the reference's logit range."""
    ref, out = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if ref.shape != out.shape or ref.ndim != 2:
        raise ValueError(f"logits must be two (N, classes) arrays of one shape, got {ref.shape} and {out.shape}")
    return Agreement(
        top1_equal=int((ref.argmax(1) == out.argmax(1)).sum()),
        images=ref.shape[0],
        max_abs_diff=float(np.abs(ref - out).max()),
        logit_range=float(ref.max() - ref.min()),
    )


def placement(events: Iterable[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """Node -> (op type, short provider name, e.g. ``CUDA``) of every node in an ONNX Runtime profile's events.

    The profile (``enable_profiling``) records each node's kernel with the provider that ran it; a node
    seen in any run is listed (with the provider of the first run it appears in).
    """
    placed: dict[str, tuple[str, str]] = {}
    for run in parse_trace(events):
        for node, (_, op, provider) in run.items():
            placed.setdefault(node, (op, provider))
    return placed


def placement_of_rows(rows: Iterable[ProfileRow]) -> dict[str, tuple[str, str]]:
    """The same mapping from a :class:`ProfileReport`'s single-node rows."""
    return {row.node: (row.op_types, row.provider) for row in rows if row.node}


def placement_check(placed: Mapping[str, tuple[str, str]], node_map: NodeMap, name: str) -> Check:
    """PASS when every compute node ran on CUDA; the nodes elsewhere are listed in module names with op types.

    ONNX Runtime keeps small shape arithmetic (:data:`SHAPE_OPS`, e.g. the Shape -> Gather -> Concat that
    feeds a Reshape) on the CPU on purpose; such nodes are counted and named, but do not fail the check.
    """
    elsewhere = sorted((module_name(node, node_map), op, ep) for node, (op, ep) in placed.items() if ep != "CUDA")
    compute = [item for item in elsewhere if item[1] not in SHAPE_OPS]
    check = Check(f"{name}: node placement", ok=bool(placed) and not compute)
    check.lines.append(f"{len(placed) - len(elsewhere)} of {len(placed)} nodes on CUDA")
    if len(elsewhere) > len(compute):
        check.lines.append(f"{len(elsewhere) - len(compute)} shape-arithmetic nodes on the CPU (ONNX Runtime's choice)")
    shown = compute + [item for item in elsewhere if item[1] in SHAPE_OPS]
    check.lines += [f"not on CUDA: {module} ({op}) on {ep}" for module, op, ep in shown[:20]]
    if len(shown) > 20:
        check.lines.append(f"... and {len(shown) - 20} more")
    return check


def agreement_check(name: str, result: Agreement, tolerance: float) -> Check:
    return Check(
        f"{name}: CUDA agrees with the CPU",
        ok=result.passed(tolerance),
        lines=[
            f"top-1 equal on {result.top1_equal} of {result.images} images; max |diff| {result.max_abs_diff:.3g} "
            f"= {100 * result.relative:.3g}% of the logit range (allowed {100 * tolerance:.3g}%)"
        ],
    )


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p90_ms: float
    first_ms: float


def measure(run: Callable[[], object], runs: int, warmup: int = 2) -> Latency:
    """Wall time of ``run``: the first call apart, then ``warmup`` untimed calls, then ``runs`` timed ones."""
    start = time.perf_counter()
    run()
    first = (time.perf_counter() - start) * 1e3
    for _ in range(warmup):
        run()
    times = []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return Latency(statistics.median(times), times[min(len(times) - 1, int(0.9 * len(times)))], first)


def latency_table(rows: Iterable[tuple[str, Latency, Latency | None]]) -> list[str]:
    """Lines of a latency table: label, median and p90, first run, speed-up against the CPU row of the pair."""
    lines = [f"{'':<28} {'median ms':>10} {'p90 ms':>9} {'first ms':>9} {'vs CPU':>7}"]
    for label, value, cpu in rows:
        ratio = f"{cpu.median_ms / value.median_ms:6.1f}x" if cpu is not None and value.median_ms > 0 else ""
        lines.append(f"{label:<28} {value.median_ms:>10.3f} {value.p90_ms:>9.3f} {value.first_ms:>9.1f} {ratio:>7}")
    return lines


def format_report(header: Iterable[str], checks: Iterable[Check]) -> str:
    """The whole report as text: header lines, then one block per check, then the verdict line."""
    out = [*header, ""]
    checks = list(checks)
    for check in checks:
        mark = {True: "PASS", False: "FAIL", None: "INFO"}[check.ok]
        out.append(f"[{mark}] {check.title}")
        out += [f"       {line}" for line in check.lines]
    failed = [c.title for c in checks if c.ok is False]
    out.append("")
    out.append(f"FAILED: {'; '.join(failed)}" if failed else f"all {sum(c.ok is True for c in checks)} checks passed")
    return "\n".join(out)


def unavailable_reason() -> str | None:
    """Why CUDA cannot be checked here (with the remedy), or None when the CUDA provider starts."""
    if not providers.cuda_listed():
        return providers.with_remedy(f"this onnxruntime build has no {providers.CUDA_EP}")
    if not providers.nvidia_present():
        return providers.with_remedy("no NVIDIA GPU found (no /dev/nvidia0, no NVIDIA driver)", driver_found=False)
    return providers.cuda_request_failure()


def find_files(folder: Path) -> dict[str, ModelEntry]:
    """The default architecture's first usable fp32 and fp16 files in ``folder``, by precision."""
    found: dict[str, ModelEntry] = {}
    for entry in scan_models(folder) if folder.is_dir() else []:
        if entry.usable and entry.card is not None and entry.architecture == DEFAULT_ARCHITECTURE:
            found.setdefault(entry.card.precision, entry)
    return {p: found[p] for p in PRECISIONS if p in found}


def export_missing(folder: Path, have: Mapping[str, ModelEntry]) -> None:
    """Export the default model in each precision ``have`` lacks into ``folder`` (``python -m exporter``)."""
    for precision in PRECISIONS:
        if precision not in have:
            extra = [] if precision == "fp32" else ["--precision", precision]
            command = [sys.executable, "-m", "exporter", "export", "--default", *extra, "--out", str(folder), "-q"]
            print("$", " ".join(command[1:]), flush=True)
            subprocess.run(command, check=True, cwd=REPO)


def open_session(entry: ModelEntry, provider: str) -> Any:
    """A session of ``entry`` on ``provider``; RuntimeError when CUDA was asked for and did not run."""
    started = providers.create_session(entry.path, provider)
    if provider == "cuda" and providers.CUDA_EP not in started.providers:
        raise RuntimeError(f"{entry.path.name}: CUDA did not start: {started.fallback_reason}")
    return started.session


def photo_batch(entry: ModelEntry, size: int) -> np.ndarray:
    """``size`` inputs for ``entry``: the two photos, repeated, preprocessed the file's way."""
    if entry.preprocess is None:
        raise ValueError(f"{entry.path.name}: unusable model ({entry.error})")
    images = [load_image(PHOTOS[i % len(PHOTOS)]) for i in range(size)]
    return np.ascontiguousarray(preprocess_batch(images, entry.preprocess), dtype=entry.input_dtype)


def bound_runner(session: Any, entry: ModelEntry, x: np.ndarray) -> Callable[[], object]:
    """One run with I/O binding: the input copied to the GPU once, the output left there."""
    x_gpu = providers.ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
    binding = session.io_binding()
    binding.bind_ortvalue_input(entry.input_name, x_gpu)
    binding.bind_output(entry.output_name, "cuda", 0)

    def run() -> object:
        session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return binding

    return run


def check_file(entry: ModelEntry, runs: int, quick: bool) -> list[Check]:
    """All checks for one model file on this machine's GPU."""
    precision = entry.card.precision if entry.card else "fp32"
    name = f"{precision} {entry.path.name}"
    report = profile_model(entry, load_image(PHOTOS[0]), provider="cuda", runs=runs, warmup=1)
    node_map = entry.card.node_map if entry.card else NodeMap()
    checks = [placement_check(placement_of_rows(report.rows), node_map, name)]
    cpu, cuda = open_session(entry, "cpu"), open_session(entry, "cuda")
    x = photo_batch(entry, len(PHOTOS) if entry.batch is None else entry.batch)
    ref = cpu.run([entry.output_name], {entry.input_name: x})[0].reshape(len(x), -1)
    got = cuda.run([entry.output_name], {entry.input_name: x})[0].reshape(len(x), -1)
    checks.append(agreement_check(name, agreement(ref, got), TOLERANCE.get(precision, TOLERANCE["fp16"])))
    layers = Check(f"{name}: slowest layers on CUDA (median of {runs} runs)", ok=None)
    layers.lines.append(
        f"first run {report.first_run_ms:.1f} ms (cuDNN algorithm search, memory arena), steady {report.wall_ms:.2f} ms"
        f"; layer sum {report.layer_sum_ms:.2f} ms"
    )
    for row in aggregate(report, 2)[:8]:
        layers.lines.append(
            f"{row.module:<34} {row.median_ms:8.3f} ms {row.share:5.1f}%  first {row.first_run_ms:.2f} ms"
        )
    checks.append(layers)
    checks.append(latency_check(entry, name, cpu, cuda, runs if quick else 5 * runs))
    return checks


def latency_check(entry: ModelEntry, name: str, cpu: Any, cuda: Any, runs: int) -> Check:
    """Batch 1 and 32 latency: CPU, CUDA with host arrays, CUDA with I/O binding."""
    check = Check(f"{name}: latency, CPU vs CUDA", ok=None)
    rows: list[tuple[str, Latency, Latency | None]] = []
    sizes = [1, BIG_BATCH] if entry.batch is None else [entry.batch]
    for size in sizes:
        x = photo_batch(entry, size)
        feed = {entry.input_name: x}
        cpu_runs = max(3, runs // (4 if size > 1 else 1))
        on_cpu = measure(functools.partial(cpu.run, [entry.output_name], feed), cpu_runs)
        rows.append((f"batch {size} CPU", on_cpu, None))
        rows.append(
            (f"batch {size} CUDA", measure(functools.partial(cuda.run, [entry.output_name], feed), runs), on_cpu)
        )
        rows.append((f"batch {size} CUDA + I/O binding", measure(bound_runner(cuda, entry, x), runs), on_cpu))
    check.lines += latency_table(rows)
    if entry.batch is not None:
        check.lines.append(f"the file's batch is fixed at {entry.batch}: batch {BIG_BATCH} not measured")
    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=None, help="folder of .onnx files (default: the app's)")
    parser.add_argument("--quick", action="store_true", help="fewer runs (about a minute)")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason is not None:
        print(f"no GPU to check on this machine: {reason}")
        return 0
    folder = models_dir(args.models_dir)
    files = find_files(folder)
    if len(files) < len(PRECISIONS):
        export_missing(folder, files)
        files = find_files(folder)
    missing = [precision for precision in PRECISIONS if precision not in files]
    if missing:
        print(f"error: {folder}: no usable {DEFAULT_ARCHITECTURE} file in {', '.join(missing)}", file=sys.stderr)
        return 2
    runs = 5 if args.quick else 20
    header = [f"GPU check · onnxruntime {providers.ort.__version__} · models from {folder}"]
    options = open_session(files["fp32"], "cuda").get_provider_options().get(providers.CUDA_EP, {})
    keys = ("device_id", "cudnn_conv_algo_search", "use_tf32", "arena_extend_strategy")
    header.append("CUDA provider options: " + ", ".join(f"{k}={options[k]}" for k in keys if k in options))
    checks = [check for precision in PRECISIONS for check in check_file(files[precision], runs, args.quick)]
    print(format_report(header, checks))
    return 1 if any(c.ok is False for c in checks) else 0


if __name__ == "__main__":
    sys.exit(main())
