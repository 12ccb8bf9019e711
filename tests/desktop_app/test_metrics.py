"""Tests for desktop_app.core.metrics, against scikit-learn as the reference (scikit-learn only in tests).

Run: ``.venv/bin/python -m pytest -q -n 0 tests/desktop_app/test_metrics.py``
"""

from __future__ import annotations

import json
from collections import Counter
from typing import NamedTuple

import numpy as np
import pytest
from sklearn.metrics import (  # type: ignore[import-untyped]
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    top_k_accuracy_score,
)

from desktop_app.core.metrics import (
    OTHER,
    ConfusedPair,
    MetricsError,
    Mistake,
    ModelMetrics,
    agreement_matrix,
    all_classes,
    compute_metrics,
    disagreements,
    latency_summary,
    remap,
    shared_classes,
)


class Case(NamedTuple):
    true: np.ndarray
    scores: np.ndarray
    ranked: np.ndarray
    confidence: np.ndarray
    true_rank: np.ndarray
    labels: tuple[str, ...]
    classes: list[int]


def make_case(seed: int, n_labels: int = 12, n_classes: int = 6, n: int = 40, k: int = 5) -> Case:
    """Random scores biased towards the true class; one data set class is never predicted, some predictions fall
    outside the data set's classes, and about one image in six has a class unknown to the model."""
    rng = np.random.default_rng(seed)
    classes = [int(c) for c in rng.choice(n_labels, n_classes, replace=False)]
    true = rng.choice(classes, n).astype(np.int64)
    true[rng.random(n) < 1 / 6] = -1
    scores = rng.random((n, n_labels))
    known = true >= 0
    scores[np.flatnonzero(known), true[known]] += 0.4
    scores[:, classes[-1]] -= 2.0  # never predicted, so a class missing from the predictions
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    order = np.argsort(-scores, axis=1)
    true_score = scores[np.arange(n), np.maximum(true, 0)]
    true_rank = np.where(known, (scores > true_score[:, None]).sum(axis=1) + 1, 0)
    labels = tuple(f"label-{i}" for i in range(n_labels))
    return Case(true, scores, order[:, :k], probs.max(axis=1), true_rank, labels, classes)


def metrics_of(case: Case, *, true_rank: np.ndarray | None = None, ks: tuple[int, ...] = (1, 5)) -> ModelMetrics:
    return compute_metrics(
        case.true, case.ranked, case.confidence, case.labels, case.classes, true_rank=true_rank, ks=ks
    )


SEEDS = [0, 1, 2, 3, 7, 42]


@pytest.mark.parametrize("seed", SEEDS)
def test_confusion_matrix_matches_sklearn_with_other_column(seed: int) -> None:
    case = make_case(seed)
    m = metrics_of(case)
    known = case.true >= 0
    y_true, y_pred = case.true[known], case.ranked[known, 0]
    assert not np.isin(y_pred, case.classes).all(), "the case must have predictions outside the data set"
    other = -99
    mapped = np.where(np.isin(y_pred, case.classes), y_pred, other)
    ref = confusion_matrix(y_true, mapped, labels=[*case.classes, other])
    assert m.confusion.dtype == np.int64
    assert m.confusion.shape == (len(case.classes), len(case.classes) + 1)
    np.testing.assert_array_equal(m.confusion, ref[:-1])
    assert ref[-1].sum() == 0
    assert m.confusion[:, -1].sum() > 0
    assert m.confusion.sum() == m.images == known.sum()
    assert m.unknown_images == (~known).sum() > 0
    assert m.class_labels == tuple(case.labels[c] for c in case.classes)
    assert m.confusion_columns == (*m.class_labels, OTHER)


