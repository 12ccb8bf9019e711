"""Do the maps point at the object? CAM and occlusion with the real default model (EfficientNet-Lite0, ImageNet).

A square composite holds the cat photo in the top-right quadrant and the espresso photo in the bottom-left one
on neutral grey, small enough that the centre crop sees all of it (top-right / bottom-left, so a swapped x and
y would move the map onto the other photo). The cat map (the likeliest of ImageNet 281-285) must have most of
its mass on the cat's quadrant, the espresso map (967) on the cup's. Deletion check: blanking (mean colour)
the top 10% of the occlusion map's pixels lowers the class probability more than blanking a random square of
the same area. Also the geometry of the mapping back onto the original image, without a model.

Run: ``pytest tests/desktop_app/test_cam_localization.py -q -n 0``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_app.core.cam import CamSession, class_activation_map, crop_box, map_to_image, open_cam_session
from desktop_app.core.catalog import ModelEntry, inspect_model
from desktop_app.core.occlusion import OcclusionCancelledError, occlusion_map
from desktop_app.core.runtime import LoadedModel, load_model
from tests.helpers import PHOTOS
from workbench.preprocess import Preprocess, preprocess_image

CATS = (281, 282, 283, 284, 285)
ESPRESSO = 967
SIDE = 512  # composite side; resize 256 + crop 224 see x, y in [32, 480)
MEAN_RGB = (124, 116, 104)  # ImageNet mean colour


@pytest.fixture(scope="module")
def default_entry(tmp_path_factory: pytest.TempPathFactory) -> ModelEntry:
    """The out-of-the-box model (``python -m exporter export --default``), exported once for this module."""
    from exporter.api import export_model

    result = export_model(
        "efficientnet_lite0", "imagenet", tmp_path_factory.mktemp("default"), progress=False, log=lambda _m: None
    )
    entry = inspect_model(result.path)
    assert entry.error is None, entry.error
    return entry


@pytest.fixture(scope="module")
def cam_session(default_entry: ModelEntry) -> CamSession:
    return open_cam_session(default_entry, "cpu")


@pytest.fixture(scope="module")
def loaded(default_entry: ModelEntry) -> LoadedModel:
    return load_model(default_entry, "cpu")


def _fit(path: Path, box: int) -> Image.Image:
    photo = Image.open(path).convert("RGB")
    photo.thumbnail((box, box), Image.Resampling.LANCZOS)
    return photo


@pytest.fixture(scope="module")
def composite() -> Image.Image:
    image = Image.new("RGB", (SIDE, SIDE), (128, 128, 128))
    cat, cup = _fit(PHOTOS["chelsea"], 200), _fit(PHOTOS["coffee"], 200)
    image.paste(cat, (SIDE - 40 - cat.width, 40 + (200 - cat.height) // 2))  # top-right quadrant
    image.paste(cup, (40, SIDE - 40 - cup.height))  # bottom-left quadrant
    return image


def _quadrant_shares(heat: np.ndarray) -> tuple[float, float]:
    """(share of the map's mass in the top-right quadrant, in the bottom-left one)."""
    values = np.nan_to_num(heat)
    half, total = SIDE // 2, float(values.sum())
    return float(values[:half, half:].sum()) / total, float(values[half:, :half].sum()) / total


def _probabilities(model: LoadedModel, image: Image.Image) -> np.ndarray:
    assert model.entry.preprocess is not None
    logits = model.run(preprocess_image(image, model.entry.preprocess)[None])[0].astype(np.float64)
    values = np.exp(logits - logits.max())
    return values / values.sum()


def _cat_class(model: LoadedModel, image: Image.Image) -> int:
    probabilities = _probabilities(model, image)
    return max(CATS, key=lambda c: float(probabilities[c]))


def test_cam_is_on_the_cat_and_on_the_cup(cam_session: CamSession, loaded: LoadedModel, composite: Image.Image) -> None:
    assert not np.isnan(class_activation_map(cam_session, composite, ESPRESSO).map[40:472, 40:472]).any()
    cat = class_activation_map(cam_session, composite, _cat_class(loaded, composite))
    on_cat, on_cup = _quadrant_shares(cat.map)
    assert on_cat > 0.5 and on_cat > 3 * on_cup, (on_cat, on_cup)
    cup = class_activation_map(cam_session, composite, ESPRESSO)
    on_cat, on_cup = _quadrant_shares(cup.map)
    assert on_cup > 0.5 and on_cup > 1.5 * on_cat, (on_cat, on_cup)
    assert cup.label == "espresso" and cup.method == "cam"


def test_occlusion_is_on_the_cat_and_on_the_cup(loaded: LoadedModel, composite: Image.Image) -> None:
    seen: list[tuple[int, int]] = []
    cat = occlusion_map(loaded, composite, _cat_class(loaded, composite), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (81, 81) and len(seen) == 6  # 9 x 9 patches in batches of 16
    on_cat, on_cup = _quadrant_shares(cat.map)
    assert on_cat > 0.5 and on_cat > 2 * on_cup, (on_cat, on_cup)
    cup = occlusion_map(loaded, composite, ESPRESSO)
    on_cat, on_cup = _quadrant_shares(cup.map)
    assert on_cup > 0.5 and on_cup > 2 * on_cat, (on_cat, on_cup)
    assert cup.method == "occlusion"


def _blank(image: Image.Image, mask: np.ndarray) -> Image.Image:
    pixels = np.asarray(image).copy()
    pixels[mask] = MEAN_RGB
    return Image.fromarray(pixels)


def _top_tenth(heat: np.ndarray) -> np.ndarray:
    seen = ~np.isnan(heat)
    count = int(0.1 * seen.sum())
    order = np.argsort(np.where(seen, heat, -1.0).ravel(), kind="stable")[::-1][:count]
    mask = np.zeros(heat.size, dtype=bool)
    mask[order] = True
    return mask.reshape(heat.shape)


def _random_squares(heat: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """Squares of 10% of the seen area at random places inside it."""
    seen = ~np.isnan(heat)
    rows, cols = np.nonzero(seen)
    side = round(float(np.sqrt(0.1 * seen.sum())))
    rng = np.random.default_rng(seed)
    masks = []
    for _ in range(count):
        top = int(rng.integers(rows.min(), rows.max() + 2 - side))
        left = int(rng.integers(cols.min(), cols.max() + 2 - side))
        mask = np.zeros_like(seen)
        mask[top : top + side, left : left + side] = True
        masks.append(mask)
    return masks


@pytest.mark.parametrize("photo", ["chelsea", "coffee"])
def test_deletion_of_the_occlusion_maps_top_tenth(photo: str, loaded: LoadedModel) -> None:
    image = Image.open(PHOTOS[photo]).convert("RGB")
    result = occlusion_map(loaded, image)
    assert result.class_index in (CATS if photo == "chelsea" else (ESPRESSO,))
    top = _probabilities(loaded, _blank(image, _top_tenth(result.map)))[result.class_index]
    randoms = [
        _probabilities(loaded, _blank(image, m))[result.class_index] for m in _random_squares(result.map, 6, seed=1)
    ]
    assert top < result.probability and top < float(np.mean(randoms)), (result.probability, top, randoms)


def test_occlusion_cancel(loaded: LoadedModel, composite: Image.Image) -> None:
    calls: list[int] = []
    with pytest.raises(OcclusionCancelledError):
        occlusion_map(
            loaded, composite, ESPRESSO, progress=lambda d, _t: calls.append(d), cancelled=lambda: bool(calls)
        )
    assert calls == [16]  # one batch ran, then the check stopped it


def test_map_geometry_on_a_wide_image() -> None:
    """A hot cell at the grid's right edge lands at the crop's right edge, in original-image coordinates."""
    p = Preprocess(resize=256, crop=(224, 224))
    left, top, right, bottom = crop_box(p, (600, 300))  # resized 512 x 256, crop at x 144..368, y 16..240
    assert (left, top, right, bottom) == pytest.approx((168.75, 18.75, 431.25, 281.25))
    grid = np.zeros((7, 7), np.float32)
    grid[3, 6] = 1.0
    heat = map_to_image(grid, p, (600, 300))
    assert heat.shape == (300, 600) and heat.dtype == np.float32
    assert np.isnan(heat[:, :168]).all() and np.isnan(heat[:, 432:]).all() and np.isnan(heat[:18]).all()
    assert not np.isnan(heat[19:281, 169:431]).any()
    row, col = np.unravel_index(np.nanargmax(heat), heat.shape)
    assert 140 <= row <= 160 and 405 <= col <= 431


def test_map_geometry_when_the_crop_pads() -> None:
    """An image smaller than the crop after resizing: all of it is seen (the padding is not in the image)."""
    p = Preprocess(resize=20, crop=(32, 32))
    heat = map_to_image(np.arange(16, dtype=np.float32).reshape(4, 4), p, (20, 20))
    assert not np.isnan(heat).any() and heat.min() >= 0.0 and heat.max() <= 1.0
    assert crop_box(p, (20, 20)) == pytest.approx((-6.0, -6.0, 26.0, 26.0))
