"""Evaluate models on a labelled image set: every image through each model, then the figures per model
and between models.

:func:`evaluate_model` runs one loaded model over a :class:`~desktop_app.core.labelled.LabelledSet`
with the batched, parallel pipeline of ``classify`` (:func:`~desktop_app.core.classify.classify_paths`)
and keeps, per image, only the top-k classes, their probabilities and the rank of the true class, so
memory stays small however many images there are. An image that cannot be decoded (or gives
non-finite output) is a failure with its reason, counted and listed; the others go on. Progress is
reported after every image; a ``should_stop`` callback that answers True cancels the run
(:class:`EvaluationCancelled`) between batches.

:func:`compare` puts several evaluations side by side: top-1 agreement on the images every model
classified, and the images where they disagree; models with different label sets are compared on
the classes they share (said in :attr:`Comparison.note`).

Example::

    python -m desktop_app evaluate ~/data/pets --model efficientnet_lite0 --model efficientnet_lite0-int8
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_app.core.classify import classify_paths, finite_rows
from desktop_app.core.labelled import ClassMatch, LabelledSet, match_classes, wnids_for
from desktop_app.core.metrics import (
    ModelMetrics,
    agreement_matrix,
    compute_metrics,
    disagreements,
    remap,
    shared_classes,
)
from desktop_app.core.runtime import EngineModel
from workbench.imageio import load_image
from workbench.preprocess import preprocess_image

__all__ = [
    "Comparison",
    "EvaluationCancelled",
    "ModelEvaluation",
    "compare",
    "evaluate_model",
    "file_sha256",
]

DEFAULT_TOP_K = 5
LATENCY_RUNS = 20
Progress = Callable[[int, int], None]  # (images done, images in all)


class EvaluationCancelled(Exception):
    """The run was stopped by its ``should_stop`` callback; nothing of it is kept."""


@dataclass(frozen=True, eq=False)
class ModelEvaluation:
    """One model's results on a labelled set: per evaluated image (``item`` indexes ``LabelledSet.items``)
    its top-k classes and probabilities and the rank of its true class (0 when the model lacks the class)."""

    model: EngineModel
    sha256: str
    match: ClassMatch
    item: np.ndarray  # (N,) int64: which labelled image
    true: np.ndarray  # (N,) int64: the true class's model index, -1 when unknown to the model
    ranked: np.ndarray  # (N, K) int64: top-k model indices, best first
    probabilities: np.ndarray  # (N, K) float64
    true_rank: np.ndarray  # (N,) int64: 1 = top-1; 0 when unknown
    failures: tuple[tuple[int, str], ...]  # (item, one-line reason)
    seconds: float  # wall time of the whole pass
    latency_ms: float | None  # median single-image run, after the pass
    metrics: ModelMetrics

    @property
    def name(self) -> str:
        return self.model.entry.name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model.entry.labels

    @property
    def images_per_second(self) -> float | None:
        done = len(self.item) + len(self.failures)
        return done / self.seconds if self.seconds > 0 and done else None

    @property
    def top1(self) -> np.ndarray:
        return self.ranked[:, 0] if len(self.ranked) else np.zeros(0, np.int64)


def file_sha256(path: Path) -> str:
    """The file's sha256 in hex, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def evaluate_model(
    model: EngineModel,
    labelled: LabelledSet,
    *,
    mapping: dict[str, str] | None = None,
    top_k: int = DEFAULT_TOP_K,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ModelEvaluation:
    """Run ``model`` over every image of ``labelled``; see the module docstring.

    Raises:
        LabelledDataError: ``mapping`` names a label the model lacks.
        EvaluationCancelled: ``should_stop`` answered True.
    """
    labels = model.entry.labels
    match = match_classes(labelled.classes, labels, wnids=wnids_for(labels), mapping=mapping)
    paths = [item.path for item in labelled.items]
    truth = np.array([match.index.get(item.label, -1) for item in labelled.items], dtype=np.int64)
    k = min(max(1, top_k), len(labels))
    rows = _Rows(len(paths), k)
    failures: list[tuple[int, str]] = []
    start = time.perf_counter()
    for number, result in enumerate(classify_paths(model, paths, k, keep_scores=True)):
        if result.prediction is None or result.scores is None:
            failures.append((number, result.error or "failed"))
        else:
            p = result.prediction
            rows.add(number, p.indices, p.probabilities, rank_of(result.scores, int(truth[number])))
        if progress is not None:
            progress(number + 1, len(paths))
        if should_stop is not None and should_stop():
            raise EvaluationCancelled(f"{model.entry.name}: cancelled after {number + 1} of {len(paths)} images")
    seconds = time.perf_counter() - start
    item, ranked, probabilities, true_rank = rows.arrays()
    true = truth[item]
    classes = _model_classes(labelled.classes, match)
    metrics = compute_metrics(true, ranked, probabilities[:, 0], labels, classes, true_rank=true_rank)
    return ModelEvaluation(
        model=model,
        sha256=file_sha256(model.entry.path),
        match=match,
        item=item,
        true=true,
        ranked=ranked,
        probabilities=probabilities,
        true_rank=true_rank,
        failures=tuple(failures),
        seconds=seconds,
        latency_ms=single_image_latency(model, [paths[i] for i in item[:1]]),
        metrics=metrics,
    )


