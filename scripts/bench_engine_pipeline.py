"""Issue 17's two pipeline figures for one int8 file: the app's OpenVINO latency vs raw OpenVINO, and folder images/s.

In ONE process, alternating so that load changes hit every variant alike:

1. **Latency, batch 1** (``--rounds`` rounds; each round times one run of each, in turn):
   * raw OpenVINO: ``ov.Core().compile_model(file, "CPU", {PERFORMANCE_HINT: LATENCY, threads})`` on a
     preprocessed photo, as ``python -m exporter bench`` times its ``openvino-int8`` variant;
   * the app's engine: :func:`desktop_app.core.runtime.open_model` (``engine="openvino"``) ``.run`` on the same
     batch (what ``classify`` and ``evaluate`` call per batch);
   * ``classify`` of one photo end to end (decode, preprocess, run, top-5) through
     :func:`desktop_app.core.classify.classify_paths` on that model.
   The target: the app's run within 10% of raw OpenVINO.
2. **Folder images/s**: ``classify_paths`` over ``--photos`` photos (the shared ones and tests/data/photos_extra,
   repeated), on OpenVINO and on ONNX Runtime's CPU, ``--folder-rounds`` alternating rounds, medians. The target
   (on the Intel machine with AMX): OpenVINO >= 1.5x ONNX Runtime.

It prints the CPU's name and instruction sets (AMX or not: the figures depend on it), the load average, the
library versions and every median.

Example::

    python scripts/bench_engine_pipeline.py --model /tmp/r50/resnet50-imagenet-1k-random-int8.onnx --rounds 200
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_app.core.catalog import inspect_model  # noqa: E402
from desktop_app.core.classify import classify_paths  # noqa: E402
from desktop_app.core.runtime import EngineModel, load_model, open_model, ran_text  # noqa: E402
from workbench.cpu import cpu_info  # noqa: E402
from workbench.imageio import load_image  # noqa: E402
from workbench.preprocess import preprocess_image  # noqa: E402

PHOTOS = [REPO / "tests" / "data" / "chelsea.png", REPO / "tests" / "data" / "coffee.png"]
EXTRA = REPO / "tests" / "data" / "photos_extra"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")  # the folder also holds a README naming the photos' sources


def _timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def alternate(funcs: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each function, one call of each per round, after one warm-up call each."""
    for func in funcs.values():
        func()
    times: dict[str, list[float]] = {name: [] for name in funcs}
    for _ in range(rounds):
        for name, func in funcs.items():
            times[name].append(_timed(func))
    return times


def raw_openvino(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import openvino as ov

    compiled = ov.Core().compile_model(
        str(path), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    )
    return lambda x: compiled(x)[0]


def photo_folder(count: int, into: Path) -> list[Path]:
    extra = sorted(p for p in EXTRA.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES) if EXTRA.is_dir() else []
    sources = PHOTOS + extra
    files = []
    for i in range(count):
        source = sources[i % len(sources)]
        target = into / f"{i:04d}{source.suffix}"
        shutil.copy(source, target)
        files.append(target)
    return files


def latency(path: Path, model: EngineModel, rounds: int, threads: int) -> None:
    entry = model.entry
    assert entry.preprocess is not None
    image = load_image(PHOTOS[0])
    x = preprocess_image(image, entry.preprocess)[None].astype(entry.input_dtype)
    raw = raw_openvino(path, threads)
    times = alternate(
        {
            "raw OpenVINO (bench's openvino-int8)": lambda: raw(x),
            f"app engine ({ran_text(model)}).run": lambda: model.run(x),
            "classify one photo end to end": lambda: list(classify_paths(model, [PHOTOS[0]], workers=1)),
        },
        rounds,
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = next(iter(medians.values()))
    print(f"\nlatency, batch 1, {rounds} alternating rounds (median ms, ratio to raw OpenVINO):")
    for name, value in medians.items():
        print(f"  {name:58s} {1000 * value:8.2f} ms  {value / base:5.2f}x")


def classify_all(model: EngineModel, files: list[Path]) -> list[object]:
    return list(classify_paths(model, files))


def folder_rate(entry_path: Path, photos: int, rounds: int) -> None:
    entry = inspect_model(entry_path)
    models: dict[str, EngineModel] = {
        "OpenVINO": open_model(entry, engine="openvino"),
        "ONNX Runtime CPU": load_model(entry, "cpu"),
    }
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch:
        files = photo_folder(photos, Path(scratch))
        times = alternate(
            {name: functools.partial(classify_all, model, files) for name, model in models.items()}, rounds
        )
    rates = {name: photos / statistics.median(values) for name, values in times.items()}
    print(f"\nfolder of {photos} photos, {rounds} alternating rounds (median images/s):")
    for name, rate in rates.items():
        print(f"  {name:18s} {rate:7.1f} img/s  ({ran_text(models[name])})")
    print(f"  OpenVINO / ONNX Runtime: {rates['OpenVINO'] / rates['ONNX Runtime CPU']:.2f}x (target on AMX: >= 1.5x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="an int8 file (e.g. ResNet-50's)")
    parser.add_argument("--rounds", type=int, default=200, help="latency rounds (default: 200)")
    parser.add_argument("--photos", type=int, default=120, help="photos in the folder (default: 120)")
    parser.add_argument("--folder-rounds", type=int, default=3, help="folder rounds (default: 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="raw OpenVINO's threads")
    args = parser.parse_args()
    import onnxruntime
    import openvino

    name, features = cpu_info()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    amx = "AMX" if any(f.startswith("amx") for f in features) else "no AMX"
    print(f"CPU: {name}, {os.cpu_count()} logical cores, {amx}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"onnxruntime {onnxruntime.__version__}, openvino {openvino.__version__}; file {args.model.name}")
    model = open_model(inspect_model(args.model), engine="openvino")
    latency(args.model, model, args.rounds, args.threads)
    folder_rate(args.model, args.photos, args.folder_rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
