"""Tests for workbench.imageio: pixel-mode conversions, bad files, JPEG draft, file listing.

All inputs are real files written to ``tmp_path`` with Pillow (or by hand, for PNG variants
Pillow cannot write), e.g. ``pytest tests/workbench/test_imageio.py -q``.
"""

from __future__ import annotations

import math
import os
import struct
import sys
import warnings
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from workbench import imageio
from workbench.imageio import IMAGE_EXTENSIONS, ImageLoadError, iter_image_files, load_image

PHOTO_CANDIDATES = (
    Path(__file__).resolve().parents[1] / "data" / "chelsea.png",
    Path("/work/shared/data/photos/chelsea.png"),
)


# ---------------------------------------------------------------- helpers


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, rows: Iterable[bytes]) -> bytes:
    """Encode a PNG by hand; each row is raw scanline data without the filter byte."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(b"\x00" + row) for row in rows) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bilevel_png(path: Path, width: int, height: int) -> Path:
    """A valid all-black 1-bit PNG of any size that is only a few KB on disk."""
    row = bytes(math.ceil(width / 8))
    path.write_bytes(png_bytes(width, height, 1, 0, (row for _ in range(height))))
    return path


def save(img: Image.Image, path: Path, **params: object) -> Path:
    img.save(path, **params)
    return path


def noise_rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def pixel(img: Image.Image, xy: tuple[int, int] = (0, 0)) -> tuple[int, int, int]:
    value = img.getpixel(xy)
    assert isinstance(value, tuple)
    return value  # type: ignore[return-value]


def assert_close_rgb(actual: tuple[int, ...], expected: tuple[int, ...], tol: int) -> None:
    assert all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True)), (actual, expected)


def load_error(source: Path | bytes, **kwargs: int) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_image(source, **kwargs)
    err = info.value
    name = "<clipboard>" if isinstance(source, bytes) else str(source)
    assert err.path == name
    assert str(err) == f"{name}: {err.reason}"
    assert "\n" not in str(err)
    return err


# ---------------------------------------------------------------- conversions


def test_rgb_png_is_loaded_fully_and_detached(tmp_path: Path) -> None:
    src = noise_rgb(31, 17)
    path = save(src, tmp_path / "noise.png")
    img = load_image(path)
    path.unlink()  # the result must not depend on the file any more
    assert img.mode == "RGB" and img.size == (31, 17)
    assert not isinstance(img, ImageFile.ImageFile)
    assert np.array_equal(np.asarray(img), np.asarray(src))


def test_str_pathlike_and_bytes_sources(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (5, 4), (10, 20, 30)), tmp_path / "a.bmp")
    assert pixel(load_image(str(path))) == pixel(load_image(path)) == pixel(load_image(path.read_bytes()))
    assert pixel(load_image(path)) == (10, 20, 30)
    assert load_image(bytearray(path.read_bytes())).size == (5, 4)
    assert load_error(b"").reason == "empty image data (0 bytes)"
    assert "not an image" in load_error(b"hello, this is text").reason


@pytest.mark.parametrize(
    ("mode", "value", "expected"), [("L", 77, (77,) * 3), ("1", 1, (255,) * 3), ("1", 0, (0,) * 3)]
)
def test_grey_and_bilevel(tmp_path: Path, mode: str, value: int, expected: tuple[int, int, int]) -> None:
    path = save(Image.new(mode, (4, 3), value), tmp_path / f"{mode}.png")
    assert pixel(load_image(path)) == expected


def palette_image(transparent_index: int | None = None) -> Image.Image:
    img = Image.new("P", (2, 1), 0)
    img.putpalette([255, 0, 0, 0, 0, 255])
    img.putpixel((1, 0), 1)
    if transparent_index is not None:
        img.info["transparency"] = transparent_index
    return img


def test_palette_without_transparency(tmp_path: Path) -> None:
    img = load_image(save(palette_image(), tmp_path / "p.png"))
    assert pixel(img, (0, 0)) == (255, 0, 0) and pixel(img, (1, 0)) == (0, 0, 255)


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_transparent_index_becomes_white(tmp_path: Path, suffix: str) -> None:
    img = load_image(save(palette_image(transparent_index=1), tmp_path / f"p{suffix}"))
    assert pixel(img, (0, 0)) == (255, 0, 0)
    assert pixel(img, (1, 0)) == (255, 255, 255)


def test_palette_with_partial_alpha_table(tmp_path: Path) -> None:
    path = save(palette_image(), tmp_path / "p.png", transparency=b"\xff\x80")  # index 1: alpha 128
    img = load_image(path)
    assert pixel(img, (0, 0)) == (255, 0, 0)
    assert_close_rgb(pixel(img, (1, 0)), (127, 127, 255), tol=1)


@pytest.mark.parametrize(
    ("rgba", "expected"),
    [
        ((0, 0, 0, 0), (255, 255, 255)),
        ((10, 200, 30, 255), (10, 200, 30)),
        ((0, 0, 0, 128), (127, 127, 127)),
    ],
)
def test_rgba_composited_on_white(tmp_path: Path, rgba: tuple[int, ...], expected: tuple[int, int, int]) -> None:
    path = save(Image.new("RGBA", (3, 3), rgba), tmp_path / "a.png")
    assert_close_rgb(pixel(load_image(path)), expected, tol=1)


def test_la_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("LA", (2, 1), (40, 255))
    img.putpixel((1, 0), (40, 0))
    out = load_image(save(img, tmp_path / "la.png"))
    assert pixel(out, (0, 0)) == (40, 40, 40) and pixel(out, (1, 0)) == (255, 255, 255)


@pytest.mark.parametrize(("mode", "colour"), [("L", 10), ("RGB", (1, 2, 3))])
def test_transparent_colour_key_becomes_white(tmp_path: Path, mode: str, colour: object) -> None:
    img = Image.new(mode, (2, 1), colour)  # type: ignore[arg-type]
    img.putpixel((1, 0), 200 if mode == "L" else (200, 200, 200))
    out = load_image(save(img, tmp_path / "t.png", transparency=colour))
    assert pixel(out, (0, 0)) == (255, 255, 255)
    assert pixel(out, (1, 0)) == (200, 200, 200)


def test_16bit_grey_png_is_scaled_not_white(tmp_path: Path) -> None:
    values = np.array([[0, 32896, 65535, 257 * 200]], dtype=np.uint16)
    path = save(Image.fromarray(values), tmp_path / "g16.png")
    assert Image.open(path).mode == "I;16"  # the mode this test is about
    out = np.asarray(load_image(path))
    assert out[0, :, 0].tolist() == [0, 128, 255, 200]
    assert np.array_equal(out[..., 0], out[..., 2])


def test_16bit_big_endian_tiff(tmp_path: Path) -> None:
    values = np.full((3, 4), 32896, dtype=">u2")
    path = save(Image.frombytes("I;16B", (4, 3), values.tobytes()), tmp_path / "g16b.tif")
    assert Image.open(path).mode == "I;16B"
    assert pixel(load_image(path)) == (128, 128, 128)


def test_16bit_rgb_png(tmp_path: Path) -> None:
    row = np.full((3, 3), 32896, dtype=">u2").tobytes()  # 3 pixels x RGB, 16 bits each
    path = tmp_path / "rgb16.png"
    path.write_bytes(png_bytes(3, 2, 16, 2, [row, row]))
    assert pixel(load_image(path)) == (128, 128, 128)


def test_16bit_pgm_opens_as_mode_i(tmp_path: Path) -> None:
    path = tmp_path / "g16.pgm"
    path.write_bytes(b"P5 3 2 65535\n" + np.full((2, 3), 32896, dtype=">u2").tobytes())
    assert Image.open(path).mode == "I"
    assert pixel(load_image(path)) == (128, 128, 128)


def test_mode_i_outside_16bit_range_is_stretched(tmp_path: Path) -> None:
    values = np.array([[-1000, 49500, 100000]], dtype=np.int32)
    path = save(Image.fromarray(values), tmp_path / "i32.tif")
    assert Image.open(path).mode == "I"
    assert np.asarray(load_image(path))[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),
        ([0.0, 100.4, 255.0], [0, 100, 255]),
        ([-1.0, 0.0, 1.0], [0, 128, 255]),
        ([float("nan"), 0.25, 1.0], [0, 64, 255]),
    ],
)
def test_float_tiff(tmp_path: Path, values: list[float], expected: list[int]) -> None:
    path = save(Image.fromarray(np.array([values], dtype=np.float32)), tmp_path / "f.tif")
    assert Image.open(path).mode == "F"
    assert np.asarray(load_image(path))[0, :, 1].tolist() == expected


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (16, 16), (200, 100, 50)).convert("CMYK"), tmp_path / "c.jpg", quality=95)
    with Image.open(path) as raw:
        assert raw.mode == "CMYK" and "adobe" in raw.info  # Pillow writes Adobe (inverted) CMYK
    assert_close_rgb(pixel(load_image(path), (8, 8)), (200, 100, 50), tol=4)


def test_lab_tiff(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (4, 4), (200, 100, 50)).convert("LAB"), tmp_path / "lab.tif")
    assert Image.open(path).mode == "LAB"
    assert_close_rgb(pixel(load_image(path)), (200, 100, 50), tol=3)


@pytest.mark.parametrize("mode", ["HSV", "YCbCr", "CMYK", "RGBX", "LAB", "RGBa"])
def test_modes_without_a_writable_file_format(mode: str) -> None:
    """Modes the test cannot easily put in a file; exercised through the loader's converter."""
    out = imageio._to_rgb(Image.new("RGBA", (2, 2), (200, 100, 50, 255)).convert(mode), "x")
    assert out.mode == "RGB"
    assert_close_rgb(pixel(out), (200, 100, 50), tol=2)


