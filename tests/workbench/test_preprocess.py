"""Tests for workbench.preprocess against a torch re-implementation of torchvision's PIL path.

The reference below follows torchvision's ``Resize(int) -> CenterCrop -> ToTensor -> Normalize``
code for PIL inputs step by step (Pillow for resize/pad/crop, torch for the tensor maths), so the
core module, which must not import torch, is checked for bit-exact agreement, e.g.
``pytest tests/workbench/test_preprocess.py -q``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from workbench import preprocess as preprocess_module
from workbench.imageio import load_image
from workbench.preprocess import Preprocess, preprocess_batch, preprocess_image

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTO_CANDIDATES = (REPO_ROOT / "tests" / "data" / "chelsea.png", Path("/work/shared/data/photos/chelsea.png"))
PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}


# ---------------------------------------------------------------- torchvision reference


def tv_resize(img: Image.Image, size: int, interpolation: str) -> Image.Image:
    """torchvision.transforms.functional.resize(img, [size]) for a PIL image."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if [h, w] == [new_h, new_w]:
        return img
    return img.resize((new_w, new_h), PIL_FILTERS[interpolation])


def tv_center_crop(img: Image.Image, output_size: tuple[int, int]) -> Image.Image:
    """torchvision.transforms.functional.center_crop for a PIL image (pads with 0 when too small)."""
    image_width, image_height = img.size
    crop_height, crop_width = output_size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = ImageOps.expand(img, border=tuple(padding_ltrb), fill=(0, 0, 0))
        image_width, image_height = img.size
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = round((image_height - crop_height) / 2.0)  # torchvision: int(round(...)); round() is an int
    crop_left = round((image_width - crop_width) / 2.0)
    return img.crop((crop_left, crop_top, crop_left + crop_width, crop_top + crop_height))


def tv_reference(img: Image.Image, p: Preprocess) -> np.ndarray:
    """Resize -> CenterCrop -> ToTensor -> (value_range) -> Normalize -> channel order -> layout."""
    img = tv_center_crop(tv_resize(img, p.resize, p.interpolation), p.crop)
    t = torch.from_numpy(np.array(img, np.uint8, copy=True)).permute(2, 0, 1).contiguous().float().div(255)
    if p.value_range != (0.0, 1.0):
        low, high = p.value_range
        t = low + t * (high - low)
    mean = torch.as_tensor(p.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(p.std, dtype=torch.float32).view(-1, 1, 1)
    t = t.sub(mean).div(std)
    if p.channel_order == "BGR":
        t = t.flip(0)
    if p.layout == "NHWC":
        t = t.permute(1, 2, 0)
    return t.contiguous().numpy()


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def assert_matches_reference(img: Image.Image, p: Preprocess, exact: bool = True) -> np.ndarray:
    ours = preprocess_image(img, p)
    ref = tv_reference(img, p)
    assert ours.dtype == np.float32 and ours.flags.c_contiguous
    assert ours.shape == ref.shape == p.output_shape
    if exact:
        assert np.array_equal(ours, ref), float(np.abs(ours - ref).max())
    else:
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-5)
    return ours


# ---------------------------------------------------------------- agreement with torchvision


SIZES = {
    "landscape": (640, 480),
    "portrait": (480, 640),
    "square": (300, 300),
    "odd": (333, 517),
    "odd_landscape": (517, 333),
    "short_side_equals_resize": (256, 391),
    "smaller_than_crop": (100, 60),
    "tiny": (1, 1),
    "very_wide": (2000, 90),
}


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_matches_torchvision_default_pipeline(size: tuple[int, int], interpolation: str) -> None:
    p = Preprocess(resize=256, crop=(224, 224), interpolation=interpolation)
    assert_matches_reference(noise_image(*size), p)


