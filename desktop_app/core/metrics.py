"""Accuracy metrics for evaluating classifiers on a labelled data set, and comparisons between models.

Numpy only (no Qt, no torch, no scikit-learn); the coming ``python -m desktop_app evaluate`` command is a thin
layer over it. Per model, :func:`compute_metrics` takes, for N evaluated images, the model label index of each
image's true class (``-1`` when the data set's class is unknown to the model), the model's top-K label indices
(best first) and the top-1 probability, and gives a :class:`ModelMetrics`: top-1/top-5 accuracy, per-class
precision/recall/F1/support (scikit-learn's convention, ``zero_division=0``), macro averages, the confusion
matrix over the data set's classes plus an ``(other)`` column, the most confident mistakes and the most
confused pairs; :meth:`ModelMetrics.to_json` is strict JSON (no NaN/inf; ``None`` where undefined).
Between models: :func:`agreement_matrix`, :func:`disagreements`, and :func:`shared_classes` /
:func:`all_classes` / :func:`remap` to put models with different label sets in one index space.
:func:`latency_summary` turns batch timings into images/s and per-image milliseconds.

Example::

    python -c "import numpy as np; from desktop_app.core.metrics import compute_metrics; \\
m = compute_metrics(np.array([0, 1, 1]), np.array([[0, 1], [0, 1], [1, 0]]), np.array([.9, .8, .7]), \\
['cat', 'dog'], [0, 1]); print(m.top1, m.mistakes(5))"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

OTHER = "(other)"
"""Name of the confusion matrix's last column: top-1 predictions outside the data set's classes."""

DEFAULT_KS = (1, 5)


class MetricsError(ValueError):
    """Inputs that cannot be evaluated (wrong shapes, indices out of range, non-finite numbers); the message says
    which argument and what is wrong with it."""


@dataclass(frozen=True)
class Mistake:
    """A wrong top-1 prediction: ``index`` is the image's position in the arrays given to compute_metrics."""

    index: int
    true: int
    predicted: int
    confidence: float
    true_label: str
    predicted_label: str


@dataclass(frozen=True)
class ConfusedPair:
    """How many images of class ``true`` the model called ``predicted`` (model label indices and names)."""

    true: int
    predicted: int
    count: int
    true_label: str
    predicted_label: str


