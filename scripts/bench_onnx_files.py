"""Batch-1 latency of several ONNX files in one process, taking turns, with each one's ratio to the first.

For A/B comparisons of two exports of the same model (say an int8 file before and after a graph
rewrite, against the fp32 file). This machine's speed drifts from minute to minute, so the files
are timed in the same run with the benchmark's own loop (``exporter.bench.time_variants``):
alternating blocks, each after a pause that lets the previous session's worker threads stop
spinning. Prints median and p90 milliseconds and ``first / this``.

Example::

    python scripts/bench_onnx_files.py model-fp32.onnx old-int8.onnx new-int8.onnx --runs 40
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import onnx

from exporter.bench import Runner, ort_runner, time_variants


def _runner(path: Path, threads: int) -> tuple[Runner, list[int]]:
    """ORT's runner for ``path`` and its input shape at batch 1; one line naming the file if ORT cannot load it."""
    try:
        runner = ort_runner(path, threads)
        dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    except Exception as exc:  # ORT and onnx raise their own types (NoSuchFile, InvalidProtobuf, DecodeError, ...)
        raise SystemExit(f"{path}: cannot be loaded by ONNX Runtime: {str(exc).splitlines()[0]}") from exc
    return runner, [d.dim_value if d.HasField("dim_value") else 1 for d in dims]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="ONNX files with one float32 input (batch 1 is used)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (default: cores)")
    parser.add_argument("--runs", type=int, default=40, help="timed runs per file (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per file first (default 3)")
    args = parser.parse_args(argv)
    runners: dict[str, Runner] = {}
    shape: list[int] = []
    for path in args.files:
        runners[str(path)], shape = _runner(path, args.threads)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    samples = time_variants(runners, {1: x}, args.runs, args.warmup)
    medians = {name: float(np.median(samples[(name, 1)])) * 1e3 for name in runners}
    first = medians[str(args.files[0])]
    print(f"{args.threads} threads, {args.runs} runs each, load {os.getloadavg()}")
    print(f"{'median ms':>10} {'p90 ms':>8} {'first/this':>10}  file")
    for name, median in medians.items():
        p90 = float(np.percentile(samples[(name, 1)], 90)) * 1e3
        print(f"{median:10.2f} {p90:8.2f} {first / median:9.2f}x  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
