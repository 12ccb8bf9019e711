"""Does ``python -m desktop_app evaluate`` stay flat in memory as the data set grows, and what does it cost?

Generates (once) an ImageFolder of small JPEGs cut from the real photos (two ImageNet classes,
``tabby`` and ``espresso``, plus mirrored and shifted crops), then runs the real command, one fresh
process per size, and prints its peak RSS, wall time and images/s, the RSS ratio to the smallest
size, and the extrapolated time for ``--extrapolate`` images (said to be extrapolated).

Example::

    python scripts/bench_evaluate_scale.py --models-dir /tmp/models \\
        --model efficientnet_lite0-imagenet-1k-imagenet-int8 --sizes 1000,20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
PHOTOS = {"tabby": REPO / "tests" / "data" / "chelsea.png", "espresso": REPO / "tests" / "data" / "coffee.png"}
MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - start
print(code, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def make_folder(root: Path, count: int) -> Path:
    """``root/<count>/<class>/<n>.jpg``: ``count`` crops (96 px wide) split over the two classes; reused."""
    folder = root / str(count)
    if folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) == count:
        return folder
    sources = {name: Image.open(path).convert("RGB") for name, path in PHOTOS.items()}
    for i in range(count):
        name = list(sources)[i % 2]
        image = sources[name]
        w, h = image.size
        s = 0.7 + 0.3 * ((i * 37) % 100) / 100
        cw, ch = int(w * s), int(h * s)
        x, y = (i * 13) % (w - cw + 1), (i * 7) % (h - ch + 1)
        crop = image.crop((x, y, x + cw, y + ch)).resize((96, 96 * ch // cw))
        if i % 3 == 0:
            crop = ImageOps.mirror(crop)
        target = folder / name / f"{i:06d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        crop.save(target, quality=85)
    return folder


def measure(folder: Path, args: argparse.Namespace) -> dict[str, float]:
    """Exit code, wall seconds and peak RSS (MiB) of one ``evaluate`` run in a fresh process."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "desktop_app", "evaluate", str(folder), "--model", args.model,
                   "--models-dir", args.models_dir, "--provider", args.provider, "--out", out]  # fmt: skip
        done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, cwd=REPO)
        code, wall, rss_kib = done.stdout.split()
        report = json.loads((Path(out) / "report.json").read_text(encoding="utf-8"))
    (model,) = report["models"]
    return {
        "exit": int(code),
        "wall_s": float(wall),
        "peak_rss_mib": int(rss_kib) / 1024,
        "images_per_s": float(model["images_per_second"]),
        "top1": float(model["metrics"]["top1"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", required=True, help="a model in --models-dir, or an .onnx file")
    parser.add_argument("--models-dir", required=True)
    parser.add_argument("--provider", default="cpu")
    parser.add_argument("--sizes", default="1000,20000", help="data set sizes, comma-separated, smallest first")
    parser.add_argument("--folder", default="/tmp/cnn-workbench-scale", help="where the images are generated")
    parser.add_argument("--extrapolate", type=int, default=50_000, help="images to extrapolate the cost to")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for size in sizes:
        started = time.perf_counter()
        folder = make_folder(Path(args.folder), size)
        print(f"{size} images in {folder} (generated or reused in {time.perf_counter() - started:.1f} s)", flush=True)
        results[size] = measure(folder, args)
        r = results[size]
        print(
            f"  evaluate: exit {r['exit']}, {r['wall_s']:.1f} s wall, {r['images_per_s']:.1f} img/s, "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB, top-1 {100 * r['top1']:.1f}%",
            flush=True,
        )
    base = results[sizes[0]]["peak_rss_mib"]
    for size in sizes[1:]:
        print(f"peak RSS {size} / {sizes[0]} images: {results[size]['peak_rss_mib'] / base:.2f}x")
    largest = results[sizes[-1]]
    per_image = largest["wall_s"] / sizes[-1]
    print(
        f"{args.extrapolate} images would take about {args.extrapolate * per_image / 60:.1f} min "
        f"(extrapolated from {sizes[-1]} images at {largest['images_per_s']:.1f} img/s, not measured)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
