"""Write scikit-learn's handwritten digits (1797 real 8x8 scans) as an ImageFolder of upscaled PNGs.

Example::

    python -m tests.exporter.train.digits /tmp/digits 32
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def write_digits(root: Path, size: int = 32, limit: int | None = None) -> Path:
    """``root/<digit>/<n>.png`` (grey 0..16 scaled to 0..255, bilinear upscaled to ``size``); returns root."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]

    digits = load_digits()
    for index, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        if limit is not None and index >= limit:
            break
        folder = root / str(target)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.clip(image * (255.0 / 16.0), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "L").resize((size, size), Image.Resampling.BILINEAR).save(folder / f"{index:04d}.png")
    return root


if __name__ == "__main__":
    write_digits(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 32)