def test_premultiplied_and_palette_alpha_modes() -> None:
    rgba_clear = Image.new("RGBA", (1, 1), (200, 100, 50, 0)).convert("RGBa")
    assert pixel(imageio._to_rgb(rgba_clear, "x")) == (255, 255, 255)
    la = Image.new("LA", (1, 1), (100, 255)).convert("La")
    assert pixel(imageio._to_rgb(la, "x")) == (100, 100, 100)
    pa = Image.new("PA", (2, 1))
    pa.putpalette([255, 0, 0, 0, 0, 255])
    pa.putpixel((0, 0), (1, 255))
    pa.putpixel((1, 0), (1, 0))
    out = imageio._to_rgb(pa, "x")
    assert pixel(out, (0, 0)) == (0, 0, 255) and pixel(out, (1, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = save(img, tmp_path / "rotated.jpg", exif=exif, quality=95)
    out = load_image(path)
    assert out.size == (20, 40)
    assert_close_rgb(pixel(out, (10, 5)), (255, 0, 0), tol=20)  # left edge is now on top
    assert_close_rgb(pixel(out, (10, 35)), (0, 0, 255), tol=20)


def test_multi_frame_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (4, 4), colour) for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert Image.open(path).n_frames == 3
    assert pixel(load_image(path)) == (255, 0, 0)


def test_multi_page_tiff_uses_first_page(tmp_path: Path) -> None:
    pages = [Image.new("L", (4, 4), 30), Image.new("L", (4, 4), 220)]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert pixel(load_image(path)) == (30, 30, 30)


# ---------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "vanished.jpg"
    assert load_error(path).reason == "file not found"
    assert load_error(tmp_path / "not_a_dir.txt" / "x.jpg").reason == "file not found"


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "album.jpg"
    folder.mkdir()
    assert load_error(folder).reason == "is a folder, not an image file"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root (or Windows) can read a chmod-000 file")
def test_unreadable_file(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (2, 2)), tmp_path / "secret.png")
    path.chmod(0)
    try:
        assert load_error(path).reason == "permission denied"
    finally:
        path.chmod(0o644)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert load_error(path).reason == "file is empty (0 bytes)"


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".gif"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    full = save(noise_rgb(120, 80), tmp_path / f"full{suffix}")
    cut = tmp_path / f"photo{suffix}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    err = load_error(cut)
    assert err.reason.startswith("truncated or corrupt image data (")


