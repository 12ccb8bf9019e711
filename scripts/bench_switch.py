"""Model switching: first load of a file vs switching back to it (in-process cache and a fresh process).

Each measurement is a load as the app does it (:func:`desktop_app.core.runtime.load_model`: session
creation plus the golden self-test run). In ONE run it times, for one ONNX file:

* ``first``: a fresh process, empty optimized-model cache (ONNX Runtime optimises the graph and saves it);
* ``cached-restart``: a fresh process again, the optimized graph reused from the cache;
* ``switch-back``: in one process, SessionCache.get(A) after switching A -> B -> A.

Example::

    python scripts/bench_switch.py --model-file /tmp/m/resnet50-imagenet-1k-random-fp32.onnx
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import sys, time
start = time.perf_counter()
from desktop_app.core.catalog import inspect_model
from desktop_app.core.runtime import load_model
imported = time.perf_counter()
model = load_model(inspect_model(sys.argv[1]), sys.argv[2])
done = time.perf_counter()
assert model.golden is None or model.golden.passed, model.golden
print(done - imported, model.optimized_cache)
"""


def fresh_process_load(model_file: Path, cache: Path, provider: str) -> tuple[float, str]:
    env = dict(os.environ, CNN_WORKBENCH_CACHE=str(cache))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_file), provider], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), out[1]


def switch_back(model_file: Path, other: Path, provider: str) -> tuple[float, float]:
    """(first load, switching back after another model) inside one process with the app's SessionCache."""
    from desktop_app.core.catalog import inspect_model
    from desktop_app.core.runtime import SessionCache

    cache = SessionCache()
    start = time.perf_counter()
    cache.get(inspect_model(model_file), provider)
    first = time.perf_counter() - start
    cache.get(inspect_model(other), provider)
    start = time.perf_counter()
    cache.get(inspect_model(model_file), provider)
    return first, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model-file", required=True, type=Path)
    parser.add_argument("--other-file", type=Path, help="the model switched to in between (default: the same)")
    parser.add_argument("--repeat", type=int, default=3, help="repeat each fresh-process measurement (median)")
    parser.add_argument(
        "--provider", default="auto", choices=("auto", "cuda", "cpu"), help="as in the app (default: auto)"
    )
    parser.add_argument("--json")
    args = parser.parse_args()
    firsts, restarts = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            first, status = fresh_process_load(args.model_file, Path(folder), args.provider)
            assert status == "saved", status
            again, status = fresh_process_load(args.model_file, Path(folder), args.provider)
            assert status == "reused", status
        firsts.append(first)
        restarts.append(again)
    first_s = sorted(firsts)[len(firsts) // 2]
    restart_s = sorted(restarts)[len(restarts) // 2]
    with tempfile.TemporaryDirectory() as folder:
        os.environ["CNN_WORKBENCH_CACHE"] = folder
        _, back_s = switch_back(args.model_file, args.other_file or args.model_file, args.provider)
    record = {
        "model_file": str(args.model_file),
        "provider": args.provider,
        "first_load_s": first_s,
        "cached_restart_s": restart_s,
        "switch_back_s": back_s,
        "cached_restart_ratio": restart_s / first_s,
        "switch_back_ratio": back_s / first_s,
        "load_average": list(os.getloadavg()),
    }
    print(f"first load (fresh process, empty cache)     {first_s * 1e3:8.0f} ms")
    print(
        f"fresh process, optimized graph from cache   {restart_s * 1e3:8.0f} ms  ({restart_s / first_s:.0%} of first)"
    )
    print(f"switch back in the app (SessionCache)       {back_s * 1e3:8.3f} ms  ({back_s / first_s:.2%} of first)")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
