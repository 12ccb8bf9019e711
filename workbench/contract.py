"""The metadata contract of our ONNX files: what travels inside each file, and how to read it.

The exporter writes a :class:`ModelCard` into the ONNX ``metadata_props`` (string keys prefixed
``workbench.``, JSON values); the app and any other consumer read it back with
:meth:`ModelCard.from_metadata`. The format is documented in ``docs/onnx-metadata.md``; this
module is its one implementation (no torch, no Qt), shared by the exporter and the app.

Example::

    python -c "import onnx; from workbench.contract import ModelCard; \\
m = onnx.load('model.onnx', load_external_data=False); \\
print(ModelCard.from_metadata({p.key: p.value for p in m.metadata_props}).display_name)"
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.preprocess import MAX_CROP_SIDE, Preprocess

FORMAT = "cnn-workbench/1"
PREFIX = "workbench."
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
PRECISIONS = ("fp32", "fp16", "int8")
#: The keys (after ``PREFIX``) a consumer reads; other ``workbench.*`` keys are ignored.
METADATA_KEYS = (
    "format",
    "architecture",
    "labels.set",
    "labels",
    "preprocess",
    "weights",
    "precision",
    "quantization",
    "training",
    "provenance",
    "node_map",
    "golden",
)

# Limits on what a file may declare, checked before anything is allocated for it (docs/onnx-metadata.md).
MAX_METADATA_CHARS = 8 * 1024 * 1024  # one metadata value
MAX_METADATA_TOTAL = 16 * 1024 * 1024  # the values of METADATA_KEYS together
MAX_LABELS = 100_000
MAX_LABEL_CHARS = 256  # a folder name's length, for labels taken from ImageFolder class folders
MAX_TEXT_CHARS = 200  # architecture, label set, precision
MAX_JSON_DEPTH = 32
MAX_GOLDEN_BATCH = 64
MAX_BATCH_BYTES = 512 * 1024 * 1024  # one model input: a fixed batch, or the golden input
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class ContractError(ValueError):
    """Metadata that is present but does not follow the contract (the message names the key)."""


@dataclass(frozen=True)
class Golden:
    """A deterministic reference input (see :func:`golden_input`) and PyTorch's answer to it."""

    shape: tuple[int, ...]
    layout: str
    top5: tuple[int, ...]
    top5_logits: tuple[float, ...]
    logit_range: float
    tolerance: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": list(self.shape),
            "layout": self.layout,
            "formula": "x[n,c,y,x] = ((97*c + 31*y + 17*x) % 256) / 127.5 - 1 (float32)",
            "top5": list(self.top5),
            "top5_logits": list(self.top5_logits),
            "logit_range": self.logit_range,
            "tolerance": self.tolerance,
        }

    @classmethod
    def from_dict(cls, d: object, where: str = PREFIX + "golden") -> Golden:
        """Validate a parsed ``workbench.golden`` object (ContractError names ``where`` and the field)."""
        d = _mapping(d, where)
        layout = d.get("layout")
        if layout not in ("NCHW", "NHWC"):
            raise ContractError(f"{where}: layout: expected 'NCHW' or 'NHWC', got {_short(layout)}")
        shape = _golden_shape(_int_list(d, "shape", where, minimum=1), str(layout), where)
        top5 = _int_list(d, "top5", where, minimum=0)
        logits = _number_list(d, "top5_logits", where)
        if not top5 or len(top5) != len(logits) or len(set(top5)) != len(top5):
            raise ContractError(f"{where}: top5 and top5_logits: expected the same number (>= 1) of distinct classes")
        return cls(
            shape=shape,
            layout=str(layout),
            top5=top5,
            top5_logits=logits,
            logit_range=_number(d, "logit_range", where, minimum=0.0),
            tolerance=_number(d, "tolerance", where, minimum=0.0),
        )


def golden_input(shape: tuple[int, ...], layout: str = "NCHW") -> np.ndarray:
    """The golden self-test input: already-normalised values in [-1, 1], defined by a formula.

    ``shape`` is the graph's input shape (batch first); values depend on (channel, row, column)
    only, so an NHWC graph gets the same image as an NCHW one, transposed.
    """
    if layout == "NCHW":
        n, c, h, w = shape
    elif layout == "NHWC":
        n, h, w, c = shape
    else:
        raise ValueError(f"unknown layout {layout!r}")
    ci = np.arange(c, dtype=np.int32).reshape(-1, 1, 1)
    yi = np.arange(h, dtype=np.int32).reshape(1, -1, 1)
    xi = np.arange(w, dtype=np.int32).reshape(1, 1, -1)
    values = (np.arange(256) / 127.5 - 1.0).astype(np.float32)  # the formula, once per byte value
    chw = values[(97 * ci + 31 * yi + 17 * xi) % 256]
    image = chw if layout == "NCHW" else np.ascontiguousarray(chw.transpose(1, 2, 0))
    return np.broadcast_to(image, (n, *image.shape)).copy()


