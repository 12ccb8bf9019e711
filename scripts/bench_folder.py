"""Folder throughput: the app's classify_paths (parallel reduced-size JPEG decoding, batches) vs a plain PyTorch loop.

Generates (once) a folder of real-sized JPEGs, 2-12 megapixels, from the real photos of
:mod:`exporter.bench_photos` (upscaled random crops, some mirrored), then times in ONE run:

* ``pytorch-loop``: PIL decode at full size, resize, crop, normalise, eager forward, one image at a time;
* ``app-<precision>``: :func:`desktop_app.core.classify.classify_paths` on the exported ONNX files;
* ``evaluate-<precision>``: :func:`desktop_app.core.evaluate.evaluate_model` (what ``evaluate`` runs:
  the same pipeline plus the true class's rank of every image and the metrics), all photos labelled
  ``tabby`` (accuracy is not the point here).

Example::

    python scripts/bench_folder.py --model efficientnet_lite0 --count 300 --folder /tmp/photos300
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

import models
from desktop_app.core.catalog import inspect_model
from desktop_app.core.classify import classify_paths
from desktop_app.core.evaluate import evaluate_model
from desktop_app.core.labelled import LabelledImage, LabelledSet
from desktop_app.core.runtime import load_model
from exporter.api import export_model, output_name
from exporter.bench import environment
from exporter.bench_photos import real_photos
from exporter.weights import resolve_weights
from workbench.preprocess import Preprocess, preprocess_image


def make_folder(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` JPEGs of 2-12 MP made from the real photos (reused when the folder already has them)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("photo*.jpg"))
    if len(existing) >= count:
        return existing[:count]
    rng = np.random.default_rng(seed)
    sources = [Image.open(p).convert("RGB") for p in real_photos()]
    paths = []
    for i in range(count):
        image = sources[i % len(sources)]
        w, h = image.size
        crop = image.crop((int(rng.integers(0, w // 8)), int(rng.integers(0, h // 8)), w, h))
        megapixels = rng.uniform(2, 12)
        scale = (megapixels * 1e6 / (crop.width * crop.height)) ** 0.5
        big = crop.resize((int(crop.width * scale), int(crop.height * scale)), Image.Resampling.BICUBIC)
        if i % 2:
            big = ImageOps.mirror(big)
        path = folder / f"photo{i:04d}.jpg"
        big.save(path, quality=90)
        paths.append(path)
    return paths


def pytorch_loop(model: torch.nn.Module, paths: list[Path], preprocess: Preprocess) -> float:
    """Seconds for the plain loop: full-size PIL decode, preprocessing, eager batch-1 forward."""
    start = time.perf_counter()
    with torch.inference_mode():
        for path in paths:
            with Image.open(path) as im:
                x = preprocess_image(im.convert("RGB"), preprocess)
            model(torch.from_numpy(x)[None])
    return time.perf_counter() - start


def app_pipeline(model_file: Path, paths: list[Path]) -> tuple[float, float]:
    """(seconds for all, seconds to the first result) with the app's classify_paths."""
    loaded = load_model(inspect_model(model_file), "cpu")
    start = time.perf_counter()
    results = classify_paths(loaded, paths)
    first = next(results)
    first_s = time.perf_counter() - start
    rest = list(results)
    total = time.perf_counter() - start
    if not first.ok or not all(r.ok for r in rest):
        raise SystemExit(f"classification failed: {[r.error for r in [first, *rest] if not r.ok][:3]}")
    return total, first_s


def evaluate_pipeline(model_file: Path, paths: list[Path]) -> float:
    """Seconds for :func:`evaluate_model` over ``paths`` (as a one-class labelled set)."""
    loaded = load_model(inspect_model(model_file), "cpu")
    items = tuple(LabelledImage(path, "tabby") for path in paths)
    labelled = LabelledSet(root=paths[0].parent, layout="csv", split=None, items=items, classes=("tabby",))
    start = time.perf_counter()
    evaluation = evaluate_model(loaded, labelled)
    seconds = time.perf_counter() - start
    if evaluation.failures:
        raise SystemExit(f"evaluation failed: {evaluation.failures[:3]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--weights", default="auto", help="imagenet, random or auto (imagenet when available)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--folder", default="/tmp/cnn-workbench-photos", help="where the JPEGs are generated")
    parser.add_argument("--dir", help="where the ONNX files are kept (default: the models dir)")
    parser.add_argument("--precisions", default="fp32,int8")
    parser.add_argument("--json", default=None, help="write the record here")
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    spec = models.get_spec(args.model)
    weights = ("imagenet" if spec.pretrained.package else "random") if args.weights == "auto" else args.weights
    paths = make_folder(Path(args.folder), args.count)
    pixels = [w * h / 1e6 for w, h in (Image.open(p).size for p in paths)]
    print(f"{len(paths)} JPEGs in {args.folder}, {min(pixels):.1f}-{max(pixels):.1f} megapixels")
    files = {p: _ensure(args.model, weights, p, args.dir) for p in args.precisions.split(",")}
    resolved = resolve_weights(args.model, weights, progress=False)
    preprocess = inspect_model(next(iter(files.values()))).preprocess
    if preprocess is None:
        raise SystemExit(f"{next(iter(files.values()))}: unusable model file")
    record = environment(os.cpu_count() or 1) | {"model": args.model, "weights": weights, "images": len(paths)}
    base = pytorch_loop(resolved.model, paths, preprocess)
    record["pytorch_loop_images_per_s"] = len(paths) / base
    print(f"pytorch-loop     {len(paths) / base:7.1f} img/s  (total {base:.1f} s)")
    for precision, file in files.items():
        total, first = app_pipeline(file, paths)
        ratio = base / total
        record[f"app_{precision}"] = {"images_per_s": len(paths) / total, "first_result_s": first, "vs_loop": ratio}
        print(
            f"app-{precision:12} {len(paths) / total:7.1f} img/s  first result {first * 1e3:.0f} ms  {ratio:.2f}x loop"
        )
        seconds = evaluate_pipeline(file, paths)
        record[f"evaluate_{precision}"] = {"images_per_s": len(paths) / seconds, "vs_loop": base / seconds}
        print(f"evaluate-{precision:7} {len(paths) / seconds:7.1f} img/s  {base / seconds:.2f}x loop")
    record["load_average_after"] = list(os.getloadavg())
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n")
    return 0


def _ensure(name: str, weights: str, precision: str, folder: str | None) -> Path:
    from workbench.paths import models_dir

    target = models_dir(folder) / output_name(name, models.get_spec(name).label_set, weights, precision, None)
    if not target.exists():
        export_model(name, weights, folder, progress=False, precision=precision)
    return target


if __name__ == "__main__":
    raise SystemExit(main())
