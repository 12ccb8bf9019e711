"""Regenerate the photo fixtures of the training tests from public-domain / CC0 photos.

``tests/data/photos_extra/`` gets two public-domain photos from scikit-image's sample data (astronaut:
NASA; rocket: SpaceX), resized. ``tests/data/voc_mini/JPEGImages/`` gets crops, flips and collages of
``tests/data/chelsea.png`` (CC0), ``tests/data/coffee.png`` (CC0) and the astronaut photo; the XML
annotations next to them are hand-written and not touched by this script. Needs scikit-image installed.

Example::

    python -m tests.exporter.train.make_fixtures
"""

from __future__ import annotations

from pathlib import Path

import skimage
from PIL import Image, ImageOps

from tests.helpers import DATA

SKIMAGE = Path(skimage.__file__).parent / "data"


def main() -> None:
    extra = DATA / "photos_extra"
    astronaut = Image.open(SKIMAGE / "astronaut.png").convert("RGB")
    astronaut.resize((320, 320), Image.Resampling.LANCZOS).save(extra / "astronaut.jpg", quality=88)
    rocket = Image.open(SKIMAGE / "rocket.jpg").convert("RGB")
    rocket.resize((360, 240), Image.Resampling.LANCZOS).save(extra / "rocket.jpg", quality=88)
    chelsea = Image.open(DATA / "chelsea.png").convert("RGB")
    coffee = Image.open(DATA / "coffee.png").convert("RGB")
    astro = astronaut.resize((256, 256), Image.Resampling.LANCZOS)
    images = {
        "2012_000001": chelsea.resize((300, 200)),
        "2012_000002": astro,
        "2012_000003": ImageOps.mirror(chelsea.resize((300, 200))),
        "2012_000004": astronaut.crop((0, 0, 320, 320)).resize((256, 256)).crop((0, 0, 200, 256)),
        "2012_000005": _collage((400, 256), [(astro, (0, 0)), (chelsea.resize((144, 96)), (256, 160))]),
        "2012_000006": _collage((400, 256), [(astro, (144, 0)), (chelsea.resize((144, 96)), (0, 0))]),
        "2012_000007": _collage(
            (300, 200), [(coffee.resize((300, 200)), (0, 0)), (chelsea.resize((60, 40)), (230, 150))]
        ),
        "2012_000008": chelsea.crop((60, 0, 420, 300)).resize((240, 200)),
        "2012_000009": ImageOps.mirror(astro),
        "2012_000010": chelsea.crop((0, 30, 360, 300)).resize((240, 180)),
        "2012_000011": astro.crop((0, 0, 256, 200)),
    }
    for name, image in images.items():
        image.save(DATA / "voc_mini" / "JPEGImages" / f"{name}.jpg", quality=85)


def _collage(size: tuple[int, int], parts: list[tuple[Image.Image, tuple[int, int]]]) -> Image.Image:
    canvas = Image.new("RGB", size, (128, 128, 128))
    for image, at in parts:
        canvas.paste(image, at)
    return canvas


if __name__ == "__main__":
    main()