@dataclass(frozen=True, eq=False)
class ModelMetrics:
    """One model's metrics on one data set; see the module docstring and :func:`compute_metrics`.

    Per-class arrays (``precision``, ``recall``, ``f1``, ``support``) follow ``classes``; ``confusion`` is
    ``len(classes)`` rows (true class) by ``len(classes) + 1`` columns (top-1 prediction, last column ``(other)``),
    over known-class images only. ``true``, ``predicted`` (top-1) and ``confidence`` are the N inputs.
    """

    labels: tuple[str, ...]
    classes: tuple[int, ...]
    images: int
    unknown_images: int
    topk: dict[int, float]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    macro_precision: float | None
    macro_recall: float | None
    macro_f1: float | None
    confusion: np.ndarray
    true: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray

    @property
    def top1(self) -> float | None:
        """Top-1 accuracy over known-class images; None when there are none."""
        return self.topk.get(1)

    @property
    def top5(self) -> float | None:
        """Top-5 accuracy; None when the model has fewer than 5 labels, K < 5 without true_rank, or no images."""
        return self.topk.get(5)

    @property
    def class_labels(self) -> tuple[str, ...]:
        """Names of the data set's classes, in display order (the confusion matrix's rows)."""
        return tuple(self.labels[c] for c in self.classes)

    @property
    def confusion_columns(self) -> tuple[str, ...]:
        """The confusion matrix's column names: the class names, then :data:`OTHER`."""
        return (*self.class_labels, OTHER)

    def mistakes(self, n: int) -> list[Mistake]:
        """The ``n`` most confident wrong top-1 predictions on known-class images (ties: lower image index first)."""
        wrong = np.flatnonzero((self.true >= 0) & (self.predicted != self.true))
        order = wrong[np.lexsort((wrong, -self.confidence[wrong]))][: max(n, 0)]
        t, p, c, names = self.true, self.predicted, self.confidence, self.labels
        return [Mistake(int(i), int(t[i]), int(p[i]), float(c[i]), names[t[i]], names[p[i]]) for i in order]

    def most_confused(self, n: int) -> list[ConfusedPair]:
        """The ``n`` (true, predicted) pairs with true != predicted seen most often, by model label (so a
        prediction outside the data set's classes keeps its own name); ties by true then predicted index."""
        known = self.true >= 0
        true, pred = self.true[known], self.predicted[known]
        off = true != pred
        codes, counts = np.unique(true[off] * len(self.labels) + pred[off], return_counts=True)
        order = np.lexsort((codes, -counts))[: max(n, 0)]
        pairs = []
        for code, count in zip(codes[order], counts[order], strict=True):
            t, p = divmod(int(code), len(self.labels))
            pairs.append(ConfusedPair(t, p, int(count), self.labels[t], self.labels[p]))
        return pairs

    def to_json(self, *, mistakes: int = 20, confused: int = 20, matrix: bool = True) -> dict[str, Any]:
        """A strict-JSON-ready dict (finite numbers, None where undefined). Keys:

        ``images``, ``unknown_images``: counts; ``top1``, ``top5``: accuracy or None; ``topk``: {"k": accuracy};
        ``macro``: {"precision", "recall", "f1"} (None without classes); ``classes``: a list of {"index" (model
        label index), "label", "precision", "recall", "f1", "support"}; ``confusion``: {"rows", "columns",
        "matrix"} (``matrix`` omitted when ``matrix=False``); ``mistakes``: the ``mistakes`` most confident
        mistakes as {"index", "true", "predicted", "confidence", "true_label", "predicted_label"};
        ``most_confused``: the ``confused`` top pairs as {"true", "predicted", "count", "true_label",
        "predicted_label"}.
        """
        per_class = [
            {
                "index": c,
                "label": self.labels[c],
                "precision": _finite(self.precision[i]),
                "recall": _finite(self.recall[i]),
                "f1": _finite(self.f1[i]),
                "support": int(self.support[i]),
            }
            for i, c in enumerate(self.classes)
        ]
        confusion: dict[str, Any] = {"rows": list(self.class_labels), "columns": list(self.confusion_columns)}
        if matrix:
            confusion["matrix"] = self.confusion.tolist()
        return {
            "images": self.images,
            "unknown_images": self.unknown_images,
            "top1": _finite(self.top1),
            "top5": _finite(self.top5),
            "topk": {str(k): _finite(v) for k, v in sorted(self.topk.items())},
            "macro": {
                "precision": _finite(self.macro_precision),
                "recall": _finite(self.macro_recall),
                "f1": _finite(self.macro_f1),
            },
            "classes": per_class,
            "confusion": confusion,
            "mistakes": [asdict(m) for m in self.mistakes(mistakes)],
            "most_confused": [asdict(p) for p in self.most_confused(confused)],
        }


