"""ONNX Runtime CPU vs OpenVINO CPU on this machine: batch-1 latency of one model's fp32 and int8 files.

In ONE process, every variant is opened the way the app opens it (ONNX Runtime through
:func:`desktop_app.core.runtime.load_model` on ``cpu``; OpenVINO through
:func:`desktop_app.core.openvino_engine.load_openvino`) and run on the same preprocessed photo, alternating
one run of each variant per round so that load changes hit all of them alike. Variants: ONNX Runtime fp32
and int8; OpenVINO fp32 (as exported), bf16 (only where the CPU computes bfloat16 natively) and int8 (the
same int8 file, as exported, and with bf16 for its float layers). It prints the CPU name and instruction
sets, the median / p90 latency per variant, and the ratios to ONNX Runtime on the same file and to ONNX
Runtime fp32. Files come from ``--models-dir``; without it, the default model's fp32 and int8 files are
exported (``python -m exporter export --default [--precision int8] --out DIR``) into ``--export-dir`` unless
they are already there.

Example::

    python scripts/bench_engines.py --models-dir /tmp/models --rounds 300
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_app.core.catalog import DEFAULT_ARCHITECTURE, ModelEntry, scan_models  # noqa: E402
from desktop_app.core.openvino_engine import bf16_support, load_openvino, openvino_available  # noqa: E402
from desktop_app.core.runtime import load_model  # noqa: E402
from workbench.cpu import cpu_info  # noqa: E402
from workbench.imageio import load_image  # noqa: E402
from workbench.preprocess import preprocess_batch  # noqa: E402

PHOTO = REPO / "tests" / "data" / "chelsea.png"


@dataclass(frozen=True)
class Variant:
    name: str
    file_precision: str  # "fp32" / "int8": the file it runs
    run: Callable[[np.ndarray], np.ndarray]
    what_ran: str
    golden: str


def find_files(folder: Path, architecture: str) -> dict[str, ModelEntry]:
    """The first usable fp32 and int8 files of ``architecture`` in ``folder``, by precision."""
    found: dict[str, ModelEntry] = {}
    for entry in scan_models(folder):
        if entry.usable and entry.card is not None and entry.architecture == architecture:
            found.setdefault(entry.card.precision, entry)
    return found


def export_default(folder: Path) -> None:
    """Export the default model's fp32 and int8 files into ``folder`` (kept when already there)."""
    for extra in ([], ["--precision", "int8"]):
        command = [sys.executable, "-m", "exporter", "export", "--default", *extra, "--out", str(folder)]
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run([*command, "--skip-existing", "-q"], check=True, cwd=REPO)


def variants(files: dict[str, ModelEntry], threads: int | None) -> list[Variant]:
    """Every engine/precision pair this machine offers, for the fp32 and int8 files."""
    out: list[Variant] = []
    native_bf16 = bf16_support("CPU") is None
    for precision in ("fp32", "int8"):
        entry = files[precision]
        ort = load_model(entry, "cpu")
        out.append(Variant(f"ORT CPU {precision}", precision, ort.run, ort.provider_label, _golden(ort.golden)))
        for hint in ("as-exported", "bf16") if native_bf16 else ("as-exported",):
            model = load_openvino(entry, "CPU", precision=hint, threads=threads)
            label = f"OpenVINO {precision}" + (" + bf16" if hint == "bf16" else "")
            ran = f"{model.provider_label} hint {model.precision}, layers {'/'.join(model.runtime_precisions)}"
            out.append(Variant(label, precision, model.run, ran, _golden(model.golden)))
    return out


def _golden(result: object) -> str:
    passed = getattr(result, "passed", None)
    return "-" if passed is None else ("pass" if passed else "FAIL")


def measure(all_variants: list[Variant], x: np.ndarray, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Latency (ms) of each variant, one run of each per round, in rotating order."""
    for variant in all_variants:
        for _ in range(warmup):
            variant.run(x)
    times: dict[str, list[float]] = {v.name: [] for v in all_variants}
    for index in range(rounds):
        shift = index % len(all_variants)
        for variant in all_variants[shift:] + all_variants[:shift]:
            start = time.perf_counter()
            variant.run(x)
            times[variant.name].append((time.perf_counter() - start) * 1000)
    return times


def print_table(all_variants: list[Variant], times: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = {v.file_precision: medians[v.name] for v in all_variants if v.name.startswith("ORT")}
    print("| variant | median ms | p90 ms | vs ORT same file | vs ORT fp32 | golden | what ran |")
    print("| --- | ---: | ---: | ---: | ---: | --- | --- |")
    for v in all_variants:
        median, p90 = medians[v.name], float(np.percentile(times[v.name], 90))
        same, fp32 = base[v.file_precision] / median, base["fp32"] / median
        print(f"| {v.name} | {median:.3f} | {p90:.3f} | {same:.2f}x | {fp32:.2f}x | {v.golden} | {v.what_ran} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, help="folder holding the fp32 and int8 files")
    parser.add_argument("--export-dir", type=Path, default=Path("/tmp/bench-engines-models"))
    parser.add_argument("--architecture", default=DEFAULT_ARCHITECTURE)
    parser.add_argument("--rounds", type=int, default=300, help="timed runs of each variant (default: 300)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="OpenVINO threads (default: its own)")
    args = parser.parse_args(argv)
    if not openvino_available():
        print("OpenVINO is not installed (pip install openvino): nothing to compare", file=sys.stderr)
        return 2
    folder = args.models_dir
    if folder is None:
        folder = args.export_dir
        export_default(folder)
    files = find_files(folder, args.architecture)
    missing = [p for p in ("fp32", "int8") if p not in files]
    if missing:
        print(f"{folder}: no {' or '.join(missing)} file of {args.architecture}", file=sys.stderr)
        return 2
    import onnxruntime
    import openvino

    ort_version, ov_version = onnxruntime.__version__, openvino.__version__
    name, features = cpu_info()
    print(f"CPU: {name}; {os.cpu_count()} logical cores; instruction sets: {', '.join(features) or 'none listed'}")
    print(f"bf16: {bf16_support('CPU') or 'native'}; onnxruntime {ort_version}, openvino {ov_version}")
    for precision, entry in files.items():
        print(f"{precision} file: {entry.path}")
    all_variants = variants(files, args.threads)
    preprocess = files["fp32"].preprocess
    assert preprocess is not None
    x = preprocess_batch([load_image(PHOTO)], preprocess)
    before = os.getloadavg()[0]
    times = measure(all_variants, x, args.rounds, args.warmup)
    print(f"batch 1, {args.rounds} alternating rounds after {args.warmup} warm-up runs each, {PHOTO.name}")
    print(f"load average (1 min) {before:.2f} before, {os.getloadavg()[0]:.2f} after the timed runs")
    print_table(all_variants, times)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
