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

Example::

    from desktop_app.core.imageio import load_image
    from desktop_app.core.preprocess import Preprocess, preprocess_batch, preprocess_image

    p = Preprocess(resize=256, crop=(224, 224))
    x = preprocess_image(load_image("cat.jpg", min_side=p.resize), p)  # (3, 224, 224) float32
    batch = preprocess_batch([load_image("a.png"), load_image("b.png")], p)  # (2, 3, 224, 224)
    same = Preprocess.from_dict(p.to_dict())  # JSON round-trip, validated
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["INTERPOLATIONS", "Preprocess", "preprocess_batch", "preprocess_image"]

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
            "resize": _positive_int("resize", self.resize),
            "crop": tuple(_positive_int("crop", v) for v in _fixed_length("crop", crop, 2)),
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
    resized = _resize_shorter_side(img, p.resize, INTERPOLATIONS[p.interpolation])
    pixels = _center_crop(np.asarray(resized, dtype=np.uint8), p.crop)
    values = pixels.astype(np.float32) / np.float32(255)  # == torch .float().div(255)
    if p.value_range != _DEFAULT_RANGE:
        low, high = p.value_range
        values = np.float32(low) + values * np.float32(high - low)
    values = (values - np.asarray(p.mean, dtype=np.float32)) / np.asarray(p.std, dtype=np.float32)
    if p.channel_order == "BGR":
        values = values[:, :, ::-1]
    if p.layout == "NCHW":
        values = values.transpose(2, 0, 1)
    return np.ascontiguousarray(values, dtype=np.float32)


def preprocess_batch(images: Sequence[Image.Image], p: Preprocess) -> np.ndarray:
    """Preprocess each image and stack them to shape ``(N, *p.output_shape)`` (N may be 0)."""
    batch = np.empty((len(images), *p.output_shape), dtype=np.float32)
    for index, img in enumerate(images):
        batch[index] = preprocess_image(img, p)
    return batch


def _resize_shorter_side(img: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """torchvision ``Resize(size)`` on a PIL image: the shorter side becomes ``size``."""
    width, height = img.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_w, new_h) == (width, height):
        return img
    return img.resize((new_w, new_h), resample)


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


def _positive_int(field: str, value: object) -> int:
    if not _is_int(value) or int(value) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{field}: expected a positive integer, got {value!r}")
    return int(value)  # type: ignore[call-overload]


def _finite(field: str, value: object) -> float:
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field}: expected numbers, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{field}: expected finite numbers, got {value!r}")
    return float(value)


def _fixed_length(field: str, value: object, length: int) -> tuple[object, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != length:
        raise ValueError(f"{field}: expected a list of {length} values, got {value!r}")
    return tuple(value)


def _choice(field: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{field}: expected one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return str(value)


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
