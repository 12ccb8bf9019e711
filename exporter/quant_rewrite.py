"""Exact fp32 graph rewrites that let ONNX Runtime run more of a network in int8 (applied before quantizing).

* A BatchNormalization that is not right after a Conv (DenseNet's pre-activation norms act on a
  Concat and cannot be folded) becomes a depthwise 1x1 Conv: ORT has no int8 BN kernel, but runs
  depthwise QLinearConv (with the following ReLU fused) in int8.
* An AveragePool that counts padding (Inception's 3x3/stride-1 branch pools, DenseNet's transitions)
  becomes a depthwise Conv with weights 1/k²: ORT's QLinearAveragePool is slow, its depthwise
  QLinearConv is not. Per-channel int8 weights of a constant kernel are exact.

Example::

    python -m exporter export --model densenet121 --weights random --precision int8
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


def rewrite_for_int8(path: Path) -> dict[str, int]:
    """Rewrite ``path`` in place; returns how many nodes of each kind were rewritten."""
    model = onnx.load(str(path))
    graph = model.graph
    init = {t.name: t for t in graph.initializer}
    channels = _channels(graph)
    counts = {"BatchNormalization": 0, "AveragePool": 0}
    nodes: list[onnx.NodeProto] = []
    unused: set[str] = set()
    for node in graph.node:
        replacement = None
        if node.op_type == "BatchNormalization":
            replacement = _norm_as_conv(node, init, graph)
            if replacement is not None:
                unused.update(node.input[1:])
        elif node.op_type == "AveragePool":
            replacement = _pool_as_conv(node, channels.get(node.input[0]), graph)
        if replacement is None:
            nodes.append(node)
        else:
            counts[node.op_type] += 1
            nodes.append(replacement)
    if any(counts.values()):
        still_used = {i for n in nodes for i in n.input}
        keep = [t for t in graph.initializer if t.name not in unused or t.name in still_used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.save(model, str(path))
    return counts


def _channels(graph: onnx.GraphProto) -> dict[str, int]:
    """Tensor name -> channel count (dim 1) from the shape information quant_pre_process added."""
    found = {}
    for info in (*graph.value_info, *graph.input):
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].HasField("dim_value"):
            found[info.name] = dims[1].dim_value
    return found


def _norm_as_conv(
    node: onnx.NodeProto, init: dict[str, onnx.TensorProto], graph: onnx.GraphProto
) -> onnx.NodeProto | None:
    if len(node.output) != 1 or not all(i in init for i in node.input[1:5]):
        return None
    gamma, beta, mean, var = (numpy_helper.to_array(init[i]).astype(np.float64) for i in node.input[1:5])
    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    scale = gamma / np.sqrt(var + eps)
    shift = beta - mean * scale
    weight, bias = f"{node.name}_dw_weight", f"{node.name}_dw_bias"
    graph.initializer.append(numpy_helper.from_array(scale.astype(np.float32).reshape(-1, 1, 1, 1), weight))
    graph.initializer.append(numpy_helper.from_array(shift.astype(np.float32), bias))
    return helper.make_node(
        "Conv", [node.input[0], weight, bias], list(node.output), name=node.name, group=len(scale), kernel_shape=[1, 1]
    )


def _pool_as_conv(node: onnx.NodeProto, channels: int | None, graph: onnx.GraphProto) -> onnx.NodeProto | None:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if channels is None or attrs.get("ceil_mode", 0) or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    if any(pads) and not attrs.get("count_include_pad", 0):
        return None
    kh, kw = attrs["kernel_shape"]
    weight = f"{node.name}_dw_weight"
    kernel = np.full((channels, 1, kh, kw), 1.0 / (kh * kw), dtype=np.float32)
    graph.initializer.append(numpy_helper.from_array(kernel, weight))
    return helper.make_node(
        "Conv",
        [node.input[0], weight],
        list(node.output),
        name=node.name,
        group=channels,
        kernel_shape=[kh, kw],
        strides=list(attrs.get("strides", [1, 1])),
        pads=pads,
    )


def shared_concat_params(pre_path: Path, calibration: np.ndarray, scratch: Path) -> dict[str, list[dict[str, Any]]]:
    """TensorQuantOverrides giving every Concat's inputs and output one shared uint8 scale / zero point.

    With equal parameters ORT's QLinearConcat is a plain copy; with different ones it requantizes
    every element (slower than the fp32 Concat). Tensors linked through Concats (a whole DenseNet
    block) form one group whose range is the union of the members' calibrated ranges (min/max).
    """
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    from exporter.quantize import BatchReader

    graph = onnx.load(str(pre_path), load_external_data=False).graph
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for node in graph.node:
        if node.op_type == "Concat":
            for name in node.input:
                parent[find(name)] = find(node.output[0])
    if not parent:
        return {}
    calibrator = create_calibrator(
        str(pre_path), ["Concat"], str(scratch / "concat_calib.onnx"), CalibrationMethod.MinMax
    )
    calibrator.collect_data(BatchReader(calibration))
    ranges = calibrator.compute_data()
    groups: dict[str, tuple[float, float]] = {}
    for name in parent:
        if name in ranges:
            low, high = (float(np.asarray(v).item()) for v in ranges[name].range_value)
            old = groups.get(find(name), (0.0, 0.0))
            groups[find(name)] = (min(old[0], low), max(old[1], high))
    overrides: dict[str, list[dict[str, Any]]] = {}
    for name in parent:
        low, high = groups.get(find(name), (0.0, 0.0))
        scale = max(high - low, 1e-8) / 255.0
        zero = int(np.clip(round(-low / scale), 0, 255))
        overrides[name] = [{"scale": np.array(scale, np.float32), "zero_point": np.array(zero, np.uint8)}]
    return overrides
