"""IMAGE_EXTENSIONS comes from the installed Pillow: every listed suffix opens, AVIF and HEIC included.

Real files written by Pillow into ``tmp_path``, e.g. ``pytest tests/workbench/test_image_formats.py -q``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from workbench.heif import HEIF_SUPPORT
from workbench.imageio import IMAGE_EXTENSIONS, ImageLoadError, find_image_files, load_image

AVIF = features.check("avif")


def _photo_like(size: tuple[int, int] = (48, 32)) -> Image.Image:
    """A smooth gradient (lossy codecs keep it close), red growing left to right."""
    x = np.linspace(0, 255, size[0], dtype=np.float64)[None, :].repeat(size[1], axis=0)
    rgb = np.stack([x, np.full_like(x, 90.0), 255.0 - x], axis=-1)
    return Image.fromarray(rgb.round().astype(np.uint8))


def test_every_listed_suffix_belongs_to_a_format_pillow_opens() -> None:
    registered = Image.registered_extensions()
    for suffix in IMAGE_EXTENSIONS:
        assert suffix == suffix.lower() and suffix.startswith(".")
        assert registered[suffix] in Image.OPEN, suffix


def test_refused_and_undecodable_formats_are_left_out() -> None:
    # SVG is refused by load_image; EPS needs Ghostscript; MPEG is video; HDF5/GRIB/BUFR/WMF are stubs.
    for suffix in (".svg", ".svgz", ".eps", ".ps", ".mpg", ".mpeg", ".h5", ".grib", ".bufr", ".wmf", ".pdf", ".txt"):
        assert suffix not in IMAGE_EXTENSIONS, suffix


@pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning:PIL")  # IM: removed in Pillow 15
def test_formats_pillow_writes_load_back_and_are_found_in_folders(tmp_path: Path) -> None:
    saved = []
    for suffix in sorted(IMAGE_EXTENSIONS):
        image_format = Image.registered_extensions()[suffix]
        if image_format not in Image.SAVE or image_format in {"AVIF"}:
            continue  # read-only formats; AVIF has its own test below
        path = tmp_path / f"img{suffix}"
        try:
            _photo_like((16, 16)).save(path)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # e.g. a mode the writer refuses (XBM is 1-bit): not what is tested here
            continue
        saved.append(path)
        assert load_image(path).mode == "RGB", path.name  # (ICNS and ICO write several sizes)
    assert len(saved) >= 15  # jpg, png, bmp, gif, tiff, webp, ppm, jp2, qoi, tga, ico, pcx, sgi, ...
    assert set(find_image_files([tmp_path]).files) == set(saved)


@pytest.mark.skipif(not AVIF, reason="the installed Pillow was built without AVIF (PIL.features.check('avif'))")
def test_avif_is_picked_up_in_folders_and_decodes(tmp_path: Path) -> None:
    assert ".avif" in IMAGE_EXTENSIONS
    original = _photo_like()
    (tmp_path / "trip").mkdir()
    path = tmp_path / "trip" / "IMG_0420.AVIF"  # phones write upper case
    original.save(path, format="AVIF", quality=90)
    (tmp_path / "trip" / "notes.txt").write_text("not an image")
    found = find_image_files([tmp_path])
    assert found.files == (path,) and not found.problems
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == original.size
    difference = np.abs(np.asarray(loaded, dtype=np.int16) - np.asarray(original, dtype=np.int16))
    assert difference.mean() < 8  # lossy, but the same picture
    assert np.asarray(loaded)[:, -1, 0].mean() > np.asarray(loaded)[:, 0, 0].mean() + 150  # red on the right


HEIC_SAMPLE = Path(__file__).resolve().parents[1] / "data" / "heif" / "gradient.heic"


@pytest.mark.skipif(not HEIF_SUPPORT, reason="pi-heif is not installed (a dependency in pyproject.toml)")
def test_heic_from_a_phone_is_listed_and_decodes(tmp_path: Path) -> None:
    assert {".heic", ".heif"} <= IMAGE_EXTENSIONS
    path = tmp_path / "DCIM" / "IMG_1234.HEIC"
    path.parent.mkdir()
    path.write_bytes(HEIC_SAMPLE.read_bytes())
    assert find_image_files([tmp_path]).files == (path,)
    loaded = load_image(path)
    assert loaded.mode == "RGB" and loaded.size == (64, 48)
    pixels = np.asarray(loaded, dtype=np.float64)
    assert pixels[:, -1, 0].mean() > pixels[:, 0, 0].mean() + 150  # the gradient: red grows to the right
    assert abs(pixels[..., 1].mean() - 90) < 12


@pytest.mark.skipif(not HEIF_SUPPORT, reason="pi-heif is not installed (a dependency in pyproject.toml)")
def test_a_damaged_heic_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.heic"
    path.write_bytes(HEIC_SAMPLE.read_bytes()[:300])
    with pytest.raises(ImageLoadError) as caught:
        load_image(path)
    assert str(caught.value).startswith(f"{path}: ") and "\n" not in str(caught.value)
