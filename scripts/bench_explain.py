"""Explain speed: a CAM vs one classification (default model), and occlusion on a 224-px ResNet-50.

Prints measured numbers with the machine's CPU name, core count and load average:

* CAM and the contrastive CAM (``class_activation_map`` on an open CAM session: preprocess, one run with the
  extra feature-map output, the weighted sum, the mapping back onto the photo) vs one classification
  (preprocess + ``LoadedModel.run``), medians of ``--runs`` each, and their ratio (target <= 2x); the
  one-time session openings separately.
* Occlusion sensitivity at the default settings (patch 32, stride 24, batches of 16: 81 occluded copies) on a
  224-px ResNet-50 (random weights are fine for timing), median of ``--occlusion-runs`` after one warm-up
  (target <= 10 s).

Models are exported with the exporter's library API into a temporary folder unless given.

Example::

    python scripts/bench_explain.py --runs 50
    python scripts/bench_explain.py --default-file models/efficientnet_lite0-imagenet-1k-imagenet-fp32.onnx \\
        --resnet50-file /tmp/m/resnet50-imagenet-1k-random-fp32.onnx
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_app.core.cam import CAM_METHODS, class_activation_map, open_cam_session  # noqa: E402
from desktop_app.core.catalog import inspect_model  # noqa: E402
from desktop_app.core.occlusion import occlusion_map  # noqa: E402
from desktop_app.core.runtime import load_model  # noqa: E402
from workbench.cpu import cpu_info  # noqa: E402
from workbench.imageio import load_image  # noqa: E402
from workbench.preprocess import preprocess_image  # noqa: E402

PHOTO = REPO / "tests" / "data" / "chelsea.png"


def _interleaved_medians(first: Callable[[], object], second: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median seconds of each, timed in alternation so that load from other processes hits both alike."""
    first(), second()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for func, kept in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            func()
            kept.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _export(name: str, weights: str, folder: Path) -> Path:
    from exporter.api import export_model

    print(f"exporting {name} ({weights} weights) ...", flush=True)
    return Path(export_model(name, weights, folder, progress=False, log=lambda _m: None).path)


def bench_cam(path: Path, runs: int) -> None:
    entry = inspect_model(path)
    image = load_image(PHOTO)
    assert entry.preprocess is not None
    p = entry.preprocess
    model = load_model(entry, "cpu")
    opened = time.perf_counter()
    session = open_cam_session(entry, "cpu")
    open_s = time.perf_counter() - opened
    print(f"default model: {path.name} ({image.width}x{image.height} photo, input {p.crop[1]}x{p.crop[0]})")
    for method in CAM_METHODS:  # each against classification, interleaved in its own pass
        classify_s, cam_s = _interleaved_medians(
            lambda: model.run(preprocess_image(image, p)[None]),
            lambda method=method: class_activation_map(session, image, method=method),
            runs,
        )
        print(
            f"  {method}: one classification (preprocess + run) {1000 * classify_s:.1f} ms, one map (preprocess "
            f"+ run + map back) {1000 * cam_s:.1f} ms (medians of {runs}, interleaved): "
            f"ratio {cam_s / classify_s:.2f}x (target <= 2x)"
        )
    print(f"  one-time: CAM session opened in {1000 * open_s:.0f} ms (cached by the caller)")


def bench_occlusion(path: Path, runs: int, other_stride: int) -> None:
    entry = inspect_model(path)
    model = load_model(entry, "cpu")
    image = load_image(PHOTO)
    counted: list[int] = []
    _timed(lambda: occlusion_map(model, image, progress=lambda done, _total: counted.append(done)))  # warm-up
    times = [_timed(lambda: occlusion_map(model, image)) for _ in range(runs)]
    print(f"occlusion: {path.name}, patch 32, stride 24, batches of 16: {counted[-1]} occluded copies")
    print(
        f"  {statistics.median(times):.2f} s (median of {runs} after a warm-up; runs: "
        f"{', '.join(f'{t:.2f}' for t in times)} s; target <= 10 s)"
    )
    if other_stride:
        seconds = _timed(lambda: occlusion_map(model, image, stride=other_stride))
        print(f"  for comparison, stride {other_stride}: {seconds:.2f} s (one run)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--default-file", type=Path, help="the exported default model (else exported here)")
    parser.add_argument("--resnet50-file", type=Path, help="a 224-px ResNet-50 file (else exported, random weights)")
    parser.add_argument("--runs", type=int, default=50, help="timed CAM / classification runs (default: 50)")
    parser.add_argument("--occlusion-runs", type=int, default=3, help="timed occlusion runs (default: 3)")
    parser.add_argument("--compare-stride", type=int, default=16, help="also time one run at this stride (0: no)")
    args = parser.parse_args()
    name, _features = cpu_info()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"CPU: {name}, {os.cpu_count()} logical cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-explain-") as scratch:
        default = args.default_file or _export("efficientnet_lite0", "imagenet", Path(scratch))
        resnet50 = args.resnet50_file or _export("resnet50", "random", Path(scratch))
        bench_cam(default, args.runs)
        bench_occlusion(resnet50, args.occlusion_runs, args.compare_stride)
    return 0


if __name__ == "__main__":
    sys.exit(main())