@dataclass(frozen=True)
class NodeMap:
    """ONNX node names and output tensor names -> PyTorch module paths (``layer3.1.conv2``).

    ONNX Runtime renames nodes it fuses after their output tensor (``relu_2_nchwc``), so the
    map answers for both; :meth:`module_for` also strips ORT's suffixes.
    """

    nodes: Mapping[str, str] = field(default_factory=dict)
    tensors: Mapping[str, str] = field(default_factory=dict)

    def module_for(self, name: str) -> str | None:
        """The module path for an ORT node name, or ``None`` when nothing maps it."""
        for candidate in _name_candidates(name):
            if candidate in self.nodes:
                return self.nodes[candidate]
            if candidate in self.tensors:
                return self.tensors[candidate]
        return None

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"nodes": dict(self.nodes), "tensors": dict(self.tensors)}

    @classmethod
    def from_dict(cls, d: object, where: str = PREFIX + "node_map") -> NodeMap:
        """Validate a parsed node map: ``nodes`` and ``tensors`` map strings to strings."""
        d = _mapping(d, where)
        parts: dict[str, dict[str, str]] = {}
        for part in ("nodes", "tensors"):
            entries = _mapping(d.get(part, {}), f"{where}: {part}")
            for name, module in entries.items():
                if not isinstance(module, str):
                    raise ContractError(f"{where}: {part}: {_short(name)} maps to {_json_type(module)}, not a string")
            parts[part] = dict(entries)
        return cls(nodes=parts["nodes"], tensors=parts["tensors"])


_ORT_SUFFIXES = ("_kernel_time", "_fence_before", "_fence_after", "_nchwc", "_token", "_output_0")


def _name_candidates(name: str) -> list[str]:
    out = [name]
    changed = True
    while changed:
        changed = False
        for suffix in _ORT_SUFFIXES:
            if out[-1].endswith(suffix):
                out.append(out[-1][: -len(suffix)])
                changed = True
    return out


