"""Exact fp32 graph rewrites that let ONNX Runtime run more of a network in int8 (applied before quantizing).

* A BatchNormalization that is not right after a Conv (DenseNet's pre-activation norms act on a
  Concat and cannot be folded) becomes a depthwise 1x1 Conv: ORT has no int8 BN kernel, but runs
  depthwise QLinearConv (with the following ReLU fused) in int8.
* An AveragePool that counts padding (Inception's 3x3/stride-1 branch pools, DenseNet's transitions)
  becomes a depthwise Conv with weights 1/k²: ORT's QLinearAveragePool is slow, its depthwise
  QLinearConv is not. Per-channel int8 weights of a constant kernel are exact.
* A stride-2 stem convolution with a large kernel on few channels (ResNet's 7x7 on RGB) becomes
  SpaceToDepth(2) + a stride-1 Conv with kernel ~k/2 on 4x the channels, its padding counted in
  2x2 blocks: the same sums (the kernel is zero-padded to an even size, aligned to even rows), but
  ORT's int8 Conv runs 3 input channels at a third of its usual efficiency (ResNet-50 stem:
  1.45 ms -> 0.45 ms + 0.27 ms for SpaceToDepth, QuantizeLinear and the layout Transpose).
* A Concat whose leading inputs are exactly an earlier Concat's inputs (each DenseNet layer
  concatenates all features so far) reads that Concat's output instead: the same values, but
  ORT's NHWC QLinearConcat copies each input pixel by pixel, so one copy of the earlier result
  replaces one short copy per feature map.

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
    shapes = _shapes(graph)
    counts = {"BatchNormalization": 0, "AveragePool": 0, "Conv": 0, "Concat": 0}
    nodes: list[onnx.NodeProto] = []
    unused: set[str] = set()
    concats: dict[tuple[int, tuple[str, ...]], str] = {}
    for node in graph.node:
        replacement: list[onnx.NodeProto] | None = None
        if node.op_type == "Concat":
            replacement = _chain_concat(node, concats)
        elif node.op_type == "BatchNormalization":
            norm = _norm_as_conv(node, init, graph)
            replacement = None if norm is None else [norm]
            if norm is not None:
                unused.update(node.input[1:])
        elif node.op_type == "AveragePool":
            pool = _pool_as_conv(node, shapes.get(node.input[0], (0, 0, 0))[0] or None, graph)
            replacement = None if pool is None else [pool]
        elif node.op_type == "Conv":
            replacement = _stem_as_space_to_depth(node, init, shapes.get(node.input[0]), graph)
            if replacement is not None:
                unused.add(node.input[1])
        if replacement is None:
            nodes.append(node)
        else:
            counts[node.op_type] += 1
            nodes.extend(replacement)
    if any(counts.values()):
        still_used = {i for n in nodes for i in n.input}
        keep = [t for t in graph.initializer if t.name not in unused or t.name in still_used]
        del graph.initializer[:]
        graph.initializer.extend(keep)
        del graph.node[:]
        graph.node.extend(nodes)
        onnx.save(model, str(path))
    return counts


def _chain_concat(node: onnx.NodeProto, seen: dict[tuple[int, tuple[str, ...]], str]) -> list[onnx.NodeProto] | None:
    """``node`` reading the longest earlier Concat (same axis) whose inputs are its leading inputs."""
    axis = next(a.i for a in node.attribute if a.name == "axis")
    inputs = tuple(node.input)
    prefix = next((k for k in range(len(inputs) - 1, 1, -1) if (axis, inputs[:k]) in seen), 0)
    seen.setdefault((axis, inputs), node.output[0])
    if not prefix:
        return None
    chained = helper.make_node(
        "Concat", [seen[(axis, inputs[:prefix])], *inputs[prefix:]], list(node.output), name=node.name, axis=axis
    )
    return [chained]


def _shapes(graph: onnx.GraphProto) -> dict[str, tuple[int, int, int]]:
    """Tensor name -> (channels, height, width) of 4-D tensors, 0 where unknown (from quant_pre_process)."""
    found = {}
    for info in (*graph.value_info, *graph.input):
        dims = info.type.tensor_type.shape.dim
        if len(dims) == 4:
            c, h, w = (d.dim_value if d.HasField("dim_value") else 0 for d in dims[1:])
            found[info.name] = (c, h, w)
    return found


def _stem_as_space_to_depth(
    node: onnx.NodeProto, init: dict[str, onnx.TensorProto], shape: tuple[int, int, int] | None, graph: onnx.GraphProto
) -> list[onnx.NodeProto] | None:
    """Conv(k x k, stride 2) on <= 4 channels -> SpaceToDepth(2), Conv(~k/2, stride 1); None if not.

    The kernel gets a leading zero tap where the padding before it is odd (so every window starts
    on an even row/column) and trailing zeros up to an even size; the padding moves to the new
    conv, counted in 2x2 blocks. Only an odd input size needs a Pad node (one zero row/column).
    """
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if shape is None or not all(shape) or shape[0] > 4 or node.input[1] not in init:
        return None
    kernel = list(attrs.get("kernel_shape", []))
    if attrs.get("group", 1) != 1 or list(attrs.get("strides", [1, 1])) != [2, 2] or len(kernel) != 2:
        return None
    if any(d != 1 for d in attrs.get("dilations", [1, 1])) or min(kernel) < 5:
        return None
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    axes = [_s2d_axis(shape[1], top, bottom, kernel[0]), _s2d_axis(shape[2], left, right, kernel[1])]
    if any(axis is None for axis in axes):
        return None
    (lead_h, half_h, before_h, after_h, odd_h), (lead_w, half_w, before_w, after_w, odd_w) = axes  # type: ignore[misc]
    weight = numpy_helper.to_array(init[node.input[1]]).astype(np.float32)
    out_ch, in_ch = weight.shape[:2]
    even = np.zeros((out_ch, in_ch, 2 * half_h, 2 * half_w), np.float32)
    even[:, :, lead_h : lead_h + kernel[0], lead_w : lead_w + kernel[1]] = weight
    # SpaceToDepth puts input (c, 2y + by, 2x + bx) at channel (by * 2 + bx) * C + c, position (y, x).
    folded = even.reshape(out_ch, in_ch, half_h, 2, half_w, 2).transpose(0, 3, 5, 1, 2, 4)
    base = f"{node.name}_s2d"
    graph.initializer.append(
        numpy_helper.from_array(folded.reshape(out_ch, 4 * in_ch, half_h, half_w), f"{base}_weight")
    )
    nodes = []
    source = node.input[0]
    if odd_h or odd_w:  # SpaceToDepth needs even sizes: a zero row/column at the end (padding or unread)
        pads = np.array([0, 0, 0, 0, 0, 0, odd_h, odd_w], np.int64)
        graph.initializer.append(numpy_helper.from_array(pads, f"{base}_pads"))
        nodes.append(helper.make_node("Pad", [source, f"{base}_pads"], [f"{base}_padded"], name=f"{base}_Pad"))
        source = f"{base}_padded"
    return [
        *nodes,
        helper.make_node("SpaceToDepth", [source], [f"{base}_in"], name=f"{base}_SpaceToDepth", blocksize=2),
        helper.make_node(
            "Conv",
            [f"{base}_in", f"{base}_weight", *node.input[2:]],
            list(node.output),
            name=node.name,
            kernel_shape=[half_h, half_w],
            pads=[before_h, before_w, after_h, after_w],
        ),
    ]


def _s2d_axis(size: int, before: int, after: int, kernel: int) -> tuple[int, int, int, int, int] | None:
    """One axis of the stem rewrite: (leading zero taps, new kernel, new pad before, new pad after, odd size).

    Output i of the stride-2 conv reads rows 2i - before ... 2i - before + kernel - 1; with ``lead``
    zero taps in front the window starts at 2 (i - (before + lead) / 2), an even row, and covers
    ``half`` blocks. ``after`` in blocks is what makes the output count come out the same.
    """
    outputs = (size + before + after - kernel) // 2 + 1
    lead = before % 2
    half = (lead + kernel + 1) // 2
    blocks = (size + size % 2) // 2
    pad_before = (before + lead) // 2
    pad_after = outputs - 1 + half - blocks - pad_before
    if pad_after < 0 or outputs < 1:
        return None
    return lead, half, pad_before, pad_after, size % 2


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

    from exporter.quant.calibration import BatchReader

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
