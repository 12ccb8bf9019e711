"""Tests for desktop_app.core.classify: real sessions, real image files (good and broken).

Run: ``pytest tests/desktop_app/test_classify.py -q``
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from desktop_app.core import classify as classify_module
from desktop_app.core.catalog import inspect_model
from desktop_app.core.classify import (
    NON_FINITE_REASON,
    NonFiniteOutputError,
    classify_images,
    classify_paths,
    finite_rows,
    predict_from_logits,
    softmax,
)
from desktop_app.core.runtime import LoadedModel, load_model
from tests.desktop_app.helpers import Photos, Zoo
from tests.desktop_app.hostile import sqrt_model
from tests.helpers import DATA
from workbench.imageio import load_image
from workbench.preprocess import preprocess_image


@pytest.fixture(scope="module")
def tiny(zoo: Zoo) -> LoadedModel:
    return load_model(inspect_model(zoo.workbench), "cpu")


def test_softmax_and_top_k() -> None:
    logits = np.array([[1.0, 3.0, 2.0, 3.0]], dtype=np.float32)
    probabilities = softmax(logits)
    assert probabilities.dtype == np.float64 and probabilities.sum() == pytest.approx(1.0)
    (prediction,) = predict_from_logits(logits, ["a", "b", "c", "d"], top_k=3)
    assert prediction.indices == (1, 3, 2)  # ties keep the lower index first
    assert prediction.labels == ("b", "d", "c")
    assert prediction.probabilities[0] == pytest.approx(np.exp(3) / np.exp([1, 3, 2, 3]).sum())
    assert len(predict_from_logits(logits, "abcd", top_k=10)[0].indices) == 4
    with pytest.raises(ValueError, match="top_k"):
        predict_from_logits(logits, "abcd", top_k=0)


def test_classify_images_matches_torch(tiny: LoadedModel, zoo: Zoo, photos: Photos) -> None:
    images = [load_image(p) for p in photos.good]
    predictions = classify_images(tiny, images, top_k=5)
    assert len(predictions) == len(images)
    batch = np.stack([preprocess_image(img, tiny.entry.preprocess) for img in images])
    with torch.no_grad():
        expected = zoo.net(torch.from_numpy(batch)).numpy()
    for prediction, row in zip(predictions, expected, strict=True):
        assert prediction.indices == tuple(int(i) for i in np.argsort(-row, kind="stable")[:5])
        assert prediction.labels[0] == tiny.entry.labels[prediction.indices[0]]
        assert list(prediction.probabilities) == sorted(prediction.probabilities, reverse=True)


def test_batching_equals_one_by_one(tiny: LoadedModel, photos: Photos) -> None:
    images = [load_image(p) for p in photos.good] * 2
    together = classify_images(tiny, images, top_k=5, batch_size=8)
    alone = [classify_images(tiny, [img], top_k=5)[0] for img in images]
    for a, b in zip(together, alone, strict=True):
        assert a.indices == b.indices
        np.testing.assert_allclose(a.probabilities, b.probabilities, rtol=1e-5, atol=1e-6)


def test_paths_bad_files_get_errors_and_the_rest_classify(tiny: LoadedModel, photos: Photos) -> None:
    paths = [photos.good[0], *photos.bad, photos.missing, *photos.good[1:]]
    results = list(classify_paths(tiny, paths, top_k=3, batch_size=2))
    assert [r.path for r in results] == paths
    by_name = {r.path.name: r for r in results}
    for path in photos.good:
        result = by_name[path.name]
        assert result.ok and result.prediction is not None and len(result.prediction.indices) == 3
    for path in (*photos.bad, photos.missing):
        result = by_name[path.name]
        assert not result.ok and result.prediction is None
        assert str(path) in result.error and "\n" not in result.error
    assert "empty" in by_name["e-empty.jpg"].error
    assert "truncated" in by_name["f-truncated.jpg"].error
    assert "text" in by_name["g-text.jpg"].error
    assert "SVG" in by_name["h-vector.svg"].error
    assert "not found" in by_name["z-missing.jpg"].error


def test_paths_agree_with_images(tiny: LoadedModel, photos: Photos) -> None:
    from_paths = [r.prediction for r in classify_paths(tiny, photos.good, top_k=5)]
    preprocess = tiny.entry.preprocess
    from_images = classify_images(tiny, [load_image(p, min_side=preprocess.resize) for p in photos.good])
    assert [p.indices for p in from_paths] == [p.indices for p in from_images]


@pytest.mark.parametrize("which", ["nchw_fixed1", "nhwc_dynamic", "seven"])
def test_foreign_models_classify(zoo: Zoo, photos: Photos, which: str) -> None:
    model = load_model(inspect_model(getattr(zoo, which)), "cpu")
    results = list(classify_paths(model, photos.good, top_k=5, batch_size=3))
    assert all(r.ok for r in results)
    labels = {r.prediction.labels[0] for r in results}
    assert labels <= set(model.entry.labels)
    resize = model.entry.preprocess.resize
    one_by_one = [classify_images(model, [load_image(p, min_side=resize)])[0] for p in photos.good]
    assert [r.prediction.indices for r in results] == [p.indices for p in one_by_one]


def test_first_result_does_not_wait_for_the_rest(
    tiny: LoadedModel, photos: Photos, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every file after the first is held back until the first result is out: no timing involved.

    If ``classify_paths`` waited for more than the first file before yielding, the held-back
    decodes would only be let go by the timeout, which the test then reports.
    """
    first_result_out = threading.Event()
    held_back_timed_out: list[Path] = []
    decode = classify_module._decode

    def gated_decode(path: Path, preprocess: Any, decoded: Any) -> tuple[np.ndarray, object]:
        if path != paths[0] and not first_result_out.wait(timeout=20):
            held_back_timed_out.append(path)
        return decode(path, preprocess, decoded)

    monkeypatch.setattr(classify_module, "_decode", gated_decode)
    paths = [tmp_path / f"copy{i}.png" for i in range(30)]
    for path in paths:
        path.write_bytes(photos.good[0].read_bytes())
    iterator = classify_paths(tiny, paths, top_k=1)
    first = next(iterator)
    first_result_out.set()
    rest = list(iterator)
    assert not held_back_timed_out, "the first result waited for the files after it"
    assert first.ok and first.path == paths[0] and len(rest) == len(paths) - 1 and all(r.ok for r in rest)


