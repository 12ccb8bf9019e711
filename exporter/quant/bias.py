"""Bias correction for int8 weights: cancel the mean output shift that rounding the weights causes.

Rounding a layer's weights to int8 changes its output by ``(W_q - W) x``; averaged over real inputs
this error is not zero, and a shifted mean travels through every later layer (Nagel et al., "Data-Free
Quantization Through Weight Equalization and Bias Correction", ICCV 2019, section 4.2). Here the
expected input of every quantized Conv / Gemm is measured on the calibration images with the fp32
model, and the layer's bias is lowered by ``E[(W_q - W) x]`` per output channel. Convolution is
linear, so ``E[conv(x, dW)] = conv(E[x], dW)``, padding included: one small convolution per layer.

On EfficientNet-Lite0 (depthwise convolutions, where this matters most) it raises the int8 output
SQNR against fp32 by about 5 dB.

Example::

    python -m exporter export --default --precision int8     # the metadata lists "bias_correction"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper

CHUNK = 4
_INT32 = np.iinfo(np.int32)


def input_means(model: onnx.ModelProto, tensors: Iterable[str], batch: np.ndarray) -> dict[str, np.ndarray]:
    """Mean over ``batch`` of each named tensor of the fp32 ``model`` (shape without the batch axis)."""
    names = list(dict.fromkeys(tensors))
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in names)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0].name
    sums: list[np.ndarray] = []
    for start in range(0, len(batch), CHUNK):
        outs = session.run(names, {feed: batch[start : start + CHUNK]})
        sums = (
            [o.astype(np.float64).sum(axis=0) for o in outs]
            if not sums
            else [s + o.astype(np.float64).sum(axis=0) for s, o in zip(sums, outs, strict=True)]
        )
    return {name: total / len(batch) for name, total in zip(names, sums, strict=True)}


def layer_input_means(pre_path: Path, calibration: np.ndarray) -> dict[str, np.ndarray]:
    """Mean input of every Conv/Gemm of the fp32 model on the calibration images, by tensor name.

    It depends only on the fp32 model and the images: compute it once per export and pass it to
    every :func:`correct_bias` (the fallback search quantizes several times).
    """
    fp32 = onnx.load(str(pre_path))
    weights = {i.name for i in fp32.graph.initializer}
    tensors = [n.input[0] for n in fp32.graph.node if n.op_type in ("Conv", "Gemm") and n.input[1] in weights]
    return input_means(fp32, tensors, calibration) if tensors else {}


def correct_bias(pre_path: Path, qdq_path: Path, means: Mapping[str, np.ndarray]) -> int:
    """Rewrite ``qdq_path`` with bias-corrected Conv/Gemm layers; returns how many layers were corrected.

    ``means`` comes from :func:`layer_input_means` of the same fp32 model.
    """
    fp32 = onnx.load(str(pre_path))
    qdq = onnx.load(str(qdq_path))
    weights = {i.name: i for i in fp32.graph.initializer}
    inits = {i.name: i for i in qdq.graph.initializer}
    producer = {out: node for node in qdq.graph.node for out in node.output}
    originals = {node.name: node for node in fp32.graph.node}
    layers = [
        (node, originals[node.name])
        for node in qdq.graph.node
        if node.op_type in ("Conv", "Gemm")
        and len(node.input) > 2
        and node.name in originals
        and originals[node.name].input[1] in weights
        and originals[node.name].input[0] in means
        and _dequantized_initializer(producer.get(node.input[1]), inits)
    ]
    if not layers:
        return 0
    corrected = 0
    for node, original in layers:
        w = numpy_helper.to_array(weights[original.input[1]]).astype(np.float32)
        w_q = _dequantize(producer[node.input[1]], inits, w.shape)
        shift = _output_shift(node, w_q - w, means[original.input[0]])
        corrected += _lower_bias(node.input[2], shift, producer, inits)
    onnx.save(qdq, str(qdq_path))
    return corrected


def _dequantized_initializer(node: onnx.NodeProto | None, inits: dict[str, onnx.TensorProto]) -> bool:
    return node is not None and node.op_type == "DequantizeLinear" and all(i in inits for i in node.input)


def _dequantize(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto], shape: tuple[int, ...]) -> np.ndarray:
    """The float weights a DequantizeLinear of an initializer produces (per-tensor or per-channel)."""
    values = numpy_helper.to_array(inits[node.input[0]]).astype(np.float32)
    scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
    zero: np.ndarray = (
        numpy_helper.to_array(inits[node.input[2]]).astype(np.float32) if len(node.input) > 2 else np.zeros(1)
    )
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    if scale.ndim == 1 and scale.size > 1:
        view = [1] * values.ndim
        view[axis] = -1
        scale, zero = scale.reshape(view), zero.reshape(view)
    return ((values - zero) * scale).reshape(shape)


def _output_shift(node: onnx.NodeProto, delta: np.ndarray, mean_input: np.ndarray) -> np.ndarray:
    """E[layer(x; delta)] per output channel, from the mean input (exact: the layer is linear)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Gemm":
        matrix = delta if attrs.get("transB", 0) else delta.T
        return matrix @ mean_input.reshape(-1)
    top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
    x = F.pad(torch.from_numpy(mean_input.astype(np.float32))[None], (left, right, top, bottom))
    y = F.conv2d(
        x,
        torch.from_numpy(delta),
        stride=list(attrs.get("strides", [1, 1])),
        dilation=list(attrs.get("dilations", [1, 1])),
        groups=int(attrs.get("group", 1)),
    )
    return y[0].mean(dim=(1, 2)).double().numpy()


def _lower_bias(
    name: str, shift: np.ndarray, producer: dict[str, onnx.NodeProto], inits: dict[str, onnx.TensorProto]
) -> int:
    """Subtract ``shift`` from the bias ``name`` (an int32 DequantizeLinear input or a float initializer)."""
    node = producer.get(name)
    if node is not None and _dequantized_initializer(node, inits):
        stored = inits[node.input[0]]
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        values = numpy_helper.to_array(stored).astype(np.int64) - np.round(shift / scale).astype(np.int64)
        stored.CopyFrom(numpy_helper.from_array(np.clip(values, _INT32.min, _INT32.max).astype(np.int32), stored.name))
        return 1
    if node is None and name in inits:
        stored = inits[name]
        values = numpy_helper.to_array(stored).astype(np.float64) - shift
        stored.CopyFrom(numpy_helper.from_array(values.astype(numpy_helper.to_array(stored).dtype), stored.name))
        return 1
    return 0