@dataclass(frozen=True)
class ModelCard:
    """Everything the file says about itself. ``trained`` is False for random weights."""

    architecture: str
    label_set: str
    labels: tuple[str, ...]
    preprocess: Preprocess
    weights: Mapping[str, Any]
    precision: str = "fp32"
    provenance: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] | None = None
    quantization: Mapping[str, Any] | None = None
    node_map: NodeMap = field(default_factory=NodeMap)
    golden: Golden | None = None

    @property
    def trained(self) -> bool:
        return bool(self.weights.get("trained", False))

    @property
    def display_name(self) -> str:
        """``resnet50 · imagenet-1k · imagenet weights · fp32`` (``UNTRAINED`` for random weights)."""
        weights = str(self.weights.get("source", "?")) if self.trained else "UNTRAINED random weights"
        return f"{self.architecture} · {self.label_set} · {weights} · {self.precision}"

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` entries (all strings) for this card."""
        entries: dict[str, Any] = {
            "format": FORMAT,
            "architecture": self.architecture,
            "labels.set": self.label_set,
            "labels": list(self.labels),
            "preprocess": self.preprocess.to_dict(),
            "weights": dict(self.weights),
            "precision": self.precision,
            "provenance": dict(self.provenance),
            "node_map": self.node_map.to_dict(),
        }
        if self.training is not None:
            entries["training"] = dict(self.training)
        if self.quantization is not None:
            entries["quantization"] = dict(self.quantization)
        if self.golden is not None:
            entries["golden"] = self.golden.to_dict()
        return {PREFIX + k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in entries.items()}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str | bytes]) -> ModelCard | None:
        """The card in ``props``, ``None`` when the file carries no workbench metadata at all.

        Every value is checked for its type, size and content; anything else is a ContractError
        whose message names the key (``workbench.labels: label 12 is empty``).
        """
        if not isinstance(props, Mapping):
            raise ContractError(f"metadata: expected key/value pairs, got {type(props).__name__}")
        if PREFIX + "format" not in props:
            return None
        meta = _Metadata(props)
        fmt = meta.text("format")
        if fmt.split("/")[0] != FORMAT.split("/")[0]:
            raise ContractError(f"{PREFIX}format: unknown format {_short(fmt)}")
        labels = _labels(meta.json("labels", list))
        golden = meta.json("golden", dict, None, nullable=True)
        card = cls(
            architecture=meta.text("architecture"),
            label_set=meta.text("labels.set"),
            labels=labels,
            preprocess=_preprocess(meta.json("preprocess", dict)),
            weights=_weights(meta.json("weights", dict, shown_only=True)),
            precision=meta.text("precision", "fp32"),
            provenance=meta.json("provenance", dict, {}, shown_only=True),
            training=meta.json("training", dict, None, nullable=True, shown_only=True),
            quantization=meta.json("quantization", dict, None, nullable=True, shown_only=True),
            node_map=NodeMap.from_dict(meta.json("node_map", dict, {})),
            golden=None if golden is None else Golden.from_dict(golden),
        )
        if card.precision not in PRECISIONS:
            raise ContractError(f"{PREFIX}precision: unknown precision {_short(card.precision)}")
        return card


_MISSING: Any = object()
_JSON_TYPES: dict[type, str] = {dict: "a JSON object", list: "a JSON list"}


class _Metadata:
    """Reads ``workbench.*`` values out of ``metadata_props``, checking text, size and JSON types."""

    def __init__(self, props: Mapping[str, str | bytes]) -> None:
        self.props = props
        total = sum(len(v) for k in METADATA_KEYS if isinstance(v := props.get(PREFIX + k), (str, bytes)))
        if total > MAX_METADATA_TOTAL:
            raise ContractError(f"{PREFIX}*: {_mib(total)} of metadata; at most {_mib(MAX_METADATA_TOTAL)}")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if PREFIX + key not in self.props:
            if default is _MISSING:
                raise ContractError(f"{PREFIX}{key}: missing")
            return default
        value = self.props[PREFIX + key]
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ContractError(f"{PREFIX}{key}: not valid UTF-8 text (byte {exc.start})") from exc
        if not isinstance(value, str):
            raise ContractError(f"{PREFIX}{key}: expected text, got {type(value).__name__}")
        if len(value) > MAX_METADATA_CHARS:
            raise ContractError(f"{PREFIX}{key}: {_mib(len(value))} long; at most {_mib(MAX_METADATA_CHARS)}")
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        """A plain one-line text value: not empty, at most ``MAX_TEXT_CHARS``, no control characters."""
        value = self.raw(key, default)
        if not value.strip():
            raise ContractError(f"{PREFIX}{key}: empty")
        if len(value) > MAX_TEXT_CHARS or _CONTROL.search(value):
            raise ContractError(f"{PREFIX}{key}: expected one line of at most {MAX_TEXT_CHARS} characters")
        return value

    def json(
        self, key: str, kind: type, default: Any = _MISSING, *, nullable: bool = False, shown_only: bool = False
    ) -> Any:
        """The JSON value of ``key``, which must be of ``kind`` (or null when ``nullable``).

        ``NaN`` and ``Infinity`` (Python's json writes them for a diverged training loss) are refused,
        except in values that are only shown (``shown_only``), where they become the text ``"NaN"``.
        """
        raw = self.raw(key, default)
        if not isinstance(raw, str):
            return raw  # the default
        try:
            value = json.loads(raw, parse_constant=str if shown_only else _no_constant)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{PREFIX}{key}: not valid JSON ({exc.msg})") from exc
        except RecursionError as exc:
            raise ContractError(f"{PREFIX}{key}: not valid JSON (nested too deeply)") from exc
        except ValueError as exc:  # NaN/Infinity, an integer with too many digits
            raise ContractError(f"{PREFIX}{key}: not valid JSON ({_short(str(exc))})") from exc
        if value is None and nullable:
            return None
        if not isinstance(value, kind):
            raise ContractError(f"{PREFIX}{key}: expected {_JSON_TYPES[kind]}, got {_json_type(value)}")
        _check_depth(value, PREFIX + key)
        return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_depth(value: object, where: str) -> None:
    """Refuse JSON nested deeper than ``MAX_JSON_DEPTH`` (it would overflow the stack of whoever shows it)."""
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            raise ContractError(f"{where}: nested more than {MAX_JSON_DEPTH} levels deep")
        level = [c for v in level if isinstance(v, (dict, list)) for c in (v.values() if isinstance(v, dict) else v)]


def _labels(values: list[Any]) -> tuple[str, ...]:
    where = f"{PREFIX}labels"
    if not values:
        raise ContractError(f"{where}: no labels")
    if len(values) > MAX_LABELS:
        raise ContractError(f"{where}: {len(values)} labels; at most {MAX_LABELS}")
    first: dict[str, int] = {}
    for index, label in enumerate(values):
        if not isinstance(label, str):
            raise ContractError(f"{where}: label {index} is {_json_type(label)}, not a string")
        if not label.strip():
            raise ContractError(f"{where}: label {index} is empty")
        if len(label) > MAX_LABEL_CHARS:
            raise ContractError(f"{where}: label {index} is {len(label)} characters long; at most {MAX_LABEL_CHARS}")
        if _CONTROL.search(label):
            raise ContractError(f"{where}: label {index} contains a line break or another control character")
        if label in first:
            raise ContractError(f"{where}: label {index} {_short(label)} repeats label {first[label]}")
        first[label] = index
    return tuple(values)


def _preprocess(d: dict[str, Any]) -> Preprocess:
    try:
        return Preprocess.from_dict(d)
    except ValueError as exc:  # the message names the field: "std: ..."
        raise ContractError(f"{PREFIX}preprocess: {exc}") from exc


def _weights(d: dict[str, Any]) -> dict[str, Any]:
    where = f"{PREFIX}weights"
    for key, kind in (("source", str), ("detail", str), ("sha256", str), ("trained", bool), ("builder_kwargs", dict)):
        if key in d and not isinstance(d[key], kind):
            raise ContractError(f"{where}: {key}: expected {_TYPE_NAMES[kind]}, got {_json_type(d[key])}")
    return d


_TYPE_NAMES = {str: "a string", bool: "true or false", dict: "a JSON object"}


def _golden_shape(shape: tuple[int, ...], layout: str, where: str) -> tuple[int, ...]:
    if len(shape) != 4:
        raise ContractError(f"{where}: shape: expected 4 dimensions, got {len(shape)}")
    n, c, h, w = shape if layout == "NCHW" else (shape[0], shape[3], shape[1], shape[2])
    if c != 3:
        raise ContractError(f"{where}: shape: {list(shape)} has {c} channels in {layout}; expected 3")
    if h > MAX_CROP_SIDE or w > MAX_CROP_SIDE:
        raise ContractError(f"{where}: shape: {list(shape)} is larger than {MAX_CROP_SIDE} pixels a side")
    if n > MAX_GOLDEN_BATCH or n * c * h * w * 4 > MAX_BATCH_BYTES:
        raise ContractError(
            f"{where}: shape: batch {n} is too large (at most {MAX_GOLDEN_BATCH} and {_mib(MAX_BATCH_BYTES)} of input)"
        )
    return shape


def _mapping(d: object, where: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise ContractError(f"{where}: expected a JSON object, got {_json_type(d)}")
    return d


def _int_list(d: Mapping[str, Any], key: str, where: str, *, minimum: int) -> tuple[int, ...]:
    values = d.get(key, _MISSING)
    if not isinstance(values, list) or not all(_is_int(v) and v >= minimum for v in values):
        raise ContractError(f"{where}: {key}: expected a list of whole numbers >= {minimum}, got {_short(values)}")
    return tuple(values)


def _number_list(d: Mapping[str, Any], key: str, where: str) -> tuple[float, ...]:
    values = d.get(key, _MISSING)
    if not isinstance(values, list):
        raise ContractError(f"{where}: {key}: expected a list of numbers, got {_short(values)}")
    return tuple(_finite(v, f"{where}: {key}") for v in values)


def _number(d: Mapping[str, Any], key: str, where: str, *, minimum: float) -> float:
    value = _finite(d.get(key, _MISSING), f"{where}: {key}")
    if value < minimum:
        raise ContractError(f"{where}: {key}: expected a number >= {minimum:g}, got {value:g}")
    return value


def _finite(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ContractError(f"{where}: expected a number, got {_short(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = float("inf")
    if not np.isfinite(number):
        raise ContractError(f"{where}: expected a finite number, got {_short(value)}")
    return number


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: object) -> str:
    names: list[tuple[type | tuple[type, ...], str]] = [
        (bool, "true/false"),
        ((int, float), "a number"),
        (str, "a string"),
        (list, "a JSON list"),
        (Mapping, "a JSON object"),
    ]
    if value is None or value is _MISSING:
        return "null" if value is None else "nothing"
    return next((name for kind, name in names if isinstance(value, kind)), type(value).__name__)


def _short(value: object, limit: int = 60) -> str:
    """``repr`` of a value from a file, cut to ``limit`` characters so it cannot flood a message."""
    if value is _MISSING:
        return "nothing"
    try:
        text = repr(value)
    except ValueError:  # an int too long to print
        return "a number too long to show"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"
