"""Classify images with a loaded model: top-k predictions, batched, file by file with per-file errors.

:func:`classify_images` takes decoded Pillow images; :func:`classify_paths` decodes files in a small
thread pool (large JPEGs at reduced size), feeds the model in batches and yields one
:class:`FileResult` per file in input order, the first as soon as it is ready. A file that cannot be
decoded, or for which the model gives NaN or infinite logits, yields a result with ``error`` set (file
names in it shown with ``names.display_path``); the others still classify.

Example::

    python -c "from desktop_app.core.catalog import inspect_model; from desktop_app.core.runtime import load_model; \\
from desktop_app.core.classify import classify_paths; m = load_model(inspect_model('model.onnx'), 'cpu'); \\
print([r.prediction.labels[0] if r.prediction else r.error for r in classify_paths(m, ['cat.jpg'])])"
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from desktop_app.core.providers import ORT_ERRORS, one_line
from desktop_app.core.runtime import EngineModel
from workbench.imageio import ImageLoadError, load_image
from workbench.names import display_path
from workbench.preprocess import Preprocess, preprocess_batch, preprocess_image

__all__ = [
    "NON_FINITE_REASON",
    "FileResult",
    "NonFiniteOutputError",
    "Prediction",
    "classify_images",
    "classify_paths",
    "finite_rows",
    "predict_from_logits",
    "softmax",
]

DEFAULT_TOP_K = 5
DEFAULT_BATCH_SIZE = 8
DEFAULT_WORKERS = 2
NON_FINITE_REASON = "model gave non-finite output (NaN or infinity), no prediction"
_Decoded = tuple[np.ndarray, object]  # the preprocessed array and what ``decoded`` made of the image
_Ready = tuple[int, Path, np.ndarray, object]  # slot in the batch's results, file, array, extra


class NonFiniteOutputError(ValueError):
    """The model's logits for an image hold NaN or infinity, so there are no probabilities to report."""


@dataclass(frozen=True)
class Prediction:
    """The top-k classes of one image, most probable first (probabilities from a float64 softmax)."""

    indices: tuple[int, ...]
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: a prediction, or a one-line error naming the file."""

    path: Path
    prediction: Prediction | None = None
    error: str | None = None
    #: The whole softmax row (float64, one value per class), only when ``classify_paths(keep_scores=True)``.
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: What ``classify_paths(decoded=...)`` made of the decoded image (e.g. a thumbnail); None without it.
    extra: object = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (numerically stable)."""
    values = np.asarray(logits, dtype=np.float64)
    shifted = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def predict_from_logits(logits: np.ndarray, labels: Sequence[str], top_k: int = DEFAULT_TOP_K) -> list[Prediction]:
    """One :class:`Prediction` per row of ``logits`` (ties keep the lower class index first).

    Raises:
        NonFiniteOutputError: a row holds NaN or infinity (the message says which rows).
        ValueError: ``top_k`` < 1.
    """
    rows = np.atleast_2d(logits)
    finite = finite_rows(rows)
    if not finite.all():
        bad = ", ".join(str(i) for i in np.flatnonzero(~finite)[:10])
        raise NonFiniteOutputError(f"{NON_FINITE_REASON} (batch rows {bad})")
    return _predictions(rows, labels, top_k)


def finite_rows(logits: np.ndarray) -> np.ndarray:
    """A bool per row of 2-D ``logits``: True when every value in it is finite."""
    return np.isfinite(logits).reshape(len(logits), -1).all(axis=1)


def _predictions(rows: np.ndarray, labels: Sequence[str], top_k: int) -> list[Prediction]:
    return _top_k(softmax(rows), labels, top_k)


def _top_k(probabilities: np.ndarray, labels: Sequence[str], top_k: int) -> list[Prediction]:
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    k = min(top_k, probabilities.shape[1])
    predictions = []
    for row in probabilities:
        order = np.argsort(-row, kind="stable")[:k]
        predictions.append(
            Prediction(
                indices=tuple(int(i) for i in order),
                labels=tuple(labels[i] if i < len(labels) else f"class {i}" for i in order),
                probabilities=tuple(float(row[i]) for i in order),
            )
        )
    return predictions


