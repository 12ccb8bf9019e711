"""Evaluating models on labelled images (``desktop_app.core.evaluate``): per-image results, metrics, comparison.

The colour model of ``evaluate_helpers`` answers red/green/blue by the image's colour, so every figure
here is known by hand.

Run: ``pytest tests/desktop_app/test_evaluate.py -q``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix  # type: ignore[import-untyped]

from desktop_app.core.catalog import inspect_model
from desktop_app.core.evaluate import EvaluationCancelled, compare, evaluate_model, file_sha256, rank_of
from desktop_app.core.labelled import read_labelled
from desktop_app.core.runtime import LoadedModel, load_model
from tests.desktop_app.evaluate_helpers import COLOURS, colour_model, image_folder, write_image

COUNTS = {"red": {"red": 3}, "green": {"green": 2, "blue": 1}, "Blue": {"blue": 2}, "purple": {"red": 1}}


def _load(path: Path) -> LoadedModel:
    entry = inspect_model(path)
    assert entry.usable, entry.error
    return load_model(entry, "cpu")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return image_folder(tmp_path / "data", COUNTS)


def test_figures_are_the_ones_counted_by_hand(tmp_path: Path, data: Path) -> None:
    model = _load(colour_model(tmp_path / "colour.onnx"))
    labelled = read_labelled(data)
    seen: list[tuple[int, int]] = []
    result = evaluate_model(model, labelled, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 9) for i in range(1, 10)]
    assert result.match.unknown == ("purple",)
    assert result.metrics.images == 8 and result.metrics.unknown_images == 1
    assert result.metrics.top1 == pytest.approx(7 / 8)  # the blue image in green/ is the one mistake
    assert result.metrics.top5 is None  # three labels only
    assert set(result.true_rank.tolist()) == {0, 1, 2}  # purple: 0 (unknown), the mistake: rank 2 or 3
    assert result.failures == ()
    assert result.sha256 == file_sha256(tmp_path / "colour.onnx")
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.images_per_second is not None and result.images_per_second > 0


def test_confusion_matrix_equals_scikit_learn_on_the_same_predictions(tmp_path: Path, data: Path) -> None:
    model = _load(colour_model(tmp_path / "colour.onnx"))
    labelled = read_labelled(data)
    result = evaluate_model(model, labelled)
    known = result.true >= 0
    classes = list(result.metrics.classes)
    predicted = np.where(np.isin(result.top1, classes), result.top1, -1)[known]
    expected = confusion_matrix(result.true[known], predicted, labels=[*classes, -1])[: len(classes)]
    assert result.metrics.confusion.tolist() == expected.tolist()


def test_a_broken_image_is_counted_and_named_and_the_rest_go_on(tmp_path: Path, data: Path) -> None:
    (data / "red" / "broken.png").write_bytes(b"this is not a png")
    result = evaluate_model(_load(colour_model(tmp_path / "colour.onnx")), read_labelled(data))
    assert len(result.failures) == 1
    item, reason = result.failures[0]
    assert "broken.png" in reason and read_labelled(data).items[item].path.name == "broken.png"
    assert result.metrics.images == 8


def test_should_stop_cancels_between_images(tmp_path: Path, data: Path) -> None:
    seen: list[int] = []
    with pytest.raises(EvaluationCancelled, match="cancelled after 3 of 9"):
        evaluate_model(
            _load(colour_model(tmp_path / "colour.onnx")),
            read_labelled(data),
            progress=lambda done, _total: seen.append(done),
            should_stop=lambda: len(seen) >= 3,
        )


def test_a_mapping_file_names_the_model_label_of_a_class(tmp_path: Path, data: Path) -> None:
    result = evaluate_model(
        _load(colour_model(tmp_path / "colour.onnx")), read_labelled(data), mapping={"purple": "red"}
    )
    assert result.match.unknown == () and result.match.how["purple"] == "mapping"
    assert result.metrics.images == 9 and result.metrics.top1 == pytest.approx(8 / 9)


def test_two_models_agree_where_their_answers_match(tmp_path: Path, data: Path) -> None:
    swapped = np.eye(3, dtype=np.float32)[[1, 0, 2]] * 4  # red <-> green
    good = evaluate_model(_load(colour_model(tmp_path / "good.onnx")), read_labelled(data))
    bad = evaluate_model(_load(colour_model(tmp_path / "bad.onnx", swapped)), read_labelled(data))
    comparison = compare([good, bad])
    assert comparison.note is None and len(comparison.items) == 9
    blue_images = 3  # blue answers agree: 1 in green/, 2 in Blue/
    assert comparison.agreement[0, 1] == pytest.approx(blue_images / 9)
    assert np.diag(comparison.agreement).tolist() == [1.0, 1.0]
    assert len(comparison.disagree) == 9 - blue_images


def test_different_label_sets_are_compared_on_the_shared_classes(tmp_path: Path, data: Path) -> None:
    extra = (*COLOURS, "grey")
    four = colour_model(tmp_path / "four.onnx", np.eye(3, 4, dtype=np.float32) * 4, labels=extra)
    write_image(data / "red" / "x.png", "red")
    a = evaluate_model(_load(colour_model(tmp_path / "three.onnx")), read_labelled(data))
    b = evaluate_model(_load(four), read_labelled(data))
    comparison = compare([a, b])
    assert comparison.classes == COLOURS
    assert comparison.note is not None and "3 classes they share" in comparison.note
    assert comparison.agreement[0, 1] == pytest.approx(1.0)


def test_rank_of_is_the_position_in_classifys_stable_order() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 4, 12).astype(np.float64)  # many ties
        order = np.argsort(-scores, kind="stable").tolist()
        index = int(rng.integers(0, 12))
        assert rank_of(scores, index) == order.index(index) + 1
    assert rank_of(np.array([0.5, 0.5]), -1) == 0