def test_early_close_stops_cleanly(tiny: LoadedModel, photos: Photos) -> None:
    iterator = classify_paths(tiny, list(photos.good) * 20)
    assert next(iterator).ok
    iterator.close()


def test_parity_with_the_exporters_pytorch_verification(resnet18_export: Any) -> None:
    """Same photos, same file: our top-5 equals the PyTorch top-5 the exporter recorded when verifying."""
    from exporter.verify import photo_paths

    model = load_model(inspect_model(resnet18_export.path), "cpu")
    assert model.golden is not None and model.golden.passed, model.golden
    results = list(classify_paths(model, photo_paths(), top_k=5))
    assert tuple(r.prediction.indices for r in results) == resnet18_export.verification.photo_top5


def test_twelve_megapixel_jpeg_is_decoded_at_reduced_size(
    resnet18_64: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4000x3000 JPEG reaches preprocessing at 1/8 scale (draft), not at 12 megapixels."""
    big = tmp_path / "big.jpg"
    Image.open(DATA / "chelsea.png").convert("RGB").resize((4000, 3000)).save(big, quality=90)
    model = load_model(inspect_model(resnet18_64), "cpu")
    seen_sizes: list[tuple[int, int]] = []
    preprocess = classify_module.preprocess_image

    def recording_preprocess(image: Image.Image, spec: Any) -> np.ndarray:
        seen_sizes.append(image.size)
        return preprocess(image, spec)

    monkeypatch.setattr(classify_module, "preprocess_image", recording_preprocess)
    (result,) = classify_paths(model, [big])
    assert result.ok, result.error
    resize = model.entry.preprocess.resize
    assert seen_sizes == [(500, 375)] and min(seen_sizes[0]) >= 2 * resize


def test_non_finite_logits_raise_and_name_the_rows() -> None:
    logits = np.array([[1.0, 2.0], [np.nan, 0.0], [np.inf, 1.0]], dtype=np.float32)
    with pytest.raises(NonFiniteOutputError, match=r"non-finite output .* \(batch rows 1, 2\)"):
        predict_from_logits(logits, "ab")
    assert issubclass(NonFiniteOutputError, ValueError)  # the window's ORT_ERRORS catch it as "inference failed"
    assert list(finite_rows(logits)) == [True, False, False]


def test_nan_for_one_image_leaves_its_batch_mates(tmp_path: Path) -> None:
    model = load_model(inspect_model(sqrt_model(tmp_path / "sqrt.onnx")), "cpu")
    paths = []
    for name, colour in (("white", "white"), ("black", "black"), ("white2", "white")):
        paths.append(tmp_path / f"{name}.png")
        Image.new("RGB", (40, 30), colour).save(paths[-1])
    results = list(classify_paths(model, paths, top_k=3, batch_size=8))
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error == f"{paths[1]}: {NON_FINITE_REASON}"
    assert results[0].prediction == results[2].prediction
    assert all(np.isfinite(results[0].prediction.probabilities))
    with pytest.raises(NonFiniteOutputError):
        classify_images(model, [Image.open(paths[1])])


def test_decoded_hook_runs_on_each_decoded_image_and_its_result_travels_with_the_file(
    tiny: LoadedModel, photos: Photos
) -> None:
    """What the window makes of each decoded image (its thumbnails) comes back as ``FileResult.extra``."""
    files = [*photos.good, photos.missing]
    results = list(classify_paths(tiny, files, top_k=1, decoded=lambda path, image: (path, image.size)))
    assert [r.path for r in results] == files
    for result, path in zip(results[:-1], photos.good, strict=True):
        assert result.ok and result.extra == (path, load_image(path, min_side=tiny.entry.preprocess.resize).size)
    assert not results[-1].ok and results[-1].extra is None  # never decoded