@pytest.mark.parametrize("seed", SEEDS)
def test_per_class_and_macro_match_sklearn(seed: int) -> None:
    case = make_case(seed)
    m = metrics_of(case)
    known = case.true >= 0
    y_true, y_pred = case.true[known], case.ranked[known, 0]
    assert case.classes[-1] not in y_pred
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=case.classes, zero_division=0)
    np.testing.assert_allclose(m.precision, p)
    np.testing.assert_allclose(m.recall, r)
    np.testing.assert_allclose(m.f1, f)
    np.testing.assert_array_equal(m.support, s)
    mp, mr, mf, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=case.classes, average="macro", zero_division=0
    )
    assert m.macro_precision == pytest.approx(mp)
    assert m.macro_recall == pytest.approx(mr)
    assert m.macro_f1 == pytest.approx(mf)


@pytest.mark.parametrize("seed", SEEDS)
def test_topk_matches_sklearn(seed: int) -> None:
    case = make_case(seed)
    m = metrics_of(case)
    known = case.true >= 0
    labels = np.arange(len(case.labels))
    assert m.top1 == pytest.approx(accuracy_score(case.true[known], case.ranked[known, 0]))
    assert m.top1 == pytest.approx(top_k_accuracy_score(case.true[known], case.scores[known], k=1, labels=labels))
    assert m.top5 == pytest.approx(top_k_accuracy_score(case.true[known], case.scores[known], k=5, labels=labels))
    assert set(m.topk) == {1, 5}
    assert 0.0 < m.topk[1] < m.topk[5] < 1.0


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_true_rank_gives_top5_beyond_k(seed: int) -> None:
    case = make_case(seed, k=3)
    assert metrics_of(case).top5 is None
    m = metrics_of(case, true_rank=case.true_rank, ks=(1, 3, 5, 10))
    known = case.true >= 0
    labels = np.arange(len(case.labels))
    for k in (1, 3, 5, 10):
        ref = top_k_accuracy_score(case.true[known], case.scores[known], k=k, labels=labels)
        assert m.topk[k] == pytest.approx(ref), k


def test_true_rank_contradicting_ranked_is_refused() -> None:
    case = make_case(0, k=3)
    bad = case.true_rank.copy()
    i = int(np.flatnonzero(bad == 1)[0])
    bad[i] = 2
    with pytest.raises(MetricsError, match=f"true_rank: 2 at position {i}"):
        metrics_of(case, true_rank=bad)
    unknown = case.true_rank.copy()
    unknown[np.flatnonzero(case.true < 0)[0]] = 4
    with pytest.raises(MetricsError, match="must be 0"):
        metrics_of(case, true_rank=unknown)


def test_few_labels_has_no_top5() -> None:
    m = compute_metrics(
        np.array([0, 1, 2, 2]),
        np.array([[0, 1, 2], [2, 1, 0], [2, 0, 1], [1, 2, 0]]),
        np.full(4, 0.5),
        ["a", "b", "c"],
        [0, 1, 2],
        true_rank=np.array([1, 2, 1, 2]),
    )
    assert m.top5 is None
    assert m.top1 == 0.5
    assert set(m.topk) == {1}
    assert m.to_json()["top5"] is None


def test_mistakes_most_confident_first() -> None:
    labels = ["cat", "dog", "fox", "owl"]
    true = np.array([0, 1, 1, -1, 0, 1, 0])
    top1 = np.array([1, 1, 3, 2, 2, 0, 1])
    conf = np.array([0.6, 0.99, 0.9, 0.95, 0.6, 0.7, 0.8])
    ranked = np.stack([top1, (top1 + 1) % 4], axis=1)
    m = compute_metrics(true, ranked, conf, labels, [0, 1])
    got = m.mistakes(10)
    assert [x.index for x in got] == [2, 6, 5, 0, 4]  # the 0.6 tie: lower image index first
    assert got[0] == Mistake(2, 1, 3, 0.9, "dog", "owl")
    assert [x.index for x in m.mistakes(2)] == [2, 6]
    assert m.mistakes(0) == []
    assert m.images == 6 and m.unknown_images == 1
    assert m.top1 == pytest.approx(1 / 6)
    np.testing.assert_array_equal(m.confusion, [[0, 2, 1], [1, 1, 1]])


