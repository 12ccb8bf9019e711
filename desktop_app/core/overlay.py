"""Draw an explanation map (H x W in [0, 1], NaN where not seen) over its image with a colormap; write it as PNG.

The colormaps are small numpy lookup tables built here ('turbo': Google's polynomial approximation of Turbo;
'jet': the classic piecewise-linear ramp), because matplotlib is not a dependency of the app and a 256-entry
table is all an overlay needs. Pixels the model did not see (NaN: cut off by the centre crop) are shown as a
faded greyscale of the photo, so "not seen" never looks like "not important".

Example::

    python -c "import numpy as np; from PIL import Image; from desktop_app.core.overlay import write_overlay; \\
im = Image.open('cat.jpg').convert('RGB'); m = np.random.rand(im.height, im.width).astype('float32'); \\
write_overlay('overlay.png', im, m, opacity=0.5)"
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.atomic import write_atomic

__all__ = ["COLORMAPS", "colormap", "render_overlay", "write_map", "write_overlay"]

COLORMAPS = ("turbo", "jet")
#: Unseen pixels: the photo's luminance pulled this far towards a mid grey.
_UNSEEN_FADE = 0.6
_UNSEEN_GREY = 128.0

# Polynomial fit of Turbo (Google AI, 2019; the coefficients of its published GLSL approximation), per channel.
_TURBO = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ]
)


def colormap(name: str = "turbo") -> np.ndarray:
    """A (256, 3) uint8 lookup table: row ``i`` is the colour of value ``i / 255``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    x = np.linspace(0.0, 1.0, 256)
    if name == "turbo":
        powers = np.stack([x**i for i in range(6)])  # (6, 256)
        rgb = (_TURBO @ powers).T
    elif name == "jet":
        rgb = np.stack([np.clip(1.5 - np.abs(4 * x - k), 0, 1) for k in (3, 2, 1)], axis=1)
    else:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(COLORMAPS)}")
    return np.round(np.clip(rgb, 0.0, 1.0) * 255).astype(np.uint8)


def render_overlay(image: Image.Image, heat: np.ndarray, *, opacity: float = 0.5, cmap: str = "turbo") -> Image.Image:
    """``image`` with ``heat`` blended over it (``opacity`` 0 = photo only, 1 = map only); NaN areas greyed.

    Raises:
        ValueError: ``heat`` is not H x W of the image, or ``opacity`` is outside [0, 1].
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity {opacity}: expected a value between 0 and 1")
    if heat.shape != (image.height, image.width):
        raise ValueError(f"map of shape {heat.shape} does not match the image's {image.height} x {image.width}")
    photo = np.asarray(image.convert("RGB"), dtype=np.float32)
    seen = ~np.isnan(heat)
    levels = np.round(np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0) * 255).astype(np.intp)
    colours = colormap(cmap)[levels].astype(np.float32)
    blended = (1.0 - opacity) * photo + opacity * colours
    grey = photo @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    faded = ((1.0 - _UNSEEN_FADE) * grey + _UNSEEN_FADE * _UNSEEN_GREY)[..., None].repeat(3, axis=2)
    out = np.where(seen[..., None], blended, faded)
    return Image.fromarray(np.round(out).astype(np.uint8), mode="RGB")


def write_overlay(
    path: str | os.PathLike[str],
    image: Image.Image,
    heat: np.ndarray,
    *,
    opacity: float = 0.5,
    cmap: str = "turbo",
) -> Path:
    """Render the overlay and write it to ``path`` as PNG, atomically (the old file or the new one, never half).

    Raises:
        ValueError: as :func:`render_overlay`.
        OSError: the file cannot be written.
    """
    target = Path(path)
    rendered = render_overlay(image, heat, opacity=opacity, cmap=cmap)
    buffer = io.BytesIO()
    rendered.save(buffer, format="PNG")
    write_atomic(target, lambda handle: handle.write(buffer.getvalue()))
    return target


def write_map(path: str | os.PathLike[str], heat: np.ndarray) -> Path:
    """Save the raw map as ``.npy`` (float32, H x W, NaN where not seen), atomically."""
    target = Path(path)
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(heat, dtype=np.float32), allow_pickle=False)
    write_atomic(target, lambda handle: handle.write(buffer.getvalue()))
    return target
