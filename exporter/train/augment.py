"""Training augmentation (Pillow + numpy, no torchvision) and the evaluation preprocessing.

Training: random resized crop (torchvision's ``RandomResizedCrop`` sampling), then a random affine
transform (shift, shear, zoom), then a horizontal flip, then ``x / 255``, ``(x - mean) / std``, CHW.
Each image gets its own ``random.Random`` (seeded by the sampler), so augmentation is reproducible
whatever the number of workers or processes.

Evaluation is exactly the app's and the ONNX file's: :func:`workbench.preprocess.preprocess_image`
with the :class:`Preprocess` the exporter writes into the model's metadata (:func:`eval_preprocess`).

Example::

    python -m exporter train --model resnet18 --data ~/digits --crop-scale 0.6 --hflip 0 --shear 5 --out runs/d
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

import models
from workbench.preprocess import INTERPOLATIONS, Preprocess, preprocess_image


def eval_preprocess(name: str, image_size: int | None) -> Preprocess:
    """The model's own resize/crop/normalisation at ``image_size`` (same formula as the exporter)."""
    spec = models.get_spec(name)
    crop = image_size or spec.crop_size
    return Preprocess.from_dict(
        spec.preprocess_dict() | {"resize": round(crop * spec.resize_size / spec.crop_size), "crop": [crop, crop]}
    )


@dataclass(frozen=True)
class EvalTransform:
    """:func:`preprocess_image` as a dataset transform (the random generator is ignored)."""

    preprocess: Preprocess

    def __call__(self, image: Image.Image, rng: random.Random) -> np.ndarray:
        return preprocess_image(image, self.preprocess)


@dataclass(frozen=True)
class TrainTransform:
    """Random resized crop + affine (shift, shear, zoom) + horizontal flip, then normalisation."""

    preprocess: Preprocess
    crop_scale: float = 0.08
    shift: float = 0.1
    shear: float = 10.0
    zoom: float = 0.1
    hflip: float = 0.5

    def __call__(self, image: Image.Image, rng: random.Random) -> np.ndarray:
        height, width = self.preprocess.crop
        resample = INTERPOLATIONS[self.preprocess.interpolation]
        left, top, w, h = random_resized_box(image.size, self.crop_scale, rng)
        out = image.resize((width, height), resample, box=(left, top, left + w, top + h))
        if self.shift or self.shear or self.zoom:
            out = self._affine(out, rng, resample)
        if rng.random() < self.hflip:
            out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        values = np.asarray(out, dtype=np.float32) / np.float32(255)
        values = (values - np.asarray(self.preprocess.mean, np.float32)) / np.asarray(self.preprocess.std, np.float32)
        return np.ascontiguousarray(values.transpose(2, 0, 1), dtype=np.float32)

    def _affine(self, image: Image.Image, rng: random.Random, resample: Image.Resampling) -> Image.Image:
        width, height = image.size
        dx, dy = (rng.uniform(-self.shift, self.shift) * s for s in (width, height))
        shear = math.radians(rng.uniform(-self.shear, self.shear))
        scale = rng.uniform(1 - self.zoom, 1 + self.zoom)
        # forward map about the centre: p' = S * Shear * (p - c) + c + d; Pillow wants the inverse.
        a, b, d, e = scale, scale * math.tan(shear), 0.0, scale
        det = a * e - b * d
        ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
        cx, cy = width / 2, height / 2
        tx, ty = cx + dx, cy + dy
        coeffs = (ia, ib, cx - ia * tx - ib * ty, id_, ie, cy - id_ * tx - ie * ty)
        fill = tuple(round(m * 255) for m in self.preprocess.mean)
        return image.transform(image.size, Image.Transform.AFFINE, coeffs, resample, fillcolor=fill)


def random_resized_box(size: tuple[int, int], min_scale: float, rng: random.Random) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params`` (ratio 3/4..4/3): ``(left, top, width, height)``."""
    width, height = size
    area = width * height
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target = area * rng.uniform(min_scale, 1.0)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            return rng.randint(0, width - w), rng.randint(0, height - h), w, h
    in_ratio = width / height
    if in_ratio < 3 / 4:
        w, h = width, round(width / (3 / 4))
    elif in_ratio > 4 / 3:
        w, h = round(height * (4 / 3)), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h