def classify_images(
    model: EngineModel,
    images: Sequence[Image.Image],
    top_k: int = DEFAULT_TOP_K,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> list[Prediction]:
    """Top-k predictions for RGB images (load them with ``imageio.load_image``), in order."""
    preprocess = _preprocess_of(model)
    predictions: list[Prediction] = []
    for start in range(0, len(images), max(1, batch_size)):
        batch = preprocess_batch(images[start : start + batch_size], preprocess)
        predictions.extend(predict_from_logits(model.run(batch), model.entry.labels, top_k))
    return predictions


def classify_paths(
    model: EngineModel,
    paths: Iterable[str | os.PathLike[str]],
    top_k: int = DEFAULT_TOP_K,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = DEFAULT_WORKERS,
    keep_scores: bool = False,
    decoded: Callable[[Path, Image.Image], object] | None = None,
) -> Generator[FileResult, None, None]:
    """Decode, preprocess and classify files; yield one :class:`FileResult` per file, in order.

    Decoding runs in ``workers`` threads ahead of the model; a batch is run as soon as the next
    file is not decoded yet (or the batch is full), so the first result never waits for the rest.
    ``keep_scores`` also hands over each image's whole softmax row (``FileResult.scores``), for
    callers that need more than the top-k (evaluation: the rank of the true class). ``decoded`` is
    called in the decoding thread with each file and its decoded image; what it returns is ``FileResult.extra``
    (the window's thumbnails), also for an image whose inference then fails.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    preprocess = _preprocess_of(model)
    window = max(1, workers) * max(1, batch_size) * 2
    pending: deque[tuple[Path, Future[_Decoded]]] = deque()
    source = iter(Path(p) for p in paths)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="decode") as pool:
        try:
            while True:
                for path in source:
                    pending.append((path, pool.submit(_decode, path, preprocess, decoded)))
                    if len(pending) >= window:
                        break
                if not pending:
                    return
                yield from _next_batch(model, pending, top_k, batch_size, keep_scores)
        finally:
            for _, future in pending:
                future.cancel()


def _next_batch(
    model: EngineModel,
    pending: deque[tuple[Path, Future[_Decoded]]],
    top_k: int,
    batch_size: int,
    keep_scores: bool = False,
) -> list[FileResult]:
    """Take decoded files off the front of ``pending`` (waiting only for the first) and classify them."""
    results: list[FileResult] = []
    ready: list[_Ready] = []
    while pending and len(ready) < batch_size:
        path, future = pending[0]
        if (ready or results) and not future.done():
            break
        pending.popleft()
        try:
            array, extra = future.result()
        except ImageLoadError as exc:
            results.append(FileResult(path=path, error=str(exc)))
            continue
        results.append(FileResult(path=path))
        ready.append((len(results) - 1, path, array, extra))
    if ready:
        for slot, result in _run_ready(model, ready, top_k, keep_scores):
            results[slot] = result
    return results


def _run_ready(
    model: EngineModel, ready: list[_Ready], top_k: int, keep_scores: bool = False
) -> list[tuple[int, FileResult]]:
    """Run one batch; an image whose logits are not finite gets an error, the rest their predictions."""
    batch = np.stack([array for _, _, array, _ in ready])
    try:
        logits = np.atleast_2d(model.run(batch))
    except ORT_ERRORS as exc:
        reason = f"inference failed ({one_line(str(exc))})"
        return [
            (slot, FileResult(path=path, error=f"{display_path(path)}: {reason}", extra=extra))
            for slot, path, _, extra in ready
        ]
    finite = finite_rows(logits)
    probabilities = softmax(logits[finite])
    predictions = iter(_top_k(probabilities, model.entry.labels, top_k))
    rows = iter(probabilities if keep_scores else [None] * len(probabilities))
    return [
        (
            slot,
            FileResult(path=path, prediction=next(predictions), scores=next(rows), extra=extra)
            if ok
            else FileResult(path=path, error=f"{display_path(path)}: {NON_FINITE_REASON}", extra=extra),
        )
        for (slot, path, _, extra), ok in zip(ready, finite, strict=True)
    ]


def _decode(path: Path, preprocess: Preprocess, decoded: Callable[[Path, Image.Image], object] | None) -> _Decoded:
    image = load_image(path, min_side=preprocess.resize)
    return preprocess_image(image, preprocess), (decoded(path, image) if decoded is not None else None)


def _preprocess_of(model: EngineModel) -> Preprocess:
    if model.entry.preprocess is None:
        raise ValueError(f"{model.entry.path.name}: model has no preprocessing (unusable entry)")
    return model.entry.preprocess