@pytest.mark.parametrize(
    ("resize", "crop", "size"),
    [
        (224, (224, 224), (640, 480)),  # crop == resize
        (256, (224, 160), (640, 480)),  # non-square crop
        (200, (180, 240), (300, 300)),  # crop wider than the resized image: pads width only
        (200, (240, 180), (300, 300)),  # crop taller than the resized image: pads height only
        (50, (64, 64), (90, 70)),  # resized image (64x50) smaller than the crop: even padding
        (50, (65, 67), (90, 70)),  # odd padding in both directions: the extra pixel goes right/bottom
        (200, (181, 241), (300, 300)),  # odd padding of the width only
        (255, (223, 223), (517, 333)),  # odd margins: round() of x.5 values
        (7, (5, 3), (33, 21)),
    ],
)
def test_matches_torchvision_resize_and_crop_variants(
    resize: int, crop: tuple[int, int], size: tuple[int, int]
) -> None:
    assert_matches_reference(noise_image(*size, seed=resize), Preprocess(resize=resize, crop=crop))


# ---------------------------------------------------------------- bounded memory for any aspect ratio

STRIP_CODE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from PIL import Image
from workbench.preprocess import Preprocess, preprocess_image
for size in [(1, 100_000), (100_000, 1), (3, 50_000)]:
    img = Image.new("RGB", size, (255, 0, 51))
    for interpolation in ("nearest", "bilinear", "bicubic"):
        p = Preprocess(resize=256, crop=(224, 224), interpolation=interpolation, mean=(0, 0, 0), std=(1, 1, 1))
        x = preprocess_image(img, p)
        assert x.shape == (3, 224, 224), x.shape
        assert (x[0] == 1).all() and (x[1] == 0).all() and (x[2] == 0.2).all(), (size, interpolation)
print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS is POSIX")
def test_a_1x100000_strip_preprocesses_within_1_gb() -> None:
    """Resizing the short side of a 1x100000 strip to 256 is 19 GB in full; only the cropped part is made."""
    done = subprocess.run(
        [sys.executable, "-c", STRIP_CODE], cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(12, 900), (900, 12), (33, 2000)])
def test_the_cropped_region_resize_stays_within_a_level_of_the_full_resize(
    monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], interpolation: str
) -> None:
    photo = Image.open(PHOTO_CANDIDATES[0]).convert("RGB").resize(size, Image.Resampling.BILINEAR)
    p = Preprocess(resize=224, crop=(200, 210), interpolation=interpolation, mean=(0, 0, 0), std=(1, 1, 1))
    full = tv_reference(photo, p) * 255
    monkeypatch.setattr(preprocess_module, "MAX_RESIZED_PIXELS", 1000)  # take the region path for this image
    region = preprocess_image(photo, p) * 255
    difference = np.abs(region - full)
    assert difference.max() <= 2.0 and (difference > 0.5).mean() <= 0.01


