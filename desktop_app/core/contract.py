"""The metadata contract of our ONNX files: what travels inside each file, and how to read it.

The exporter writes a :class:`ModelCard` into the ONNX ``metadata_props`` (string keys prefixed
``workbench.``, JSON values); the app and any other consumer read it back with
:meth:`ModelCard.from_metadata`. The format is documented in ``docs/onnx-metadata.md``; this
module is its one implementation (no torch, no Qt), shared by the exporter and the app.

Example::

    python -c "import onnx; from desktop_app.core.contract import ModelCard; \\
m = onnx.load('model.onnx', load_external_data=False); \\
print(ModelCard.from_metadata({p.key: p.value for p in m.metadata_props}).display_name)"
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from desktop_app.core.preprocess import Preprocess

FORMAT = "cnn-workbench/1"
PREFIX = "workbench."
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
PRECISIONS = ("fp32", "fp16", "int8")


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
    def from_dict(cls, d: Mapping[str, Any]) -> Golden:
        return cls(
            shape=tuple(int(v) for v in d["shape"]),
            layout=str(d["layout"]),
            top5=tuple(int(v) for v in d["top5"]),
            top5_logits=tuple(float(v) for v in d["top5_logits"]),
            logit_range=float(d["logit_range"]),
            tolerance=float(d["tolerance"]),
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
    ci, yi, xi = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    chw = (((97 * ci + 31 * yi + 17 * xi) % 256) / 127.5 - 1.0).astype(np.float32)
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
    def from_dict(cls, d: Mapping[str, Any]) -> NodeMap:
        return cls(nodes=dict(d.get("nodes", {})), tensors=dict(d.get("tensors", {})))


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
    def from_metadata(cls, props: Mapping[str, str]) -> ModelCard | None:
        """The card in ``props``, ``None`` when the file carries no workbench metadata at all."""
        if PREFIX + "format" not in props:
            return None
        fmt = props[PREFIX + "format"]
        if fmt.split("/")[0] != FORMAT.split("/")[0]:
            raise ContractError(f"{PREFIX}format: unknown format {fmt!r}")

        def get(key: str, default: Any = ..., *, as_json: bool = True) -> Any:
            if PREFIX + key not in props:
                if default is ...:
                    raise ContractError(f"{PREFIX}{key}: missing")
                return default
            raw = props[PREFIX + key]
            try:
                return json.loads(raw) if as_json else raw
            except json.JSONDecodeError as exc:
                raise ContractError(f"{PREFIX}{key}: not valid JSON ({exc.msg})") from exc

        try:
            labels = tuple(str(v) for v in get("labels"))
            card = cls(
                architecture=get("architecture", as_json=False),
                label_set=get("labels.set", as_json=False),
                labels=labels,
                preprocess=Preprocess.from_dict(get("preprocess")),
                weights=get("weights"),
                precision=get("precision", "fp32", as_json=False),
                provenance=get("provenance", {}),
                training=get("training", None),
                quantization=get("quantization", None),
                node_map=NodeMap.from_dict(get("node_map", {})),
                golden=Golden.from_dict(g) if (g := get("golden", None)) else None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ContractError):
                raise
            raise ContractError(f"{PREFIX}*: {exc}") from exc
        if card.precision not in PRECISIONS:
            raise ContractError(f"{PREFIX}precision: unknown precision {card.precision!r}")
        return card
