"""The deletion check for every map and fill: does hiding a map's top 10% lower the class more than a random 10%?

On both shared photos (tests/data/chelsea.png, coffee.png) with the default model (real ImageNet weights), for
the CAM, the contrastive CAM and occlusion, it blanks the top 10% of the map's pixels and, as baselines, a
random 10% as scattered pixels and as one square (``--seeds`` of each), then prints the top-1 class's
probability before, after the top 10%, and the baselines' means, with PASS where the top 10% lowers it more
than both baselines. "Blanking" is each of: the ImageNet mean colour, black, and the photo blurred with a
Gaussian of radius 10 or 20 px. The test suite checks the blur-10 rows (tests/desktop_app/test_cam_localization.py);
the rest shows how much the verdict depends on the fill (docs/explain.md).

Example::

    python scripts/deletion_check.py --model /tmp/models/efficientnet_lite0-imagenet-1k-imagenet-fp32.onnx
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from desktop_app.core.cam import class_activation_map, open_cam_session  # noqa: E402
from desktop_app.core.catalog import inspect_model  # noqa: E402
from desktop_app.core.occlusion import occlusion_map  # noqa: E402
from desktop_app.core.runtime import load_model  # noqa: E402
from workbench.preprocess import preprocess_image  # noqa: E402

PHOTOS = {name: REPO / "tests" / "data" / f"{name}.png" for name in ("chelsea", "coffee")}
FILLS = ("mean", "black", "blur10", "blur20")
MEAN_RGB = (124, 116, 104)


def blank(image: Image.Image, mask: np.ndarray, fill: str) -> Image.Image:
    pixels = np.asarray(image).copy()
    if fill == "mean":
        pixels[mask] = MEAN_RGB
    elif fill == "black":
        pixels[mask] = 0
    else:
        pixels[mask] = np.asarray(image.filter(ImageFilter.GaussianBlur(int(fill[4:]))))[mask]
    return Image.fromarray(pixels)


def top_tenth(heat: np.ndarray) -> np.ndarray:
    seen = ~np.isnan(heat)
    order = np.argsort(np.where(seen, heat, -1.0).ravel(), kind="stable")[::-1][: int(0.1 * seen.sum())]
    mask = np.zeros(heat.size, dtype=bool)
    mask[order] = True
    return mask.reshape(heat.shape)


def random_pixels(heat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    seen = np.flatnonzero(~np.isnan(heat))
    mask = np.zeros(heat.size, dtype=bool)
    mask[rng.choice(seen, int(0.1 * seen.size), replace=False)] = True
    return mask.reshape(heat.shape)


def random_square(heat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    seen = ~np.isnan(heat)
    rows, cols = np.nonzero(seen)
    side = round(float(np.sqrt(0.1 * seen.sum())))
    top = int(rng.integers(rows.min(), rows.max() + 2 - side))
    left = int(rng.integers(cols.min(), cols.max() + 2 - side))
    mask = np.zeros_like(seen)
    mask[top : top + side, left : left + side] = True
    return mask


def check(path: Path, seeds: int) -> None:
    entry = inspect_model(path)
    assert entry.preprocess is not None, entry.error
    model, session = load_model(entry, "cpu"), open_cam_session(entry, "cpu")
    p = entry.preprocess

    def probability(image: Image.Image, index: int) -> float:
        logits = model.run(preprocess_image(image, p)[None])[0].astype(np.float64)
        values = np.exp(logits - logits.max())
        return float(values[index] / values.sum())

    print(f"model: {entry.name} ({path.name}); {seeds} random masks per baseline")
    print(f"{'photo':8} {'method':12} {'fill':7} {'class':>18} {'before':>7} {'top10%':>7} {'pixels':>7} {'square':>7}")
    for photo, source in PHOTOS.items():
        image = Image.open(source).convert("RGB")
        makers: dict[str, Callable[[Image.Image], np.ndarray]] = {
            "cam": lambda i: class_activation_map(session, i, method="cam").map,
            "contrastive": lambda i: class_activation_map(session, i, method="contrastive").map,
            "occlusion": lambda i: occlusion_map(model, i).map,
        }
        index = int(class_activation_map(session, image).class_index)
        before = probability(image, index)
        for method, make in makers.items():
            heat = make(image)
            for fill in FILLS:
                top = probability(blank(image, top_tenth(heat), fill), index)
                rng = np.random.default_rng(1)
                pixels = np.mean(
                    [probability(blank(image, random_pixels(heat, rng), fill), index) for _ in range(seeds)]
                )
                square = np.mean(
                    [probability(blank(image, random_square(heat, rng), fill), index) for _ in range(seeds)]
                )
                verdict = "PASS" if top < min(pixels, square) else "fail"
                label = entry.labels[index][:18]
                numbers = f"{before:7.3f} {top:7.3f} {pixels:7.3f} {square:7.3f}"
                print(f"{photo:8} {method:12} {fill:7} {label:>18} {numbers} {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="the default model's fp32 file (else exported to a temp folder)")
    parser.add_argument("--seeds", type=int, default=6, help="random masks per baseline (default: 6)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deletion-check-") as scratch:
        path = args.model
        if path is None:
            from exporter.api import export_model

            print("exporting the default model ...", flush=True)
            path = Path(export_model("efficientnet_lite0", "imagenet", Path(scratch), progress=False).path)
        check(path, args.seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
