"""The single implementation of the model-input preprocessing contract (Pillow + numpy only).

Both the desktop app and the exporter's verification call :func:`preprocess_image`, so the
same photo always yields a byte-identical input tensor.  For the default ``value_range``
the result is bit-for-bit what torchvision's PIL pipeline produces::

    Resize(resize, interpolation) -> CenterCrop(crop) -> ToTensor() -> Normalize(mean, std)

Order of operations: resize the shorter side (torchvision ``Resize(int)`` rules), centre
crop (zero-padding first when the image is smaller than the crop, like ``CenterCrop``),
``x = uint8 / 255`` in float32, map linearly to ``value_range``, ``(x - mean) / std``
per channel, then reorder channels (``mean``/``std`` are always given in R, G, B order)
and lay the array out as CHW or HWC.

Memory is bounded for any image and any valid parameters: sizes are limited (``MAX_RESIZE``,
``MAX_CROP_SIDE``), and an image so elongated that the full resize would exceed
``MAX_RESIZED_PIXELS`` (a 1x100000 strip resized to 256 would be 256x25600000, 19 GB) is resized
only in the region the centre crop keeps (Pillow's ``box``): the same geometry, values within a
level or two of the full resize, and no more pixels than the crop. Parameters whose normalisation
would blow pixel values up past ``MAX_NORMALISED`` (a near-zero ``std``, a huge ``mean``) are refused,
since they only give infinities and NaN downstream.

Example::

    from workbench.imageio import load_image
    from workbench.preprocess import Preprocess, preprocess_batch, preprocess_image

    p = Preprocess(resize=256, crop=(224, 224))
    x = preprocess_image(load_image("cat.jpg", min_side=p.resize), p)  # (3, 224, 224) float32
    batch = preprocess_batch([load_image("a.png"), load_image("b.png")], p)  # (2, 3, 224, 224)
    same = Preprocess.from_dict(p.to_dict())  # JSON round-trip, validated
"""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "INTERPOLATIONS",
    "MAX_CROP_SIDE",
    "MAX_NORMALISED",
    "MAX_PARAMETER",
    "MAX_RESIZE",
    "MAX_RESIZED_PIXELS",
    "Preprocess",
    "preprocess_batch",
    "preprocess_image",
]

#: Supported interpolation names and the Pillow filters torchvision maps them to.
INTERPOLATIONS: Mapping[str, Image.Resampling] = types.MappingProxyType(
    {
        "nearest": Image.Resampling.NEAREST,
        "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC,
    }
)
_CHANNEL_ORDERS = ("RGB", "BGR")
_LAYOUTS = ("NCHW", "NHWC")
_DEFAULT_RANGE = (0.0, 1.0)

#: Largest ``resize`` (shorter side after resizing, pixels). Real classifiers use 224..600.
MAX_RESIZE = 4096
#: Largest crop height or width, which is also the model's input height or width (one 2048x2048 input is 48 MiB).
MAX_CROP_SIDE = 2048
#: Above this many pixels a resize is done only in the region the centre crop keeps (64 Mpx, 192 MiB of RGB).
MAX_RESIZED_PIXELS = 1 << 26
#: Largest absolute value a pixel may reach after normalisation ((x - mean) / std over the value range).
MAX_NORMALISED = 1e5
#: Largest absolute value of any mean, std or value_range entry.
MAX_PARAMETER = 1e6
# Filter support of the widest interpolation offered (bicubic), in source pixels when upsampling.
_WIDEST_SUPPORT = 2.0


