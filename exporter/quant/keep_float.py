"""Keep fp32-fallback Conv/Gemm layers in fp32 when ONNX Runtime loads the int8 file.

``quantize_static(nodes_to_exclude=...)`` leaves an excluded Conv with float weights between the
DequantizeLinear of its input and the QuantizeLinear of its output. ONNX Runtime's
``WeightBiasQuantization`` graph transformer (since 1.21) then quantizes those float weights again,
per-tensor, when the session is created: the fallback is undone, and worse, because per-tensor
scales suit depthwise convolutions badly (EfficientNet-Lite0: output SQNR 21 -> 7 dB). The
transformer leaves a layer alone when its bias is not an initializer, so the bias of every fallback
layer is fed through a DequantizeLinear of an int32 copy (scale max|b| / 2**30: exact to 1e-9).

Example::

    python -m exporter export --default --precision int8     # fallbacks listed in workbench.quantization
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

_FULL_SCALE = 2.0**30


def keep_float(qdq_path: Path, names: Collection[str]) -> int:
    """Rewrite ``qdq_path`` so the named Conv/Gemm nodes stay fp32 in ONNX Runtime; returns how many."""
    model = onnx.load(str(qdq_path))
    inits = {i.name: i for i in model.graph.initializer}
    added: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.name not in names or node.op_type not in ("Conv", "Gemm") or node.input[1] not in inits:
            continue
        if len(node.input) > 2 and node.input[2] and node.input[2] not in inits:
            continue  # the bias is computed by a node already: the transformer leaves this layer alone
        bias = _bias_values(node, inits)
        base = f"{node.name}_fp32_bias"
        peak = float(np.abs(bias).max())
        scale = np.float32(peak / _FULL_SCALE if peak > 0 else 1.0)
        stored = np.round(bias.astype(np.float64) / float(scale)).astype(np.int32)
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(stored, f"{base}_int32"),
                numpy_helper.from_array(np.array(scale, np.float32), f"{base}_scale"),
            ]
        )
        added.append(
            helper.make_node(
                "DequantizeLinear", [f"{base}_int32", f"{base}_scale"], [base], name=f"{base}_DequantizeLinear"
            )
        )
        while len(node.input) < 3:
            node.input.append("")
        node.input[2] = base
    if not added:
        return 0
    nodes = [*added, *model.graph.node]  # the new nodes read initializers only: first is a valid order
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    _drop_unused_initializers(model.graph)
    onnx.save(model, str(qdq_path))
    return len(added)


def _bias_values(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]) -> np.ndarray:
    """The node's float bias (zeros when it has none); its channel count comes from the weights."""
    if len(node.input) > 2 and node.input[2] in inits:
        return numpy_helper.to_array(inits[node.input[2]]).astype(np.float32)
    weight = inits[node.input[1]]
    trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
    channels = weight.dims[1] if node.op_type == "Gemm" and not trans_b else weight.dims[0]
    return np.zeros(channels, np.float32)


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
