"""Batch-1 latency of several ONNX files in one process, taking turns, with each one's ratio to the first.

For A/B comparisons of two exports of the same model (say an int8 file before and after a graph
rewrite, against the fp32 file): this machine's speed drifts between minutes, so the files are
timed in alternating blocks in the same run, each block after a pause that lets the previous
session's worker threads stop spinning. Prints median and p90 milliseconds and ``first / this``.

Example::

    python scripts/bench_onnx_files.py model-fp32.onnx old-int8.onnx new-int8.onnx --rounds 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import onnxruntime as ort


def _open(path: str, options: ort.SessionOptions) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types (NoSuchFile, InvalidProtobuf, ...)
        raise SystemExit(f"{path}: cannot be loaded by ONNX Runtime: {str(exc).splitlines()[0]}") from exc


def time_files(paths: list[str], threads: int, rounds: int, per_block: int, pause: float) -> list[list[float]]:
    """Milliseconds per run of each file: ``rounds`` blocks of ``per_block`` timed runs each, files taking turns."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    sessions = [_open(p, options) for p in paths]
    feeds = []
    rng = np.random.default_rng(0)
    for session in sessions:
        spec = session.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in spec.shape]
        feeds.append({spec.name: rng.standard_normal(shape).astype(np.float32)})
    times: list[list[float]] = [[] for _ in paths]
    for _ in range(rounds):
        for session, feed, samples in zip(sessions, feeds, times, strict=True):
            time.sleep(pause)
            for _ in range(2):  # untimed: wake the thread pool, warm the caches
                session.run(None, feed)
            for _ in range(per_block):
                start = time.perf_counter()
                session.run(None, feed)
                samples.append((time.perf_counter() - start) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="ONNX files with a float32 image input (batch 1 is used)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (default: cores)")
    parser.add_argument("--rounds", type=int, default=8, help="blocks per file (default 8)")
    parser.add_argument("--per-block", type=int, default=5, help="timed runs per block (default 5)")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds of rest before each block (default 0.3)")
    args = parser.parse_args(argv)
    times = time_files(args.files, args.threads, args.rounds, args.per_block, args.pause)
    medians = [statistics.median(t) for t in times]
    print(f"{args.threads} threads, {args.rounds} x {args.per_block} runs each, load {os.getloadavg()}")
    print(f"{'median ms':>10} {'p90 ms':>8} {'first/this':>10}  file")
    for path, median, samples in zip(args.files, medians, times, strict=True):
        print(f"{median:10.2f} {np.percentile(samples, 90):8.2f} {medians[0] / median:9.2f}x  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
