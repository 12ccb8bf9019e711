"""Override a model's assumed preprocessing and labels: what the user says instead of what the catalog guessed.

A foreign ONNX file (no workbench metadata) gets assumed preprocessing and labels in
:mod:`desktop_app.core.catalog` (ImageNet mean/std, resize ``round(min(crop) * 256 / 224)``, bilinear,
the graph's crop, labels by class count). :class:`PreprocessOverrides` holds what the user changes
(``None`` = keep the assumed value) and :func:`apply_overrides` makes the entry that is really run,
whose ``notices`` say what was assumed and what was overridden. :func:`describe` gives the rows
(field, assumed, in use) that the dialog and ``classify`` show.

Decisions:

* A file WITH workbench metadata may be overridden too (a user may know better than a wrong card);
  its notice then says ``overridden (the file's metadata says otherwise)`` and "assumed" reads "file".
* A crop that differs from a FIXED graph input size is refused (the graph cannot take it); a graph
  whose height/width are dynamic takes any crop. A crop without a resize moves the resize with it
  (the catalog's rule ``round(min(crop) * 256 / 224)`` for foreign files, in proportion for others).
* ``apply_overrides`` takes the catalog's own entry: an entry that was already overridden is refused,
  so "assumed" always means what the catalog assumed.
* Mean and std are always in R, G, B order (as :class:`workbench.preprocess.Preprocess`), whatever the
  channel order fed to the model.

The overrides are remembered per file by its sha256 in :class:`OverrideStore`
(:mod:`desktop_app.core.overrides_store`, re-exported here).

Example::

    python -c "from desktop_app.core.catalog import inspect_model; from desktop_app.core.overrides import \\
PreprocessOverrides, apply_overrides; e = apply_overrides(inspect_model('foreign.onnx'), \\
PreprocessOverrides(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))); print(e.notices[-1])"
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.infocache import cached_graph_info
from desktop_app.core.overrides_store import (
    OverrideStore,
    OverrideStoreError,
    default_store_path,
    file_sha256,
)
from workbench.labels import LabelFileError, label_set_for, read_labels_file
from workbench.modelfile import ModelFileError
from workbench.names import display_path
from workbench.preprocess import INTERPOLATIONS, MAX_CROP_SIDE, MAX_RESIZE, Preprocess

__all__ = [
    "CHANNEL_ORDERS",
    "OVERRIDDEN_PREFIX",
    "VALUE_RANGES",
    "OverrideError",
    "OverrideStore",
    "OverrideStoreError",
    "PreprocessOverrides",
    "apply_overrides",
    "assumed_labels_text",
    "default_store_path",
    "describe",
    "file_sha256",
    "fixed_input_size",
    "format_numbers",
    "format_value_range",
    "parse_numbers",
    "parse_size",
    "parse_triple",
    "parse_value_range",
    "remembered_entry",
]

CHANNEL_ORDERS = ("RGB", "BGR")
#: The value ranges offered by name (``classify --value-range``, the dialog): 8-bit values map onto them.
VALUE_RANGES: Mapping[str, tuple[float, float]] = {"0-1": (0.0, 1.0), "0-255": (0.0, 255.0)}
#: Every notice that :func:`apply_overrides` adds starts with this.
OVERRIDDEN_PREFIX = "overridden"
_LABEL_SET_TITLES = {"imagenet-1k": "ImageNet-1k", "voc-2012": "Pascal VOC 2012"}
_LABELS_NOTICE = "no labels in the file"  # the catalog's assumed-labels notice starts with this


class OverrideError(ValueError):
    """Overrides that cannot be used; the message names the field (or the file) and the problem, on one line."""


@dataclass(frozen=True)
class PreprocessOverrides:
    """What the user changes about a model's preprocessing and labels; ``None`` keeps the assumed value.

    ``size`` is the crop (the model's input) as (height, width); an int means a square. ``value_range``
    is what 8-bit values 0..255 are mapped onto before ``(x - mean) / std``. Validated on construction
    (:class:`OverrideError` names the field).
    """

    size: tuple[int, int] | None = None
    resize: int | None = None
    interpolation: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    channel_order: str | None = None
    value_range: tuple[float, float] | None = None
    labels_file: Path | None = None

    def __post_init__(self) -> None:
        std = None if self.std is None else _numbers("std", self.std, 3)
        value_range = None if self.value_range is None else _numbers("value_range", self.value_range, 2)
        if std is not None and any(s <= 0 for s in std):
            raise OverrideError(f"std: every value must be > 0, got {format_numbers(std)}")
        if value_range is not None and not value_range[0] < value_range[1]:
            raise OverrideError(f"value_range: low must be below high, got {format_numbers(value_range)}")
        checked: dict[str, object] = {
            "size": None if self.size is None else _size(self.size),
            "resize": None if self.resize is None else _whole("resize", self.resize, MAX_RESIZE),
            "interpolation": _choice("interpolation", self.interpolation, tuple(INTERPOLATIONS)),
            "mean": None if self.mean is None else _numbers("mean", self.mean, 3),
            "std": std,
            "channel_order": _choice("channel_order", self.channel_order, CHANNEL_ORDERS),
            "value_range": value_range,
            "labels_file": None if self.labels_file is None else _labels_path(self.labels_file),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def empty(self) -> bool:
        """True when nothing is overridden."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def merged(self, other: PreprocessOverrides) -> PreprocessOverrides:
        """These overrides with every field that ``other`` sets taken from ``other`` (``other`` wins)."""
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None}
        return replace(self, **changes)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe: only the fields that are set; tuples become lists, the labels file an absolute path."""
        result: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            result[f.name] = str(Path(value).absolute()) if f.name == "labels_file" else _plain(value)
        return result

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PreprocessOverrides:
        """Build and validate from :meth:`to_dict` output or parsed JSON (missing keys keep the assumed value).

        Raises:
            OverrideError: not a mapping, an unknown key (named), or an invalid value (the field named).
        """
        if not isinstance(data, Mapping):
            raise OverrideError(f"overrides: expected a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise OverrideError(f"{unknown[0]}: unknown override (known: {', '.join(known)})")
        values = dict(data)
        labels = values.get("labels_file")
        if labels is not None and not isinstance(labels, str):
            raise OverrideError(f"labels_file: expected a file name, got {type(labels).__name__}")
        if isinstance(labels, str):
            values["labels_file"] = Path(labels)
        for key in ("size", "mean", "std", "value_range"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


def apply_overrides(entry: ModelEntry, overrides: PreprocessOverrides | None) -> ModelEntry:
    """The entry to run: ``entry`` (the catalog's) with ``overrides`` applied and notices saying so.

    ``None`` or empty overrides give ``entry`` itself.

    Raises:
        OverrideError: the entry is unusable or already overridden; the crop differs from a fixed graph
            input; the combined preprocessing is invalid (the field named); the labels file cannot be read
            or has a different number of names than the model has outputs (the file and both counts named).
    """
    if overrides is None or overrides.empty:
        return entry
    base = _base_preprocess(entry)
    preprocess = _overridden_preprocess(entry, base, overrides)
    labels = entry.labels if overrides.labels_file is None else _read_labels(overrides.labels_file, entry.num_classes)
    kept = tuple(n for n in entry.notices if overrides.labels_file is None or not n.startswith(_LABELS_NOTICE))
    overridden = replace(
        entry,
        preprocess=preprocess,
        labels=labels,
        height=preprocess.crop[0],
        width=preprocess.crop[1],
    )
    changes = [_change_text(entry, row) for row in _rows(entry, overridden, overrides) if row[1] != row[2]]
    lead = OVERRIDDEN_PREFIX if entry.card is None else f"{OVERRIDDEN_PREFIX} (the file's metadata says otherwise)"
    notices = (*kept, f"{lead}: {', '.join(changes)}") if changes else kept
    return replace(overridden, notices=notices + _range_warning(preprocess))


def remembered_entry(entry: ModelEntry, store: OverrideStore) -> tuple[ModelEntry, PreprocessOverrides | None]:
    """The catalog's ``entry`` with the overrides remembered for its file applied, and those overrides.

    Hashes the file (cached per path, size and mtime): call it where a model is opened (a worker), not per
    file of a scan. Without a store file nothing is hashed and ``(entry, None)`` comes back.

    Raises:
        OverrideStoreError: the store is unreadable or damaged (the file named).
        OverrideError: the remembered overrides no longer apply (e.g. their labels file is gone).
        OSError: the model file cannot be read.
    """
    if not store.path.exists():
        return entry, None
    overrides = store.get(file_sha256(entry.path))
    return apply_overrides(entry, overrides), overrides


def describe(entry: ModelEntry, overrides: PreprocessOverrides | None) -> list[tuple[str, str, str]]:
    """Rows (field, assumed, in use) for every overridable field of the catalog's ``entry``.

    Raises:
        OverrideError: as :func:`apply_overrides`.
    """
    used = apply_overrides(entry, overrides)
    return _rows(entry, used, overrides)


def assumed_labels_text(entry: ModelEntry) -> str:
    """How ``entry`` got its labels, briefly: ``ImageNet-1k (1000)``, ``class numbers (10)``, ``from the file (10)``."""
    count = len(entry.labels)
    if entry.card is not None:
        return f"from the file ({count})"
    label_set = label_set_for(entry.num_classes)
    if label_set is None:
        return f"class numbers ({count})"
    return f"{_LABEL_SET_TITLES.get(label_set, label_set)} ({count})"


def parse_size(text: str, field: str = "size") -> tuple[int, int]:
    """``224`` (square) or ``224x192`` (height x width) as (height, width).

    Raises:
        OverrideError: anything else; the message names ``field``.
    """
    match = re.fullmatch(r"\s*(\d{1,6})\s*(?:[xX\u00d7]\s*(\d{1,6})\s*)?", text)
    if match is None:
        raise OverrideError(f"{field}: expected PX or HxW (e.g. 224 or 224x192), got {text!r}")
    height = int(match.group(1))
    return _size((height, int(match.group(2)) if match.group(2) else height), field)


def parse_numbers(text: str, field: str, count: int = 3) -> tuple[float, ...]:
    """``0.5,0.5,0.5`` (commas and/or spaces) as ``count`` finite numbers.

    Raises:
        OverrideError: a wrong count or a value that is not a finite number; the message names ``field``.
    """
    parts = [p for p in re.split(r"[,\s;]+", text.strip()) if p]
    if len(parts) != count:
        raise OverrideError(f"{field}: expected {count} numbers separated by commas, got {text!r}")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise OverrideError(f"{field}: expected numbers separated by commas, got {text!r}") from None
    return _numbers(field, values, count)


def parse_triple(text: str, field: str) -> tuple[float, float, float]:
    """``0.5,0.5,0.5`` as three finite numbers (R, G, B); :class:`OverrideError` naming ``field`` otherwise."""
    r, g, b = parse_numbers(text, field, 3)
    return (r, g, b)


def parse_value_range(text: str, field: str = "value_range") -> tuple[float, float]:
    """``0-1`` or ``0-255`` (see :data:`VALUE_RANGES`) as (low, high)."""
    value = VALUE_RANGES.get(text.strip())
    if value is None:
        raise OverrideError(f"{field}: expected one of {', '.join(VALUE_RANGES)}, got {text!r}")
    return value


def format_numbers(values: Sequence[float]) -> str:
    """``0.485, 0.456, 0.406``: each number as short as it reads exactly."""
    return ", ".join(f"{v:g}" if float(v) == float(f"{v:g}") else repr(float(v)) for v in values)


def format_value_range(value_range: Sequence[float]) -> str:
    """``0-1``, ``0-255``, or ``-1 to 1`` for any other range."""
    for name, known in VALUE_RANGES.items():
        if tuple(value_range) == known:
            return name
    low, high = value_range
    return f"{low:g} to {high:g}"


def _base_preprocess(entry: ModelEntry) -> Preprocess:
    if entry.error is not None or entry.preprocess is None:
        raise OverrideError(f"{display_path(entry.path.name)}: unusable model, nothing to override ({entry.error})")
    if any(n.startswith(OVERRIDDEN_PREFIX) for n in entry.notices):
        raise OverrideError(
            f"{display_path(entry.path.name)}: already overridden; apply overrides to the catalog's entry"
        )
    return entry.preprocess


def _overridden_preprocess(entry: ModelEntry, base: Preprocess, o: PreprocessOverrides) -> Preprocess:
    crop = base.crop if o.size is None else o.size
    if o.size is not None:
        _check_graph_size(entry, o.size)
    resize = o.resize if o.resize is not None else _resize_for(entry, base, crop)
    try:
        return Preprocess(
            resize=resize,
            crop=crop,
            interpolation=o.interpolation or base.interpolation,
            mean=o.mean or base.mean,
            std=o.std or base.std,
            value_range=o.value_range or base.value_range,
            channel_order=o.channel_order or base.channel_order,
            layout=base.layout,
        )
    except ValueError as exc:
        raise OverrideError(str(exc)) from exc


def _resize_for(entry: ModelEntry, base: Preprocess, crop: tuple[int, int]) -> int:
    """The resize that goes with a new crop: the catalog's rule for foreign files, in proportion otherwise."""
    if crop == base.crop:
        return base.resize
    foreign = entry.card is None
    resize = round(min(crop) * 256 / 224) if foreign else round(base.resize * min(crop) / min(base.crop))
    return max(1, min(resize, MAX_RESIZE))


def fixed_input_size(entry: ModelEntry) -> tuple[int | None, int | None]:
    """The graph's input (height, width); ``None`` for a dynamic side (which takes any crop).

    Raises:
        OverrideError: the file cannot be read any more.
    """
    try:
        info = cached_graph_info(entry.path)
    except ModelFileError as exc:
        raise OverrideError(f"size: cannot read the graph's input size: {exc}") from exc
    return info.height, info.width


def _check_graph_size(entry: ModelEntry, size: tuple[int, int]) -> None:
    height, width = fixed_input_size(entry)
    for axis, graph, wanted in (("height", height, size[0]), ("width", width, size[1])):
        if graph is not None and graph != wanted:
            fixed = f"{height if height is not None else 'any'}x{width if width is not None else 'any'}"
            raise OverrideError(
                f"size: {display_path(entry.path.name)} takes a fixed input of {fixed}; "
                f"a crop {axis} of {wanted} cannot be fed to it (only graphs with a dynamic size take another size)"
            )


def _read_labels(path: Path, num_classes: int) -> tuple[str, ...]:
    try:
        labels = read_labels_file(path)
    except LabelFileError as exc:
        raise OverrideError(f"labels: {exc}") from exc
    if len(labels) != num_classes:
        raise OverrideError(
            f"labels: {display_path(path)} has {len(labels)} names but the model has {num_classes} outputs "
            "(one class name per line, in output order)"
        )
    return labels


def _rows(assumed: ModelEntry, used: ModelEntry, o: PreprocessOverrides | None) -> list[tuple[str, str, str]]:
    a, u = assumed.preprocess, used.preprocess
    assert a is not None and u is not None  # both usable (checked by apply_overrides)
    labels_used = assumed_labels_text(assumed)
    if o is not None and o.labels_file is not None:
        labels_used = f"{display_path(o.labels_file.name)} ({len(used.labels)})"
    return [
        ("size", f"{a.crop[0]}x{a.crop[1]}", f"{u.crop[0]}x{u.crop[1]}"),
        ("resize", f"{a.resize} px", f"{u.resize} px"),
        ("interpolation", a.interpolation, u.interpolation),
        ("mean", format_numbers(a.mean), format_numbers(u.mean)),
        ("std", format_numbers(a.std), format_numbers(u.std)),
        ("channel order", a.channel_order, u.channel_order),
        ("value range", format_value_range(a.value_range), format_value_range(u.value_range)),
        ("labels", assumed_labels_text(assumed), labels_used),
    ]


def _change_text(entry: ModelEntry, row: tuple[str, str, str]) -> str:
    name, assumed, used = row
    if name == "labels":
        return f"labels from {_uncounted(used)} ({_assumed_word(entry)} {_uncounted(assumed)})"
    return f"{name} {used} ({_assumed_word(entry)} {assumed})"


def _uncounted(text: str) -> str:
    """``l.txt (3)`` without its count: ``l.txt``."""
    return re.sub(r" \(\d+\)$", "", text)


def _assumed_word(entry: ModelEntry) -> str:
    return "assumed" if entry.card is None else "file"


def _range_warning(p: Preprocess) -> tuple[str, ...]:
    """A hint when the value range is 0-255 but mean and std still look like those of a 0-1 range."""
    if p.value_range[1] > 2 and max(p.mean) <= 1 and max(p.std) <= 1:
        return (
            f"value range {format_value_range(p.value_range)} with mean/std that look made for 0-1 values "
            "(Caffe-style models use a mean such as 123.7, 116.3, 103.5 and std 1, 1, 1)",
        )
    return ()


def _size(value: object, field: str = "size") -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise OverrideError(f"{field}: expected a side in pixels or (height, width), got {value!r:.80}")
    return (_whole(field, pair[0], MAX_CROP_SIDE), _whole(field, pair[1], MAX_CROP_SIDE))


def _whole(field: str, value: object, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
        raise OverrideError(f"{field}: expected a whole number of pixels from 1 to {maximum}, got {value!r:.80}")
    return value


def _numbers(field: str, value: object, count: int) -> tuple[float, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != count:
        raise OverrideError(f"{field}: expected {count} numbers, got {value!r:.80}")
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item):
            raise OverrideError(f"{field}: expected finite numbers, got {item!r:.80}")
        numbers.append(float(item))
    return tuple(numbers)


def _choice(field: str, value: object, allowed: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise OverrideError(f"{field}: expected one of {', '.join(allowed)}, got {value!r:.80}")
    return value


def _labels_path(value: object) -> Path:
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise OverrideError(f"labels_file: expected a file name, got {value!r:.80}")
    return Path(value).expanduser()


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