class _Rows:
    """Preallocated per-image arrays filled as results arrive (no per-image Python objects kept)."""

    def __init__(self, capacity: int, k: int) -> None:
        self.item = np.zeros(capacity, np.int64)
        self.ranked = np.zeros((capacity, k), np.int64)
        self.probabilities = np.zeros((capacity, k), np.float64)
        self.true_rank = np.zeros(capacity, np.int64)
        self.k = k
        self.count = 0

    def add(self, item: int, indices: Sequence[int], probabilities: Sequence[float], rank: int) -> None:
        n = self.count
        self.item[n] = item
        self.ranked[n] = indices
        self.probabilities[n] = probabilities
        self.true_rank[n] = rank
        self.count += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = self.count
        return self.item[:n], self.ranked[:n], self.probabilities[:n], self.true_rank[:n]


def rank_of(scores: np.ndarray, index: int) -> int:
    """Rank (1 = top-1) of class ``index`` in ``scores`` as a stable descending sort orders them (ties:
    the lower index first, as ``classify`` ranks); 0 for ``index`` -1 (a class the model lacks)."""
    if index < 0:
        return 0
    value = scores[index]
    return int(np.count_nonzero(scores > value) + np.count_nonzero(scores[:index] == value)) + 1


def _model_classes(classes: Sequence[str], match: ClassMatch) -> list[int]:
    """The model indices of the data set's known classes, in the data set's order, each once."""
    seen: dict[int, None] = {}
    for name in classes:
        if name in match.index:
            seen.setdefault(match.index[name], None)
    return list(seen)


def single_image_latency(model: EngineModel, paths: Sequence[Path], runs: int = LATENCY_RUNS) -> float | None:
    """Median wall time (ms) of ``runs`` batch-1 runs on the first image (after one warm-up), or None
    without an image. Throughput comes from the whole pass; this is what one photo costs."""
    preprocess = model.entry.preprocess
    if not paths or preprocess is None:
        return None
    batch = preprocess_image(load_image(paths[0], min_side=preprocess.resize), preprocess)[None]
    model.run(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        logits = model.run(batch)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) if finite_rows(logits).all() else None


@dataclass(frozen=True, eq=False)
class Comparison:
    """Top-1 agreement between models on the images all of them classified."""

    names: tuple[str, ...]
    classes: tuple[str, ...]  # the label space compared in (shared by all models)
    items: np.ndarray  # the labelled images compared
    agreement: np.ndarray  # (M, M) fraction of ``items`` where two models' top-1 agree
    disagree: np.ndarray  # the ``items`` where not all models agree
    top1: np.ndarray  # (M, len(items)) top-1 index in ``classes`` (-1: a label outside them)
    note: str | None  # set when the models' label sets differ


def compare(evaluations: Sequence[ModelEvaluation]) -> Comparison:
    """Compare evaluations of the same labelled set (at least one)."""
    if not evaluations:
        raise ValueError("compare needs at least one evaluation")
    label_sets = [e.labels for e in evaluations]
    same = all(labels == label_sets[0] for labels in label_sets)
    classes = label_sets[0] if same else shared_classes(label_sets)
    common = set(evaluations[0].item.tolist())
    for evaluation in evaluations[1:]:
        common &= set(evaluation.item.tolist())
    items = np.array(sorted(common), dtype=np.int64)
    top1 = np.stack([_top1_at(e, items, classes, same) for e in evaluations]) if len(items) else np.zeros((0, 0))
    note = None
    if not same:
        note = (
            f"the models have different label sets: compared on the {len(classes)} classes they share "
            "(a prediction outside them never counts as agreement)"
        )
    rows = list(top1) if len(items) else [np.zeros(0, np.int64) for _ in evaluations]
    return Comparison(
        names=tuple(e.name for e in evaluations),
        classes=tuple(classes),
        items=items,
        agreement=agreement_matrix(rows),
        disagree=items[disagreements(rows)] if len(items) else items,
        top1=top1,
        note=note,
    )


def _top1_at(evaluation: ModelEvaluation, items: np.ndarray, classes: Sequence[str], same: bool) -> np.ndarray:
    position = {int(item): row for row, item in enumerate(evaluation.item.tolist())}
    top1 = evaluation.top1[[position[int(i)] for i in items]]
    return top1 if same else remap(top1, evaluation.labels, classes)
