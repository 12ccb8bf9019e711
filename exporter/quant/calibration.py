"""Step 1 of int8: the calibration images, read through the model's own preprocessing.

A user's folder (``--calibration DIR``: up to :data:`CALIBRATION_LIMIT` images, evenly spaced,
unreadable ones named and left out) or the shipped photos with deterministic crops and flips;
:class:`BatchReader` feeds them to ONNX Runtime's calibrator.

Example::

    python -m exporter export --model resnet50 --weights random --precision int8 --calibration ~/Pictures
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import CalibrationDataReader
from PIL import Image, ImageOps

from exporter.errors import ExporterError
from exporter.progress import Steps
from workbench.contract import INPUT_NAME
from workbench.imageio import ImageLoadError, iter_image_files, load_image
from workbench.preprocess import Preprocess, preprocess_batch

CALIBRATION_LIMIT = 64
CALIBRATION_BATCH = 8
DEFAULT_CALIBRATION = "shipped photos (exporter/data/photos) + deterministic crops/flips"


@dataclass(frozen=True)
class Calibration:
    """Preprocessed calibration inputs and where they come from (recorded in the metadata)."""

    batch: np.ndarray
    source: str
    files: int
    skipped: tuple[str, ...] = ()  # why each unreadable file of the folder was left out

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"source": self.source, "files": self.files, "images": int(self.batch.shape[0])}
        return facts | ({"skipped": list(self.skipped)} if self.skipped else {})


def augmentations(image: Image.Image) -> list[Image.Image]:
    """The image, its mirror, four 80% corner crops and a 60% centre crop (deterministic)."""
    w, h = image.size
    cw, ch = int(w * 0.8), int(h * 0.8)
    corners = [(0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch)]
    crops = [image.crop((x, y, x + cw, y + ch)) for x, y in corners]
    cx, cy = int(w * 0.6), int(h * 0.6)
    centre = image.crop(((w - cx) // 2, (h - cy) // 2, (w - cx) // 2 + cx, (h - cy) // 2 + cy))
    return [image, ImageOps.mirror(image), *crops, centre]


def calibration_set(folder: Path | None, preprocess: Preprocess, limit: int = CALIBRATION_LIMIT) -> Calibration:
    """Up to ``limit`` images from ``folder`` (recursively, sorted), or the shipped photos augmented."""
    if folder is None:
        from exporter.verify import photo_paths

        shipped = [a for p in photo_paths() for a in augmentations(load_image(p))]
        return Calibration(preprocess_batch(shipped, preprocess), DEFAULT_CALIBRATION, len(photo_paths()))
    if not folder.is_dir():
        raise ExporterError(f"--calibration {folder}: not a folder")
    try:
        files = iter_image_files([folder])
    except OSError as exc:
        raise ExporterError(f"--calibration {folder}: cannot list it ({exc.strerror or exc})") from exc
    step = max(1, len(files) // limit)
    chosen = files[::step][:limit]
    if not chosen:
        raise ExporterError(f"--calibration {folder}: no image files found")
    images: list[Image.Image] = []
    skipped: list[str] = []
    for path in chosen:  # an unreadable file is left out and named; the others still calibrate
        try:
            images.append(load_image(path, min_side=preprocess.resize))
        except ImageLoadError as exc:
            skipped.append(str(exc))
    if not images:
        raise ExporterError(f"--calibration {folder}: none of its {len(chosen)} image files can be read ({skipped[0]})")
    return Calibration(preprocess_batch(images, preprocess), str(folder), len(images), tuple(skipped))


class BatchReader(CalibrationDataReader):
    """Feeds ``batch`` to ONNX Runtime's calibrator in chunks of :data:`CALIBRATION_BATCH`."""

    def __init__(self, batch: np.ndarray, size: int = CALIBRATION_BATCH, steps: Steps | None = None) -> None:
        self._chunks: Iterator[np.ndarray] = iter([batch[i : i + size] for i in range(0, len(batch), size)])
        self._steps, self._fed, self._total = steps, 0, len(batch)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next chunk (``None`` at the end); ``steps`` counts the chunks the calibrator has taken."""
        chunk = next(self._chunks, None)
        if chunk is None:
            return None
        if self._steps is not None:
            self._fed += len(chunk)
            self._steps.step(f"{self._fed}/{self._total} images")
        return {INPUT_NAME: chunk}