def test_png_with_bad_checksum(tmp_path: Path) -> None:
    data = bytearray(save(noise_rgb(20, 20), tmp_path / "ok.png").read_bytes())
    data[data.index(b"IDAT") + 10] ^= 0xFF
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    assert load_error(path).reason.startswith("truncated or corrupt image data (")


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes\n", encoding="utf-8")
    assert load_error(path).reason == "not an image (the file contains text)"


def test_unknown_binary(tmp_path: Path) -> None:
    path = tmp_path / "blob.png"
    path.write_bytes(b"\x00\xff\x10ZZ" * 100)
    assert load_error(path).reason == "not an image file, or an unknown image format"


def test_heic_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))  # a header, no image
    if imageio.HEIF_SUPPORT:  # pi-heif installed: real HEIC files load (tests/workbench/test_image_formats.py)
        assert load_error(path).reason.startswith("damaged HEIC/HEIF image")
    monkeypatch.setattr(imageio, "HEIF_SUPPORT", False)
    assert load_error(path).reason.startswith("HEIC/HEIF images are not supported (install pi-heif)")


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'


@pytest.mark.parametrize(("name", "content"), [("logo.svg", SVG), ("logo.png", SVG), ("logo.svg", b"<svg/>")])
def test_svg_rejected(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert load_error(path).reason == "SVG vector images are not supported; export it to PNG"
    assert "SVG" in load_error(content).reason


def test_decompression_bomb_error_zone(tmp_path: Path) -> None:
    width, height = 20000, 10000
    assert width * height > 2 * Image.MAX_IMAGE_PIXELS  # Pillow raises DecompressionBombError
    path = bilevel_png(tmp_path / "bomb.png", width, height)
    assert path.stat().st_size < 100_000
    limit_before, filters_before = Image.MAX_IMAGE_PIXELS, list(warnings.filters)
    err = load_error(path)
    assert err.reason.startswith("image too large to decode safely (")
    assert str(width * height) in err.reason and str(2 * Image.MAX_IMAGE_PIXELS) in err.reason
    assert limit_before == Image.MAX_IMAGE_PIXELS and warnings.filters == filters_before


def test_decompression_bomb_warning_zone_is_an_error(tmp_path: Path) -> None:
    width = height = 10000
    assert Image.MAX_IMAGE_PIXELS < width * height <= 2 * Image.MAX_IMAGE_PIXELS
    path = bilevel_png(tmp_path / "big.png", width, height)
    with pytest.warns(Image.DecompressionBombWarning), Image.open(path) as raw:  # plain Pillow only warns
        assert raw.size == (width, height)
    err = load_error(path)
    assert err.reason.startswith("image too large to decode safely (")
    assert str(width * height) in err.reason and str(Image.MAX_IMAGE_PIXELS) in err.reason


def test_lowered_pixel_limit_is_respected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = bilevel_png(tmp_path / "big.png", 300, 200)
    assert load_image(path).size == (300, 200)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # 60_000 px is now in the warning zone
    err = load_error(path)
    assert "60000" in err.reason and "50000" in err.reason


def test_pixel_limit_check_backs_up_the_warning_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader re-checks the size itself in case another thread reset the warning filters."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    imageio._check_dimensions((40, 25), "ok.png")
    with pytest.raises(ImageLoadError, match=r"^big\.png: image too large .*1025 pixels .*limit of 1000 pixels"):
        imageio._check_dimensions((41, 25), "big.png")
    with pytest.raises(ImageLoadError, match="no pixels"):
        imageio._check_dimensions((0, 25), "empty.png")


def test_min_side_must_be_positive(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (2, 2)), tmp_path / "a.png")
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="min_side"):
            load_image(path, min_side=bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------- reduced-size JPEG decoding


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4000x3000 JPEG: the sample photo upscaled if available, else synthetic content."""
    photo = next((p for p in PHOTO_CANDIDATES if p.is_file()), None)
    if photo is not None:
        with Image.open(photo) as src:
            img = src.convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR)
    else:
        y, x = np.mgrid[0:3000, 0:4000]
        rgb = np.stack([x * 255 // 3999, y * 255 // 2999, (x + y) % 256], axis=-1).astype(np.uint8)
        img = Image.fromarray(rgb)
    return save(img, tmp_path_factory.mktemp("draft") / "big.jpg", quality=90)


def test_jpeg_full_size_without_min_side(big_jpeg: Path) -> None:
    assert load_image(big_jpeg).size == (4000, 3000)


@pytest.mark.parametrize(("min_side", "expected"), [(224, (1000, 750)), (300, (1000, 750)), (600, (2000, 1500))])
def test_jpeg_draft_reduces_size(big_jpeg: Path, min_side: int, expected: tuple[int, int]) -> None:
    img = load_image(big_jpeg, min_side=min_side)
    assert img.mode == "RGB" and img.size == expected
    assert min(img.size) >= 2 * min_side
    assert img.size[0] * img.size[1] <= 4000 * 3000 // 4


def test_jpeg_draft_never_goes_below_twice_min_side(big_jpeg: Path) -> None:
    assert load_image(big_jpeg, min_side=1000).size == (4000, 3000)
    assert load_image(big_jpeg, min_side=751).size == (4000, 3000)  # 1/2 scale would give 1500 < 1502


def test_jpeg_draft_quality_close_to_full_decode(big_jpeg: Path) -> None:
    target = (400, 300)
    full = np.asarray(load_image(big_jpeg).resize(target, Image.Resampling.BILINEAR), dtype=np.float64)
    fast = np.asarray(load_image(big_jpeg, min_side=224).resize(target, Image.Resampling.BILINEAR), dtype=np.float64)
    assert np.abs(full - fast).mean() < 2.0


def test_min_side_does_not_shrink_other_formats(tmp_path: Path) -> None:
    path = save(Image.new("RGB", (1600, 1200)), tmp_path / "big.png")
    assert load_image(path, min_side=100).size == (1600, 1200)


# ---------------------------------------------------------------- file listing


def test_image_extensions() -> None:
    expected = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
    assert expected <= IMAGE_EXTENSIONS  # the rest come from Pillow: tests/workbench/test_image_formats.py
    assert isinstance(IMAGE_EXTENSIONS, frozenset)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_iter_image_files(tmp_path: Path) -> None:
    root = tmp_path / "album"
    names = "b.JPG a.png C.tiff notes.txt .hidden.jpg sub/z.webp sub/deeper/y.Jpeg .cache/x.jpg sub/.git/o.png noext"
    for rel in names.split():
        touch(root / rel)
    explicit_txt = touch(tmp_path / "readme.txt")
    missing = tmp_path / "gone.jpg"
    found = iter_image_files([root, explicit_txt, missing, str(root / "a.png")])
    assert found == [
        root / "a.png",
        root / "b.JPG",
        root / "C.tiff",
        root / "sub" / "deeper" / "y.Jpeg",
        root / "sub" / "z.webp",
        explicit_txt,
        missing,
    ]
    assert iter_image_files([root]) == iter_image_files([root])  # deterministic
    assert iter_image_files([]) == []


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_iter_image_files_does_not_follow_folder_symlinks(tmp_path: Path) -> None:
    touch(tmp_path / "root" / "a.jpg")
    (tmp_path / "root" / "loop").symlink_to(tmp_path / "root", target_is_directory=True)
    assert iter_image_files([tmp_path / "root"]) == [tmp_path / "root" / "a.jpg"]