def _finite(value: float | np.floating | None) -> float | None:
    """A Python float, or None for None/NaN/inf (strict JSON has neither)."""
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def _int_array(name: str, value: object, ndim: int) -> np.ndarray:
    """``value`` as an int64 array of ``ndim`` dimensions, or MetricsError naming ``name``."""
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise MetricsError(f"{name}: expected a {ndim}-D array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise MetricsError(f"{name}: expected integer label indices, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_range(name: str, arr: np.ndarray, low: int, high: int) -> None:
    """MetricsError unless every value of ``arr`` is in [low, high)."""
    bad = np.flatnonzero((arr < low) | (arr >= high))
    if bad.size:
        raise MetricsError(f"{name}: value {arr.flat[bad[0]]} at position {bad[0]} is outside [{low}, {high})")


def _label_tuple(name: str, labels: Sequence[str]) -> tuple[str, ...]:
    if isinstance(labels, str):
        raise MetricsError(f"{name}: expected a sequence of label names, got the string {labels!r}")
    return tuple(labels)


class _Inputs(NamedTuple):
    true: np.ndarray
    ranked: np.ndarray
    confidence: np.ndarray
    labels: tuple[str, ...]
    classes: tuple[int, ...]
    true_rank: np.ndarray | None


def _validated(
    true: object, ranked: object, confidence: object, labels: Sequence[str], classes: Sequence[int], rank: object
) -> _Inputs:
    """compute_metrics' inputs checked against each other, or MetricsError saying which one is wrong."""
    names = _label_tuple("labels", labels)
    if not names:
        raise MetricsError("labels: the model has no labels")
    t = _int_array("true", true, 1)
    r = _int_array("ranked", ranked, 2)
    conf = np.asarray(confidence, dtype=np.float64)
    n = t.shape[0]
    if r.shape[0] != n or r.shape[1] < 1:
        raise MetricsError(f"ranked: expected shape ({n}, K>=1) to match true's {n} images, got {r.shape}")
    if conf.shape != (n,):
        raise MetricsError(f"confidence: expected shape ({n},) to match true, got {conf.shape}")
    if not np.isfinite(conf).all():
        raise MetricsError(f"confidence: non-finite value at position {np.flatnonzero(~np.isfinite(conf))[0]}")
    cls = _int_array("classes", list(classes), 1)
    _check_range("classes", cls, 0, len(names))
    if len(set(cls.tolist())) != cls.size:
        raise MetricsError("classes: a model label index appears more than once")
    _check_range("ranked", r, 0, len(names))
    _check_range("true", t, -1, len(names))
    stray = np.flatnonzero((t >= 0) & ~np.isin(t, cls))
    if stray.size:
        raise MetricsError(f"true: label {t[stray[0]]} at position {stray[0]} is not one of the data set's classes")
    tr = None if rank is None else _checked_rank(rank, t, r, len(names))
    return _Inputs(t, r, conf, names, tuple(cls.tolist()), tr)


def _checked_rank(rank: object, true: np.ndarray, ranked: np.ndarray, n_labels: int) -> np.ndarray:
    """true_rank checked: 0 for unknown images, 1..n_labels otherwise, and consistent with ranked."""
    tr = _int_array("true_rank", rank, 1)
    if tr.shape != true.shape:
        raise MetricsError(f"true_rank: expected shape {true.shape} to match true, got {tr.shape}")
    known = true >= 0
    if np.any(tr[~known] != 0):
        raise MetricsError("true_rank: must be 0 for images whose class is unknown to the model (true == -1)")
    _check_range("true_rank (known-class images)", tr[known], 1, n_labels + 1)
    hit = ranked == true[:, None]
    found = hit.any(axis=1)
    expected = np.where(found, hit.argmax(axis=1) + 1, 0)
    bad = np.flatnonzero(known & ((found & (tr != expected)) | (~found & (tr <= ranked.shape[1]))))
    if bad.size:
        raise MetricsError(f"true_rank: {tr[bad[0]]} at position {bad[0]} contradicts ranked's top-{ranked.shape[1]}")
    return tr


def _topk(inp: _Inputs, ks: Sequence[int]) -> dict[int, float]:
    """Top-k accuracy over known-class images for each k that the inputs allow."""
    known = inp.true >= 0
    if not known.any():
        return {}
    out: dict[int, float] = {}
    for k in sorted(set(ks)):
        if k < 1 or k > len(inp.labels):
            continue
        if k <= inp.ranked.shape[1]:
            hits = (inp.ranked[known, :k] == inp.true[known, None]).any(axis=1)
        elif inp.true_rank is not None:
            hits = inp.true_rank[known] <= k
        else:
            continue
        out[k] = float(hits.mean())
    return out


def _confusion(true: np.ndarray, predicted: np.ndarray, classes: tuple[int, ...], n_labels: int) -> np.ndarray:
    """Counts of (true class, top-1) over known-class images; predictions outside ``classes`` in the last column."""
    c = len(classes)
    position = np.full(n_labels, c, dtype=np.int64)
    position[list(classes)] = np.arange(c)
    known = true >= 0
    cells = position[true[known]] * (c + 1) + position[predicted[known]]
    return np.bincount(cells, minlength=c * (c + 1)).astype(np.int64).reshape(c, c + 1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den element-wise, 0.0 where den is 0 (scikit-learn's zero_division=0)."""
    return np.divide(num, den, out=np.zeros(num.shape, dtype=np.float64), where=den > 0)


def compute_metrics(
    true: np.ndarray,
    ranked: np.ndarray,
    confidence: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[int],
    *,
    true_rank: np.ndarray | None = None,
    ks: Sequence[int] = DEFAULT_KS,
) -> ModelMetrics:
    """One model's metrics on N images (see the module docstring); raises MetricsError on inconsistent inputs.

    ``true`` (N,) model label index of each image's class, -1 when unknown to the model (counted, not scored);
    ``ranked`` (N, K) top-K label indices, best first; ``confidence`` (N,) top-1 probability; ``labels`` the
    model's label names; ``classes`` the model indices of the data set's classes, in display order (every known
    ``true`` must be one); ``true_rank`` (N,) optional 1-based rank of the true class in the full output (0 when
    unknown), which allows top-k for k > K; ``ks`` the k of ``topk``.
    """
    inp = _validated(true, ranked, confidence, labels, classes, true_rank)
    predicted = inp.ranked[:, 0]
    matrix = _confusion(inp.true, predicted, inp.classes, len(inp.labels))
    c = len(inp.classes)
    tp = np.diagonal(matrix[:, :c]).astype(np.float64)
    support = matrix.sum(axis=1)
    called = matrix[:, :c].sum(axis=0)
    precision, recall = _ratio(tp, called), _ratio(tp, support)
    f1 = _ratio(2 * tp, (called - tp) + (support - tp) + 2 * tp)
    unknown = int((inp.true < 0).sum())
    return ModelMetrics(
        labels=inp.labels,
        classes=inp.classes,
        images=len(inp.true) - unknown,
        unknown_images=unknown,
        topk=_topk(inp, ks),
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        macro_precision=float(precision.mean()) if c else None,
        macro_recall=float(recall.mean()) if c else None,
        macro_f1=float(f1.mean()) if c else None,
        confusion=matrix,
        true=inp.true,
        predicted=predicted,
        confidence=inp.confidence,
    )


def _stacked(top1_by_model: Sequence[np.ndarray]) -> np.ndarray:
    """The models' top-1 arrays as one (M, N) int64 array, or MetricsError."""
    if len(top1_by_model) == 0:
        raise MetricsError("top1_by_model: no models to compare")
    arrays = [_int_array(f"top1_by_model[{i}]", a, 1) for i, a in enumerate(top1_by_model)]
    lengths = sorted({a.shape[0] for a in arrays})
    if len(lengths) > 1:
        raise MetricsError(f"top1_by_model: the models must be scored on the same images, got lengths {lengths}")
    return np.stack(arrays)


def agreement_matrix(top1_by_model: Sequence[np.ndarray]) -> np.ndarray:
    """(M, M) float64: the fraction of images on which models i and j give the same top-1; diagonal 1.0.

    The arrays must be in one index space (see :func:`remap`); a negative value (a label with no counterpart)
    never agrees with anything. Raises MetricsError for no models, different lengths or zero images.
    """
    preds = _stacked(top1_by_model)
    m, n = preds.shape
    if n == 0:
        raise MetricsError("top1_by_model: zero images, agreement is undefined")
    valid = preds >= 0
    out = np.ones((m, m), dtype=np.float64)
    for i in range(m):
        for j in range(i + 1, m):
            out[i, j] = out[j, i] = float(np.mean((preds[i] == preds[j]) & valid[i] & valid[j]))
    return out


def disagreements(top1_by_model: Sequence[np.ndarray]) -> np.ndarray:
    """Image indices (int64, ascending) where not all models give the same top-1 (a negative value counts as a
    disagreement when there are two models or more). Raises MetricsError for no models or different lengths."""
    preds = _stacked(top1_by_model)
    if preds.shape[0] == 1:
        return np.zeros(0, dtype=np.int64)
    agree = (preds == preds[0]).all(axis=0) & (preds >= 0).all(axis=0)
    return np.flatnonzero(~agree).astype(np.int64)


def _occurrences(labels: Sequence[str]) -> list[tuple[str, int]]:
    """Each label with its ordinal among equal names: ImageNet has two "crane" and two "maillot" labels."""
    seen: Counter[str] = Counter()
    keys = []
    for name in labels:
        keys.append((name, seen[name]))
        seen[name] += 1
    return keys


def _label_sets(label_sets: Sequence[Sequence[str]]) -> list[tuple[str, ...]]:
    if len(label_sets) == 0:
        raise MetricsError("label_sets: no label sets given")
    return [_label_tuple(f"label_sets[{i}]", s) for i, s in enumerate(label_sets)]


def shared_classes(label_sets: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Label names present in every set, in the first set's order; a name repeated in every set (ImageNet's
    "crane") is kept as often as the set with the fewest copies has it."""
    sets = _label_sets(label_sets)
    others = [set(_occurrences(s)) for s in sets[1:]]
    return tuple(name for name, j in _occurrences(sets[0]) if all((name, j) in o for o in others))


def all_classes(label_sets: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Every label name of every set once (repeated names as often as the set with the most copies), in order of
    first appearance: remap to it when predictions outside the shared classes must still be compared."""
    seen: set[tuple[str, int]] = set()
    out = []
    for labels in _label_sets(label_sets):
        for key in _occurrences(labels):
            if key not in seen:
                seen.add(key)
                out.append(key[0])
    return tuple(out)


def remap(indices: np.ndarray, from_labels: Sequence[str], to_labels: Sequence[str]) -> np.ndarray:
    """Label indices (any shape) in ``from_labels`` translated by name to indices in ``to_labels`` (int64), -1
    for names ``to_labels`` lacks and for -1 inputs. The j-th copy of a repeated name maps to its j-th copy.
    Raises MetricsError for non-integer indices or indices outside [-1, len(from_labels))."""
    src, dst = _label_tuple("from_labels", from_labels), _label_tuple("to_labels", to_labels)
    arr = np.asarray(indices)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise MetricsError(f"indices: expected integer label indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    _check_range("indices", arr, -1, len(src))
    position = {key: i for i, key in enumerate(_occurrences(dst))}
    table = np.array([position.get(key, -1) for key in _occurrences(src)] + [-1], dtype=np.int64)
    return table[arr]


def latency_summary(seconds_per_batch: Sequence[float], images_per_batch: Sequence[int]) -> dict[str, float | int]:
    """Throughput and per-image latency from batch timings: {"batches", "images", "seconds", "images_per_second",
    "median_ms_per_image" (median over images, each image costing its batch's seconds / batch size),
    "mean_ms_per_image", "min_ms_per_image", "max_ms_per_image"}; all finite.

    Raises MetricsError (a ValueError) for zero batches, different lengths, non-positive or non-finite seconds,
    or batch sizes that are not positive integers.
    """
    seconds = np.asarray(seconds_per_batch, dtype=np.float64)
    sizes = np.asarray(images_per_batch)
    if seconds.ndim != 1 or seconds.size == 0:
        raise MetricsError("latency_summary: no batches timed (seconds_per_batch is empty)")
    if sizes.shape != seconds.shape:
        raise MetricsError(f"latency_summary: {seconds.size} batch times but {sizes.size} batch sizes")
    if not (np.isfinite(seconds).all() and (seconds > 0).all()):
        raise MetricsError("latency_summary: every batch time must be a finite number of seconds > 0")
    if not np.issubdtype(sizes.dtype, np.integer) or (sizes < 1).any():
        raise MetricsError("latency_summary: every batch size must be an integer >= 1")
    per_image_ms = seconds / sizes * 1000.0
    total_s, total_images = float(seconds.sum()), int(sizes.sum())
    return {
        "batches": int(seconds.size),
        "images": total_images,
        "seconds": total_s,
        "images_per_second": total_images / total_s,
        "median_ms_per_image": float(np.median(np.repeat(per_image_ms, sizes))),
        "mean_ms_per_image": total_s / total_images * 1000.0,
        "min_ms_per_image": float(per_image_ms.min()),
        "max_ms_per_image": float(per_image_ms.max()),
    }