def test_most_confused_by_model_label() -> None:
    labels = ["cat", "dog", "lynx"]
    true = np.array([0, 0, 0, 0, 1, 1, 1, -1, -1])
    top1 = np.array([2, 2, 2, 1, 0, 0, 1, 2, 2])
    m = compute_metrics(true, top1[:, None], np.full(9, 0.5), labels, [0, 1])
    assert m.most_confused(5) == [
        ConfusedPair(0, 2, 3, "cat", "lynx"),
        ConfusedPair(1, 0, 2, "dog", "cat"),
        ConfusedPair(0, 1, 1, "cat", "dog"),
    ]
    assert m.most_confused(1) == [ConfusedPair(0, 2, 3, "cat", "lynx")]


@pytest.mark.parametrize("seed", SEEDS)
def test_most_confused_matches_counter(seed: int) -> None:
    case = make_case(seed, n_labels=30, n_classes=20, n=300)
    m = metrics_of(case)
    known = case.true >= 0
    pairs = Counter((int(t), int(p)) for t, p in zip(case.true[known], case.ranked[known, 0], strict=True) if t != p)
    got = m.most_confused(1000)
    assert {(c.true, c.predicted): c.count for c in got} == pairs
    counts = [c.count for c in got]
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_to_json_is_strict_json(seed: int) -> None:
    m = metrics_of(make_case(seed))
    data = json.loads(json.dumps(m.to_json(mistakes=3, confused=4), allow_nan=False))
    assert set(data) == {
        "images", "unknown_images", "top1", "top5", "topk", "macro", "classes", "confusion", "mistakes",
        "most_confused",
    }  # fmt: skip
    assert data["topk"] == {"1": m.top1, "5": m.top5}
    assert len(data["mistakes"]) == 3 and len(data["most_confused"]) == 4
    assert data["confusion"]["matrix"] == m.confusion.tolist()
    assert data["classes"][0]["label"] == m.class_labels[0]
    assert "matrix" not in m.to_json(matrix=False)["confusion"]


def test_degenerate_inputs_give_none_not_nan() -> None:
    labels = ["a", "b"]
    all_unknown = compute_metrics(np.array([-1, -1]), np.array([[0, 1], [1, 0]]), np.array([0.7, 0.6]), labels, [])
    empty = compute_metrics(np.zeros(0, np.int64), np.zeros((0, 2), np.int64), np.zeros(0), labels, [0, 1])
    for m in (all_unknown, empty):
        data = m.to_json()
        json.dumps(data, allow_nan=False)
        assert data["top1"] is None and data["images"] == 0 and m.mistakes(5) == [] and m.most_confused(5) == []
    assert all_unknown.unknown_images == 2 and all_unknown.macro_f1 is None
    assert all_unknown.confusion.shape == (0, 1)
    assert empty.macro_precision == 0.0 and empty.confusion.shape == (2, 3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"true": np.array([0, 2, 1])}, "true: label 2 at position 1 is not one of the data set's classes"),
        ({"true": np.array([0.0, 1.0, 1.0])}, "true: expected integer"),
        ({"ranked": np.array([[0, 1], [0, 5], [1, 0]])}, r"ranked: value 5 at position 3 is outside \[0, 3\)"),
        ({"ranked": np.array([0, 1, 1])}, "ranked: expected a 2-D array"),
        ({"confidence": np.array([0.9, np.nan, 0.1])}, "confidence: non-finite value at position 1"),
        ({"confidence": np.array([0.9, 0.1])}, r"confidence: expected shape \(3,\)"),
        ({"classes": [0, 1, 1]}, "classes: a model label index appears more than once"),
        ({"labels": "abc"}, "labels: expected a sequence"),
    ],
)
def test_bad_inputs_are_named(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "true": np.array([0, 1, 1]),
        "ranked": np.array([[0, 1], [0, 1], [1, 0]]),
        "confidence": np.array([0.9, 0.8, 0.7]),
        "labels": ["cat", "dog", "cow"],
        "classes": [0, 1],
    }
    args.update(change)
    with pytest.raises(MetricsError, match=message):
        compute_metrics(**args)  # type: ignore[arg-type]
    assert issubclass(MetricsError, ValueError)


