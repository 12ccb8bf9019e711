"""Occlusion sensitivity: the gradient-free explanation for any classifier, CAM or not (VGG, foreign files).

A square patch of the dataset's mean colour (0 after normalisation: the "grey" the model sees as nothing)
slides over the preprocessed input with a stride; each occluded copy is classified on the loaded model
(:meth:`EngineModel.run`, in batches) and the drop of the class's probability is the map: where covering
the image hurts the class most is where the evidence is (Zeiler & Fergus, 2014). Each input pixel gets the
mean drop of the patches that covered it (a rise, where covering helped the class, counts as 0);
the map is then mapped back onto the original image like CAM
(:func:`desktop_app.core.cam.map_to_image`: NaN outside the centre crop, [0, 1] over the rest).

Defaults: ``patch=32``, ``stride=24``, ``batch=16``: on a 224 x 224 input 9 x 9 = 81 occluded copies (plus
the unoccluded one) in 6 batches. On the 2-core AMD EPYC of scripts/bench_explain.py a 224-px ResNet-50 takes
2-4 s with it; stride 16 (13 x 13 = 169 copies) took 4 s there when the machine was idle but 11-19 s while
other jobs shared its two cores, over the 10 s target, so the default keeps a margin of 2x or more.
The patch and stride scale with the input size (``patch`` and ``stride`` are
for 224 px), so a 64-px model costs the same number of runs.

Example::

    python -c "from PIL import Image; from desktop_app.core.catalog import inspect_model; \\
from desktop_app.core.runtime import load_model; from desktop_app.core.occlusion import occlusion_map; \\
m = load_model(inspect_model('model.onnx'), 'cpu'); r = occlusion_map(m, Image.open('cat.jpg').convert('RGB')); \\
print(r.label, r.probability, r.map.shape)"
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from desktop_app.core.cam import CamResult, map_to_image
from desktop_app.core.runtime import EngineModel
from workbench.preprocess import Preprocess, preprocess_image

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_PATCH",
    "DEFAULT_STRIDE",
    "OcclusionCancelledError",
    "occlusion_grid",
    "occlusion_map",
    "patch_positions",
]

DEFAULT_PATCH = 32  # pixels of a 224-px input
DEFAULT_STRIDE = 24
DEFAULT_BATCH = 16
_REFERENCE_SIDE = 224


class OcclusionCancelledError(Exception):
    """The cancel check said stop; no map was made."""


def patch_positions(side: int, patch: int, stride: int) -> list[int]:
    """Start offsets along one axis so that patches of ``patch`` pixels cover ``side`` pixels, the last at the end."""
    patch = min(patch, side)
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] + patch < side:
        starts.append(side - patch)
    return starts


def _scaled(value: int, side: int) -> int:
    return max(1, round(value * side / _REFERENCE_SIDE))


def occlusion_grid(
    model: EngineModel,
    x: np.ndarray,
    class_index: int,
    *,
    patch: int = DEFAULT_PATCH,
    stride: int = DEFAULT_STRIDE,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    base: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(drop map over the input's H x W, probabilities of the unoccluded input) for one preprocessed input.

        ``x`` is one preprocessed image (``Preprocess.output_shape``); ``patch`` and ``stride`` are given for a
        224-px side and scaled to the input's. ``progress(done, total)`` is called after each batch (total =
        occluded copies); ``cancelled()`` is checked before each. ``base``: the unoccluded input's probabilities,
    when the caller has them already (else one more run).

        Raises:
            OcclusionCancelledError: ``cancelled()`` returned True.
    """
    layout = model.entry.layout
    height, width = (x.shape[1], x.shape[2]) if layout == "NCHW" else (x.shape[0], x.shape[1])
    ph, pw = min(_scaled(patch, height), height), min(_scaled(patch, width), width)
    boxes = [
        (top, left)
        for top in patch_positions(height, ph, _scaled(stride, height))
        for left in patch_positions(width, pw, _scaled(stride, width))
    ]
    if base is None:
        base = _probabilities(model.run(x[None]))[0]
    drops = np.zeros(len(boxes), dtype=np.float64)
    for start in range(0, len(boxes), batch):
        if cancelled is not None and cancelled():
            raise OcclusionCancelledError("occlusion cancelled")
        chunk = boxes[start : start + batch]
        copies = np.repeat(x[None], len(chunk), axis=0)
        for row, (top, left) in enumerate(chunk):
            if layout == "NCHW":
                copies[row, :, top : top + ph, left : left + pw] = 0.0
            else:
                copies[row, top : top + ph, left : left + pw, :] = 0.0
        drops[start : start + len(chunk)] = base[class_index] - _probabilities(model.run(copies))[:, class_index]
        if progress is not None:
            progress(start + len(chunk), len(boxes))
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.float64)
    for (top, left), drop in zip(boxes, drops, strict=True):
        total[top : top + ph, left : left + pw] += drop
        count[top : top + ph, left : left + pw] += 1
    return np.maximum(total / np.maximum(count, 1), 0.0).astype(np.float32), base


def occlusion_map(
    model: EngineModel,
    image: Image.Image,
    class_index: int | None = None,
    *,
    patch: int = DEFAULT_PATCH,
    stride: int = DEFAULT_STRIDE,
    batch: int = DEFAULT_BATCH,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CamResult:
    """Occlusion sensitivity of ``class_index`` (default: top-1) on ``image``'s own pixel grid (method "occlusion").

    Raises:
        OcclusionCancelledError: cancelled.
        ValueError: ``class_index`` out of range, or the model has no preprocessing.
    """
    p = _preprocess_of(model)
    x = preprocess_image(image if image.mode == "RGB" else image.convert("RGB"), p)
    classes = model.entry.num_classes or len(model.entry.labels)
    base = _probabilities(model.run(x[None]))[0]
    index = int(np.argmax(base)) if class_index is None else class_index
    if classes and not 0 <= index < classes:
        raise ValueError(f"class index {index} is out of range: the model has {classes} classes")
    grid, _ = occlusion_grid(
        model, x, index, patch=patch, stride=stride, batch=batch, progress=progress, cancelled=cancelled, base=base
    )
    labels = model.entry.labels
    label = labels[index] if index < len(labels) else str(index)
    return CamResult(map_to_image(grid, p, image.size), index, label, float(base[index]), "occlusion", grid)


def _preprocess_of(model: EngineModel) -> Preprocess:
    if model.entry.preprocess is None:
        raise ValueError(f"{model.entry.path.name}: model has no preprocessing")
    return model.entry.preprocess


def _probabilities(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    values = np.exp(shifted)
    return values / values.sum(axis=1, keepdims=True)