def test_zero_padding_uses_zero_pixels_before_normalising() -> None:
    p = Preprocess(resize=10, crop=(16, 16), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = assert_matches_reference(Image.new("RGB", (10, 10), (255, 255, 255)), p)
    assert out[:, :3, :].max() == 0.0 and out[:, 3:13, 3:13].min() == 1.0 and out[:, 13:, :].max() == 0.0


def test_real_photo_matches_reference() -> None:
    photo = next((p for p in PHOTO_CANDIDATES if p.is_file()), None)
    if photo is None:
        pytest.skip("sample photo not available")
    img = load_image(photo)
    for p in (
        Preprocess(resize=256, crop=(224, 224)),
        Preprocess(resize=342, crop=(299, 299), interpolation="bicubic"),
    ):
        assert_matches_reference(img, p)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("channel_order", ["RGB", "BGR"])
def test_layout_and_channel_order(layout: str, channel_order: str) -> None:
    img = noise_image(320, 240, seed=3)
    p = Preprocess(resize=128, crop=(112, 96), channel_order=channel_order, layout=layout)
    out = assert_matches_reference(img, p)
    chw = preprocess_image(img, Preprocess(resize=128, crop=(112, 96)))
    expected = chw[::-1] if channel_order == "BGR" else chw  # mean/std are always given in RGB order
    assert np.array_equal(out, expected if layout == "NCHW" else expected.transpose(1, 2, 0))


@pytest.mark.parametrize(
    ("value_range", "mean", "std"),
    [
        ((0.0, 255.0), (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
        ((-1.0, 1.0), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        ((0.0, 1.0), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ],
)
def test_value_range(value_range: tuple[float, float], mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    img = noise_image(200, 150, seed=4)
    p = Preprocess(resize=64, crop=(64, 64), value_range=value_range, mean=mean, std=std)  # type: ignore[arg-type]
    assert_matches_reference(img, p, exact=False)


def test_value_range_0_255_keeps_integer_pixel_values() -> None:
    img = noise_image(64, 64, seed=5)
    p = Preprocess(resize=64, crop=(64, 64), value_range=(0.0, 255.0), mean=(0, 0, 0), std=(1, 1, 1))
    out = preprocess_image(img, p)
    assert np.array_equal(out, np.asarray(img, dtype=np.float32).transpose(2, 0, 1))


def test_value_range_minus_one_to_one_endpoints() -> None:
    img = Image.new("RGB", (4, 4), (0, 255, 0))
    p = Preprocess(resize=4, crop=(4, 4), value_range=(-1.0, 1.0), mean=(0, 0, 0), std=(1, 1, 1))
    out = preprocess_image(img, p)
    assert out[0].max() == -1.0 and out[1].min() == 1.0


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("channel_order", ["RGB", "BGR"])
@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)])
def test_every_level_is_computed_as_on_the_whole_image(
    layout: str, channel_order: str, value_range: tuple[float, float]
) -> None:
    """The per-level table gives exactly the float32 arithmetic done pixel by pixel, for all 256 levels."""
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    pixels = np.stack([levels, levels.T, 255 - levels], axis=-1)  # every level in every channel
    p = Preprocess(
        resize=16,
        crop=(16, 16),
        mean=(0.3, 0.5, 0.7),
        std=(0.2, 0.25, 0.4),
        value_range=value_range,
        channel_order=channel_order,
        layout=layout,
    )
    values = pixels.astype(np.float32) / np.float32(255)
    if value_range != (0.0, 1.0):
        values = np.float32(value_range[0]) + values * np.float32(value_range[1] - value_range[0])
    values = (values - np.asarray(p.mean, np.float32)) / np.asarray(p.std, np.float32)
    values = values[:, :, ::-1] if channel_order == "BGR" else values
    expected = values.transpose(2, 0, 1) if layout == "NCHW" else values
    ours = preprocess_image(Image.fromarray(pixels), p)
    assert ours.dtype == np.float32 and ours.flags.c_contiguous
    assert np.array_equal(ours, expected)


# ---------------------------------------------------------------- batch, purity, input checks


def test_batch_stacks_single_results() -> None:
    p = Preprocess(resize=64, crop=(48, 40))
    images = [noise_image(100, 80, seed=s) for s in range(3)] + [noise_image(30, 90, seed=9)]
    batch = preprocess_batch(images, p)
    assert batch.shape == (4, 3, 48, 40) and batch.dtype == np.float32 and batch.flags.c_contiguous
    for index, img in enumerate(images):
        assert np.array_equal(batch[index], preprocess_image(img, p))
    nhwc = Preprocess(resize=64, crop=(48, 40), layout="NHWC")
    assert preprocess_batch(images, nhwc).shape == (4, 48, 40, 3)
    assert preprocess_batch([], p).shape == (0, 3, 48, 40)


def test_pure_function_does_not_modify_input() -> None:
    img = noise_image(90, 70, seed=6)
    before = img.tobytes()
    p = Preprocess(resize=70, crop=(70, 70))  # short side == resize: no resize happens
    first = preprocess_image(img, p)
    second = preprocess_image(img, p)
    assert img.tobytes() == before and img.size == (90, 70)
    assert np.array_equal(first, second) and first is not second


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P"])
def test_non_rgb_input_rejected(mode: str) -> None:
    with pytest.raises(ValueError, match="RGB"):
        preprocess_image(Image.new(mode, (8, 8)), Preprocess(resize=8, crop=(8, 8)))


# ---------------------------------------------------------------- Preprocess config


def test_to_dict_round_trip_through_json() -> None:
    p = Preprocess(
        resize=342,
        crop=(299, 280),
        interpolation="bicubic",
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.5, 1.0),
        value_range=(-1.0, 1.0),
        channel_order="BGR",
        layout="NHWC",
    )
    d = p.to_dict()
    assert list(d) == [f.name for f in dataclasses.fields(Preprocess)]
    assert d["crop"] == [299, 280] and d["mean"] == [0.5, 0.5, 0.5] and d["value_range"] == [-1.0, 1.0]
    assert Preprocess.from_dict(json.loads(json.dumps(d))) == p
    assert Preprocess.from_dict(Preprocess(resize=256, crop=(224, 224)).to_dict()) == Preprocess(256, (224, 224))


def test_from_dict_defaults_and_normalisation() -> None:
    p = Preprocess.from_dict({"resize": 256, "crop": [224, 224], "mean": [0, 0, 0], "std": [1, 1, 1]})
    assert p.crop == (224, 224) and p.mean == (0.0, 0.0, 0.0) and isinstance(p.std[0], float)
    assert p.interpolation == "bilinear" and p.layout == "NCHW" and p.channel_order == "RGB"
    assert Preprocess.from_dict({"resize": 256, "crop": 224}).crop == (224, 224)
    assert hash(p) == hash(Preprocess.from_dict(p.to_dict()))


def test_frozen() -> None:
    p = Preprocess(resize=256, crop=(224, 224))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.resize = 10  # type: ignore[misc]


VALID = {"resize": 256, "crop": [224, 224]}


@pytest.mark.parametrize(
    ("field", "changes"),
    [
        ("resize", {"resize": 0}),
        ("resize", {"resize": -1}),
        ("resize", {"resize": 224.0}),
        ("resize", {"resize": "256"}),
        ("resize", {"resize": True}),
        ("crop", {"crop": [224]}),
        ("crop", {"crop": [0, 224]}),
        ("crop", {"crop": "224"}),
        ("crop", {"crop": [224, 224, 3]}),
        ("interpolation", {"interpolation": "lanczos"}),
        ("interpolation", {"interpolation": "BILINEAR"}),
        ("mean", {"mean": [0.5, 0.5]}),
        ("mean", {"mean": [0.5, "x", 0.5]}),
        ("mean", {"mean": [0.5, float("nan"), 0.5]}),
        ("std", {"std": [0.2, 0.0, 0.2]}),
        ("std", {"std": [0.2, -1.0, 0.2]}),
        ("std", {"std": 0.5}),
        ("value_range", {"value_range": [1.0, 0.0]}),
        ("value_range", {"value_range": [0.0]}),
        ("channel_order", {"channel_order": "rgb"}),
        ("layout", {"layout": "CHW"}),
        ("colour_space", {"colour_space": "sRGB"}),
        ("resize", {"resize": 100_000}),
        ("crop", {"crop": [20000, 20000]}),
        ("crop", {"crop": [224, 2049]}),
        ("std", {"std": [1e-30, 0.2, 0.2]}),
        ("std", {"std": [0.2, 0.2, 1e-6]}),
        ("std", {"std": [1e40, 0.2, 0.2]}),
        ("mean", {"mean": [1e30, 0.5, 0.5]}),
        ("mean", {"mean": [0.5, 3e5, 0.5]}),
        ("value_range", {"value_range": [0.0, 1e9]}),
        ("resize", {"resize": 10**5000}),
    ],
)
def test_from_dict_validation_names_the_field(field: str, changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: "):
        Preprocess.from_dict({**VALID, **changes})


@pytest.mark.parametrize("missing", ["resize", "crop"])
def test_from_dict_missing_required(missing: str) -> None:
    with pytest.raises(ValueError, match=rf"^{missing}: missing"):
        Preprocess.from_dict({k: v for k, v in VALID.items() if k != missing})


@pytest.mark.parametrize(
    "changes",
    [
        {"value_range": [0.0, 255.0], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},  # raw 0..255 pixels
        {"value_range": [0.0, 65535.0], "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},  # raw 16-bit range
        {"mean": [127 / 255] * 3, "std": [128 / 255] * 3},  # EfficientNet-Lite0
        {"resize": 4096, "crop": [2048, 2048]},  # the largest sizes allowed
    ],
)
def test_normalisations_in_real_use_are_accepted(changes: dict[str, object]) -> None:
    Preprocess.from_dict({**VALID, **changes})


def test_constructor_validates_too() -> None:
    with pytest.raises(ValueError, match=r"^std: "):
        Preprocess(resize=256, crop=(224, 224), std=(1.0, 0.0, 1.0))


# ---------------------------------------------------------------- dependency rule


def test_core_modules_do_not_import_torch_or_qt() -> None:
    code = (
        "import sys, workbench.preprocess, workbench.imageio; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6')); "
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