def test_agreement_matrix_and_disagreements() -> None:
    a = np.array([0, 1, 2, 3])
    b = np.array([0, 1, 0, 3])
    c = np.array([-1, 1, 2, -1])  # -1: a label with no counterpart never agrees
    got = agreement_matrix([a, b, c])
    np.testing.assert_allclose(got, [[1.0, 0.75, 0.5], [0.75, 1.0, 0.25], [0.5, 0.25, 1.0]])
    np.testing.assert_array_equal(disagreements([a, b, c]), [0, 2, 3])
    np.testing.assert_array_equal(disagreements([a, b]), [2])
    np.testing.assert_array_equal(disagreements([a, a.copy()]), np.zeros(0))
    assert disagreements([c]).size == 0
    np.testing.assert_array_equal(agreement_matrix([c]), [[1.0]])
    with pytest.raises(MetricsError, match="same images"):
        agreement_matrix([a, b[:3]])
    with pytest.raises(MetricsError, match="zero images"):
        agreement_matrix([a[:0], b[:0]])
    with pytest.raises(MetricsError, match="no models"):
        disagreements([])


def test_shared_classes_and_remap_across_label_sets() -> None:
    imagenet_like = ["tench", "crane", "cat", "crane", "dog"]
    other = ["dog", "crane", "cat", "zebra"]
    assert shared_classes([imagenet_like, other]) == ("crane", "cat", "dog")
    assert shared_classes([imagenet_like, imagenet_like]) == tuple(imagenet_like)
    assert all_classes([other, imagenet_like]) == ("dog", "crane", "cat", "zebra", "tench", "crane")
    shared = shared_classes([imagenet_like, other])
    np.testing.assert_array_equal(remap(np.array([0, 1, 2, 3, 4, -1]), imagenet_like, shared), [-1, 0, 1, -1, 2, -1])
    np.testing.assert_array_equal(remap(np.array([[0, 3], [2, 1]]), other, shared), [[2, -1], [1, 0]])
    np.testing.assert_array_equal(remap(np.arange(5), imagenet_like, imagenet_like), np.arange(5))
    # Two models compared in the shared space: they agree on "cat" and "dog", and "tench" has no counterpart.
    a = remap(np.array([2, 4, 0]), imagenet_like, shared)
    b = remap(np.array([2, 0, 3]), other, shared)
    np.testing.assert_allclose(agreement_matrix([a, b]), [[1.0, 2 / 3], [2 / 3, 1.0]])
    with pytest.raises(MetricsError, match=r"indices: value 5 at position 0 is outside \[-1, 5\)"):
        remap(np.array([5]), imagenet_like, shared)
    with pytest.raises(MetricsError, match="no label sets"):
        shared_classes([])


def test_latency_summary() -> None:
    got = latency_summary([0.04, 0.1, 0.05], [2, 10, 2])
    assert got["batches"] == 3 and got["images"] == 14
    assert got["images_per_second"] == pytest.approx(14 / 0.19)
    assert got["median_ms_per_image"] == pytest.approx(10.0)  # over images: 2 at 20 ms, 10 at 10 ms, 2 at 25 ms
    assert got["mean_ms_per_image"] == pytest.approx(190 / 14)
    assert got["min_ms_per_image"] == pytest.approx(10.0) and got["max_ms_per_image"] == pytest.approx(25.0)
    json.dumps(got, allow_nan=False)
    with pytest.raises(ValueError, match="no batches timed"):
        latency_summary([], [])
    with pytest.raises(MetricsError, match="2 batch times but 1 batch sizes"):
        latency_summary([0.1, 0.2], [4])
    with pytest.raises(MetricsError, match="finite number of seconds > 0"):
        latency_summary([0.0], [4])
    with pytest.raises(MetricsError, match="finite number of seconds > 0"):
        latency_summary([float("nan")], [4])
    with pytest.raises(MetricsError, match="integer >= 1"):
        latency_summary([0.1], [0])
