"""Name int8 layers by their PyTorch module and write the int8 export's closing summary (sentences and a table).

The fp32-fallback search works on ONNX node names (``node_Conv_865``); a user knows the model by its
modules (``_blocks.0._depthwise_conv``). :class:`LayerNames` maps one to the other through the export's
node map (the ONNX name is shown, in brackets, only when no module is known), and
:func:`summary_lines` turns the facts recorded in ``workbench.quantization`` into what the export prints
last: one sentence, then an aligned table of the layers kept in fp32 with their reason.

Example::

    python -m exporter export --model resnet18 --weights random --image-size 32 --precision int8
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import onnx

from workbench.contract import NodeMap


@dataclass(frozen=True)
class LayerNames:
    """ONNX node name -> PyTorch module path, through ``node_map`` (already extended to the graph's new nodes)."""

    node_map: NodeMap
    order: Mapping[str, int] = field(default_factory=dict)  # node name -> position in the graph

    def module(self, node: str) -> str | None:
        """The module that ``node`` belongs to, ``None`` when the node map does not know it."""
        return self.node_map.module_for(node)

    def label(self, node: str) -> str:
        """``layer1.0.conv1``, or ``[node_Conv_865]`` when no module is known."""
        return self.module(node) or f"[{node}]"

    def modules(self, nodes: Sequence[str]) -> list[str]:
        """The distinct labels of ``nodes`` in graph order (a Conv and its fused ReLU of one module count once)."""
        ordered = sorted(nodes, key=lambda n: self.order.get(n, len(self.order)))
        return list(dict.fromkeys(self.label(n) for n in ordered))


def conv_counts(graph: onnx.GraphProto, fp32_nodes: set[str]) -> dict[str, int]:
    """``{"total": convolutions in graph, "fp32": those among fp32_nodes}`` (recorded as ``convolutions``)."""
    convs = [n.name for n in graph.node if n.op_type == "Conv"]
    return {"total": len(convs), "fp32": sum(1 for name in convs if name in fp32_nodes)}


def summary_lines(quantization: Mapping[str, Any]) -> list[str]:
    """The closing sentence and the table of fp32 layers, from the facts recorded in ``workbench.quantization``."""
    convs: Mapping[str, int] = quantization.get("convolutions", {})
    total, in_fp32 = convs.get("total", 0), convs.get("fp32", 0)
    rounds = int(quantization.get("fp32_fallback_rounds", 0))
    fallbacks: list[Mapping[str, Any]] = list(quantization.get("fp32_fallback", []))
    score: Mapping[str, Any] = quantization.get("vs_fp32_onnx", {})
    check: Mapping[str, Any] = quantization.get("verification", {})
    calibration: Mapping[str, Any] = quantization.get("calibration", {})
    parts = [f"int8: {total - in_fp32} of {total} convolutions in int8"]
    if fallbacks:
        kept = ", ".join(dict.fromkeys(m for f in fallbacks for m in _modules(f)))
        how = ", ".join(dict.fromkeys(str(f.get("search", "search")) for f in fallbacks))
        parts.append(f"kept in fp32: {kept} ({how}, {rounds} round{'s' if rounds != 1 else ''})")
    else:
        parts.append("nothing kept in fp32")
    if "sqnr_db" in score:
        parts.append(
            f"output SQNR {score['sqnr_db']:.1f} dB vs the fp32 graph on {score.get('images', '?')} images "
            f"({calibration.get('images', '?')} for calibration)"
        )
    measured_on: Mapping[str, Any] = score.get("measured_on", {})
    if measured_on.get("int8_saturates"):
        parts.append(f"measured on {measured_on.get('cpu', '?')}, whose int8 sums saturate (no VNNI or AMX)")
    if "top1_agreement" in check:
        agree, inputs = check["top1_agreement"], check.get("inputs", "?")
        parts.append(f"top-1 agreement with PyTorch fp32 {agree:.1%} on {inputs} verification inputs")
    lines = ["; ".join(parts)]
    if fallbacks:
        lines.extend(_table(fallbacks))
    return lines


def _table(fallbacks: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [("kept in fp32", "op", "reason")]
    for f in fallbacks:
        rows.append((", ".join(_modules(f)), str(f.get("op_type", "?")), str(f["reason"])))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return [f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]


def _modules(fallback: Mapping[str, Any]) -> list[str]:
    """The fallback's modules; ``[node]`` for a record without them (files made before modules were recorded)."""
    return list(fallback.get("modules") or [f"[{fallback.get('node', '?')}]"])
