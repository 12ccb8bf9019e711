"""compare_on_image: several real ONNX models on one image, their top-k, latency and differences from the first.

The models are the colour model of ``tests/desktop_app/evaluate_helpers.py`` with different weights (a red
image is "red" to the identity model and "green" to the swapped one, on purpose), one with another label
set, one that gives NaN and one whose inference fails.

Example::

    python -m pytest tests/desktop_app/test_compare_image.py -q
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_app.core.catalog import inspect_model
from desktop_app.core.classify import NON_FINITE_REASON, classify_images
from desktop_app.core.compare_image import (
    ComparisonCancelled,
    ModelFailure,
    compare_on_image,
    label_key,
)
from desktop_app.core.runtime import LoadedModel, load_model
from tests.desktop_app.evaluate_helpers import RGB, colour_model

FOUR_LABELS = ("Red", "green", "blue", "cyan")  # "Red" is the reference's "red"; "cyan" it lacks
SWAPPED = np.eye(3, dtype=np.float32)[[1, 0, 2]] * 4  # red <-> green: wrong on purpose


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, LoadedModel]:
    folder = tmp_path_factory.mktemp("compare_models")
    nan = np.full((3, 3), np.nan, dtype=np.float32)
    files = {
        "good": colour_model(folder / "good.onnx"),
        "swapped": colour_model(folder / "swapped.onnx", SWAPPED),
        "four": colour_model(
            folder / "four.onnx", np.eye(3, 4, dtype=np.float32) * 4, ("Red", "green", "blue", "cyan")
        ),
        "nan": colour_model(folder / "nan.onnx", nan),
    }
    return {name: load_model(inspect_model(path), "cpu") for name, path in files.items()}


@pytest.fixture(scope="module")
def red() -> Image.Image:
    return Image.new("RGB", (24, 24), RGB["red"])


def test_each_column_has_the_top_k_of_classify_images_its_latency_and_what_ran_it(models, red) -> None:
    comparison = compare_on_image([models["good"], models["swapped"]], red, runs=3)
    assert comparison.reference == 0 and comparison.runs == 3
    assert "median of 3 runs of batch 1" in comparison.notes[0] and "preprocessing excluded" in comparison.notes[0]
    for column, model in zip(comparison.columns, (models["good"], models["swapped"]), strict=True):
        (expected,) = classify_images(model, [red], top_k=3)
        assert [r.label for r in column.top] == list(expected.labels)
        assert [r.probability for r in column.top] == pytest.approx(expected.probabilities, abs=1e-12)
        assert [r.rank for r in column.top] == [1, 2, 3]
        assert column.provider == "CPUExecutionProvider" and column.ran_on == "ONNX Runtime CPU, fp32"
        what = (column.engine, column.device, column.precision, column.fallback_reason)
        assert what == ("onnxruntime", "CPU", "fp32", None)
        assert column.latency_ms is not None and 0 < column.latency_ms < 1000
        assert column.ok and column.name == model.entry.name and column.path == model.entry.path


def test_a_top_1_that_differs_and_the_rank_and_probability_changes_are_marked(models, red) -> None:
    comparison = compare_on_image([models["good"], models["swapped"]], red, runs=1)
    reference, swapped = comparison.columns
    assert reference.is_reference and not reference.top1_differs
    assert reference.top[0].label == "red" and swapped.top[0].label == "green"
    assert swapped.top1_differs and comparison.differing == (swapped.name,)
    assert swapped.new_labels == ()  # three classes: both top-3 lists hold them all
    by_label = {r.label: r for r in swapped.top}
    assert (by_label["green"].reference_rank, by_label["green"].rank_change) == (3, 2)
    assert (by_label["blue"].reference_rank, by_label["blue"].rank_change) == (2, 0)
    assert (by_label["red"].reference_rank, by_label["red"].rank_change) == (1, -2)
    ref_p = {r.label: r.probability for r in reference.top}
    for row in swapped.top:
        assert row.probability_change == pytest.approx(row.probability - ref_p[row.label], abs=1e-12)
    red_change = by_label["red"].probability_change
    assert red_change is not None and red_change < -0.9  # the reference is sure it is red


def test_top_k_cuts_the_rows_and_labels_outside_the_reference_top_k_are_new(models, red) -> None:
    comparison = compare_on_image([models["good"], models["swapped"]], red, top_k=1, runs=1)
    reference, swapped = comparison.columns
    assert [r.label for r in reference.top] == ["red"] and [r.label for r in swapped.top] == ["green"]
    assert swapped.new_labels == ("green",) and swapped.top[0].rank_change is None
    # the reference's whole softmax still gives the probability change of a label outside its top-k
    assert swapped.top[0].probability_change is not None and swapped.top[0].probability_change > 0.9


def test_models_with_other_labels_are_compared_by_label_name_and_a_note_says_so(models, red) -> None:
    comparison = compare_on_image([models["good"], models["four"]], red, runs=1)
    four = comparison.columns[1]
    assert four.labels_differ and not comparison.columns[0].labels_differ
    assert [r.label for r in four.top] == ["Red", "cyan", "blue", "green"]
    assert not four.top1_differs  # "Red" is "red"
    assert four.new_labels == ("cyan",)
    assert four.top[0].reference_rank == 1 and four.top[1].probability_change is None
    (note,) = [n for n in comparison.notes if "label" in n]
    assert four.name in note and "3 of its 4 shared" in note and "compared by label name" in note
    assert label_key("Tiger_Cat") == label_key("tiger-cat") == label_key(" tiger  cat ") == "tiger cat"


def test_a_model_that_fails_gets_its_error_and_the_others_still_compare(models, red, tmp_path: Path) -> None:
    good = models["good"]
    broken_entry = replace(good.entry, input_name="no-such-input", name="broken")
    broken = replace(good, entry=broken_entry)
    unloaded = ModelFailure("unloadable", tmp_path / "gone.onnx", "gone.onnx: cannot read file (No such file)")
    comparison = compare_on_image([good, broken, models["nan"], unloaded, models["swapped"]], red, runs=1)
    columns = comparison.columns
    assert [c.ok for c in columns] == [True, False, False, False, True]
    assert columns[1].error is not None and columns[1].error.startswith("inference failed (")
    assert "no-such-input" in columns[1].error
    assert columns[2].error == NON_FINITE_REASON
    assert columns[3].error == unloaded.error and columns[3].name == "unloadable" and columns[3].top == ()
    assert columns[4].top1_differs and comparison.differing == (columns[4].name,)


def test_when_the_first_model_fails_the_next_one_is_the_reference_and_a_note_says_so(models, red) -> None:
    first = ModelFailure("first", Path("first.onnx"), "did not load")
    comparison = compare_on_image([first, models["swapped"], models["good"]], red, runs=1)
    assert comparison.reference == 1 and comparison.columns[1].is_reference
    assert comparison.columns[2].top1_differs  # "red" against the swapped reference's "green"
    assert any("first did not run: the reference is" in note for note in comparison.notes)
    nothing = compare_on_image([first], red)
    assert nothing.reference is None and nothing.notes == ("no model could run on this image",)


def test_progress_is_reported_per_model_and_should_stop_cancels(models, red) -> None:
    seen: list[tuple[int, int]] = []
    compare_on_image([models["good"], models["swapped"]], red, runs=1, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]
    with pytest.raises(ComparisonCancelled):
        compare_on_image([models["good"], models["swapped"]], red, should_stop=lambda: True)
    calls = iter([False, True])
    with pytest.raises(ComparisonCancelled, match="after 1 of 2"):
        compare_on_image([models["good"], models["swapped"]], red, runs=1, should_stop=lambda: next(calls))


@pytest.mark.parametrize(("top_k", "runs"), [(0, 5), (5, 0)])
def test_bad_top_k_or_runs_is_a_clear_error(models, red, top_k: int, runs: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        compare_on_image([models["good"]], red, top_k=top_k, runs=runs)


def test_openvino_columns_say_what_ran_them_and_a_fallback_or_failure_is_said(models, red) -> None:
    pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino)")
    from desktop_app.core.openvino_engine import load_openvino

    good = models["good"]
    on_openvino = load_openvino(good.entry, "CPU")
    broken = replace(on_openvino, entry=replace(good.entry, input_name="no-such-input", name="broken"))
    fell_back = replace(
        models["swapped"], fallback_reason="swapped.onnx: OpenVINO refused it; running on ONNX Runtime CPU"
    )
    comparison = compare_on_image([on_openvino, good, broken, fell_back], red, runs=2)
    ov, ort, failed, fallback = comparison.columns
    assert (ov.engine, ov.device, ov.ran_on, ov.provider) == ("openvino", "CPU", "OpenVINO CPU, fp32", "OpenVINO CPU")
    assert ort.ran_on == "ONNX Runtime CPU, fp32" and not ort.top1_differs  # the same answer on both engines
    assert [r.label for r in ov.top] == [r.label for r in ort.top] == ["red", "blue", "green"]
    assert [r.probability for r in ov.top] == pytest.approx([r.probability for r in ort.top], abs=1e-5)
    assert ov.latency_ms is not None and ov.latency_ms > 0
    assert failed.error is not None and "OpenVINO failed to run" in failed.error and failed.top == ()
    assert fallback.ok and fallback.fallback_reason == fell_back.fallback_reason and fallback.engine == "onnxruntime"
    assert f"{fallback.name}: {fell_back.fallback_reason}" in comparison.notes