@dataclass(frozen=True)
class Preprocess:
    """Preprocessing parameters of one model; validated on construction (ValueError names the field)."""

    resize: int  # shorter side is resized to this many pixels (torchvision Resize(int) semantics)
    crop: tuple[int, int]  # (height, width) centre crop after resize
    interpolation: str = "bilinear"  # "nearest" | "bilinear" | "bicubic" (Pillow filters)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # R, G, B
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)  # R, G, B
    value_range: tuple[float, float] = _DEFAULT_RANGE  # uint8 0..255 maps linearly onto this first
    channel_order: str = "RGB"  # "RGB" | "BGR"
    layout: str = "NCHW"  # "NCHW" | "NHWC"

    def __post_init__(self) -> None:
        crop = (self.crop, self.crop) if _is_int(self.crop) else self.crop
        normalised: dict[str, Any] = {
            "resize": _positive_int("resize", self.resize, MAX_RESIZE),
            "crop": tuple(_positive_int("crop", v, MAX_CROP_SIDE) for v in _fixed_length("crop", crop, 2)),
            "interpolation": _choice("interpolation", self.interpolation, tuple(INTERPOLATIONS)),
            "mean": tuple(_finite("mean", v) for v in _fixed_length("mean", self.mean, 3)),
            "std": tuple(_finite("std", v) for v in _fixed_length("std", self.std, 3)),
            "value_range": tuple(_finite("value_range", v) for v in _fixed_length("value_range", self.value_range, 2)),
            "channel_order": _choice("channel_order", self.channel_order, _CHANNEL_ORDERS),
            "layout": _choice("layout", self.layout, _LAYOUTS),
        }
        if any(s <= 0 for s in normalised["std"]):
            raise ValueError(f"std: every value must be > 0, got {list(normalised['std'])}")
        low, high = normalised["value_range"]
        if not low < high:
            raise ValueError(f"value_range: expected [low, high] with low < high, got {[low, high]}")
        _check_normalisation(normalised["value_range"], normalised["mean"], normalised["std"])
        for name, value in normalised.items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly dict (lists instead of tuples) whose keys are exactly the field names."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Preprocess:
        """Build and validate from a mapping such as :meth:`to_dict` output or parsed JSON.

        Raises:
            ValueError: unknown or missing keys, or an invalid value (the message names the field).
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"preprocess: expected a mapping, got {type(d).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in d if k not in known)
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown preprocess field (known: {', '.join(known)})")
        for required in ("resize", "crop"):
            if required not in d:
                raise ValueError(f"{required}: missing required preprocess field")
        return cls(**{str(k): v for k, v in d.items()})  # type: ignore[arg-type]

    @property
    def output_shape(self) -> tuple[int, int, int]:
        """Shape of one preprocessed image: (3, H, W) for NCHW, (H, W, 3) for NHWC."""
        height, width = self.crop
        return (3, height, width) if self.layout == "NCHW" else (height, width, 3)


def preprocess_image(img: Image.Image, p: Preprocess) -> np.ndarray:
    """Turn an RGB image into a C-contiguous float32 array of shape ``p.output_shape``.

    Raises:
        ValueError: ``img`` is not mode "RGB" (load it with ``imageio.load_image``).
    """
    if img.mode != "RGB":
        raise ValueError(f"expected an RGB image, got mode {img.mode!r}; load it with imageio.load_image()")
    pixels = _resize_and_crop(img, p.resize, p.crop, INTERPOLATIONS[p.interpolation])
    table = _level_table(p.value_range, p.mean, p.std)
    order = (2, 1, 0) if p.channel_order == "BGR" else (0, 1, 2)  # output channel k comes from source order[k]
    height, width = pixels.shape[:2]
    if p.layout == "NCHW":
        out = np.empty((3, height, width), dtype=np.float32)
        for k, channel in enumerate(order):
            np.take(table[channel], pixels[:, :, channel], out=out[k])
        return out
    out = np.empty((height, width, 3), dtype=np.float32)
    for k, channel in enumerate(order):
        out[:, :, k] = np.take(table[channel], pixels[:, :, channel])
    return out


@functools.lru_cache(maxsize=32)
def _level_table(
    value_range: tuple[float, float], mean: tuple[float, float, float], std: tuple[float, float, float]
) -> np.ndarray:
    """The normalised float32 value of each of the 256 levels of each channel, shape (3, 256), read-only.

    The arithmetic is exactly what would be done on every pixel (``uint8 / 255`` in float32 like torch's
    ``.float().div(255)``, the value range, then ``(x - mean) / std``), so looking pixels up in this table
    gives bit-identical values about eight times faster than computing them on a 224x224 image.
    """
    values = np.arange(256, dtype=np.uint8).astype(np.float32)[:, None] / np.float32(255)
    if value_range != _DEFAULT_RANGE:
        low, high = value_range
        values = np.float32(low) + values * np.float32(high - low)
    values = (values - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    table = np.ascontiguousarray(values.T, dtype=np.float32)
    table.flags.writeable = False
    return table


def preprocess_batch(images: Sequence[Image.Image], p: Preprocess) -> np.ndarray:
    """Preprocess each image and stack them to shape ``(N, *p.output_shape)`` (N may be 0)."""
    batch = np.empty((len(images), *p.output_shape), dtype=np.float32)
    for index, img in enumerate(images):
        batch[index] = preprocess_image(img, p)
    return batch


def _resize_and_crop(img: Image.Image, size: int, crop: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """torchvision ``Resize(size)`` then ``CenterCrop(crop)`` as an (H, W, 3) uint8 array, in bounded memory.

    The full resize is made (bit-exact with torchvision) unless it would be larger than both the
    source and ``MAX_RESIZED_PIXELS``; then only the region the crop keeps is resized.
    """
    width, height = img.size
    new_w, new_h = resized_size(width, height, size)
    if new_w * new_h <= max(MAX_RESIZED_PIXELS, width * height):
        resized = img if (new_w, new_h) == (width, height) else img.resize((new_w, new_h), resample)
        return _center_crop(np.asarray(resized, dtype=np.uint8), crop)
    first_x, last_x, box_x0, box_x1, out_w = _kept_span(width, new_w, crop[1])
    first_y, last_y, box_y0, box_y1, out_h = _kept_span(height, new_h, crop[0])
    strip = img.crop((first_x, first_y, last_x, last_y))
    part = strip.resize((out_w, out_h), resample, box=(box_x0, box_y0, box_x1, box_y1))
    return _center_crop(np.asarray(part, dtype=np.uint8), crop)  # zero-pads an axis shorter than the crop


def resized_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) after torchvision's ``Resize(size)``: the shorter side becomes ``size``."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def _kept_span(source: int, resized: int, crop: int) -> tuple[int, int, float, float, int]:
    """On one axis: the source pixels [first, last) to cut out, the box inside them, and the output length.

    The box is the part of the source that the centre crop of the resized axis covers; an axis no
    longer than the crop is kept whole (the crop zero-pads it afterwards).
    """
    if crop >= resized:
        return 0, source, 0.0, float(source), resized
    offset = round((resized - crop) / 2.0)  # as _center_crop: Python's round, ties to even
    scale = source / resized
    low, high = offset * scale, (offset + crop) * scale
    margin = math.ceil(_WIDEST_SUPPORT * max(1.0, scale)) + 2  # the filter reads this far outside the box
    first, last = max(0, math.floor(low) - margin), min(source, math.ceil(high) + margin)
    return first, last, low - first, high - first, crop


def _center_crop(pixels: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    """torchvision ``CenterCrop`` on an (H, W, C) array, zero-padding images smaller than the crop."""
    crop_h, crop_w = crop
    height, width = pixels.shape[:2]
    if crop_h > height or crop_w > width:
        pad_h, pad_w = max(crop_h - height, 0), max(crop_w - width, 0)
        padding = ((pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2), (0, 0))
        pixels = np.pad(pixels, padding, mode="constant", constant_values=0)
        height, width = pixels.shape[:2]
    # Python's round() of a float is already an int, with ties to even (x.5 -> even), as in torchvision.
    top = round((height - crop_h) / 2.0)
    left = round((width - crop_w) / 2.0)
    return pixels[top : top + crop_h, left : left + crop_w]


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _positive_int(field: str, value: object, maximum: int) -> int:
    if not _is_int(value) or int(value) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{field}: expected a positive integer, got {_short_repr(value)}")
    if int(value) > maximum:  # type: ignore[call-overload]
        raise ValueError(f"{field}: {_short_repr(value)} is larger than the supported maximum of {maximum} pixels")
    return int(value)  # type: ignore[call-overload]


def _finite(field: str, value: object) -> float:
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected numbers, got {_short_repr(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{field}: expected finite numbers, got {_short_repr(value)}")
    if abs(number) > MAX_PARAMETER:
        raise ValueError(f"{field}: {number:g} is outside the supported range of +-{MAX_PARAMETER:g}")
    return number


def _check_normalisation(value_range: tuple[float, float], mean: tuple[float, ...], std: tuple[float, ...]) -> None:
    """Refuse a mean/std that would push some pixel value past ``MAX_NORMALISED`` (then NaN in the logits)."""
    low, high = value_range
    span = high - low
    for channel, m, s in zip("RGB", mean, std, strict=True):
        reach = max(abs(low - m), abs(high - m)) / s
        if reach <= MAX_NORMALISED:
            continue
        if low - span <= m <= high + span:
            raise ValueError(
                f"std: {s:g} (channel {channel}) is too small: pixel values in value_range [{low:g}, {high:g}] "
                f"would reach {reach:.3g} after normalisation, more than {MAX_NORMALISED:g}"
            )
        raise ValueError(
            f"mean: {m:g} (channel {channel}) is far outside value_range [{low:g}, {high:g}]: pixel values "
            f"would reach {reach:.3g} after normalisation with std {s:g}, more than {MAX_NORMALISED:g}"
        )


def _short_repr(value: object, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters, so a hostile value cannot flood an error message."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python converts to text
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fixed_length(field: str, value: object, length: int) -> tuple[object, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != length:
        raise ValueError(f"{field}: expected a list of {length} values, got {_short_repr(value)}")
    return tuple(value)


def _choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{field}: expected one of {', '.join(repr(a) for a in allowed)}, got {_short_repr(value)}")
    return str(value)


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
