"""Trace a PyTorch classifier to ONNX and map every node back to its PyTorch module path.

``torch.onnx.export(dynamo=True)`` names nodes ``node_Conv_758`` and keeps the module path in
each node's ``pkg.torch.onnx.name_scopes`` metadata; its optimizer folds batch norm into the
convolution, leaving the *batch norm's* path on the fused node, which we point back at the
convolution. ONNX Runtime later fuses Conv+Add+ReLU and renames nodes after their output tensor
(``relu_2_nchwc``), so the map also covers output tensors, attributing an activation or residual
add to the convolution it will be fused into.

Example::

    python -m exporter export --model resnet18 --weights random --out /tmp/models
"""

from __future__ import annotations

import ast
import contextlib
import io
import logging
import warnings

import onnx
import torch
from torch import nn

from exporter.errors import ExporterError
from workbench.contract import INPUT_NAME, OUTPUT_NAME, NodeMap

DEFAULT_OPSET = 18
MIN_OPSET = 17
_SCOPES = "pkg.torch.onnx.name_scopes"
_RULES = "pkg.onnxscript.rewriter.rule_name"
# Ops ONNX Runtime fuses into the convolution that produces their input.
_FUSED_INTO_CONV = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "Add", "Sum", "BatchNormalization"}


def export_graph(model: nn.Module, image_size: tuple[int, int], opset: int) -> onnx.ModelProto:
    """The ONNX graph of ``model`` (eval mode) with input ``image`` [batch, 3, H, W] and output ``logits``."""
    if opset < MIN_OPSET:
        raise ExporterError(f"--opset {opset}: opset {MIN_OPSET} or newer is required")
    example = torch.zeros(1, 3, *image_size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    quiet = io.StringIO()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model,
                (example,),
                dynamo=True,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_shapes=({0: batch},),
                opset_version=opset,
                optimize=True,
                verbose=False,
            )
    except Exception as exc:  # torch.export raises many types; report the first line, keep the chain
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExporterError(f"torch.onnx.export failed for {type(model).__name__}: {first}") from exc
    if program is None:
        raise ExporterError("torch.onnx.export returned no program")
    return program.model_proto


def conv_feeding_norms(model: nn.Module, image_size: tuple[int, int]) -> dict[str, str]:
    """Module path of each BatchNorm2d -> path of the Conv2d whose output it normalises."""
    names = {id(m): n for n, m in model.named_modules()}
    produced_by: dict[int, str] = {}
    result: dict[str, str] = {}

    def on_conv(module: nn.Module, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        produced_by[id(output)] = names[id(module)]

    def on_norm(module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
        conv = produced_by.get(id(inputs[0]))
        if conv is not None:
            result[names[id(module)]] = conv

    handles = [
        m.register_forward_hook(on_conv if isinstance(m, nn.Conv2d) else on_norm)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))
    ]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, *image_size))
    finally:
        for h in handles:
            h.remove()
    return result


def build_node_map(graph: onnx.GraphProto, norm_to_conv: dict[str, str]) -> NodeMap:
    """Node names and output tensor names -> PyTorch module paths (see the module docstring)."""
    nodes: dict[str, str] = {}
    producer: dict[str, onnx.NodeProto] = {}
    consumers: dict[str, int] = {}
    for node in graph.node:
        nodes[node.name] = _module_path(node, norm_to_conv)
        for out in node.output:
            producer[out] = node
        for inp in node.input:
            consumers[inp] = consumers.get(inp, 0) + 1
    tensors: dict[str, str] = {}
    for node in graph.node:
        anchor = _fusion_anchor(node, producer, consumers)
        for out in node.output:
            tensors[out] = nodes[anchor.name]
    return NodeMap(nodes=nodes, tensors=tensors)


def strip_node_metadata(graph: onnx.GraphProto) -> None:
    """Drop the exporter's per-node debug metadata (stack traces with local paths); the map replaces it."""
    for node in graph.node:
        del node.metadata_props[:]


def _module_path(node: onnx.NodeProto, norm_to_conv: dict[str, str]) -> str:
    props = {p.key: p.value for p in node.metadata_props}
    try:
        scopes = ast.literal_eval(props.get(_SCOPES, "[]"))
    except (ValueError, SyntaxError):
        scopes = []
    # [``''``, 'layer1', 'layer1.0', 'layer1.0.bn1', '<aten op>']: the module is the one before the op.
    path = scopes[-2] if len(scopes) >= 2 and isinstance(scopes[-2], str) else ""
    if node.op_type == "Conv" and "FuseBatchNormIntoConv" in props.get(_RULES, ""):
        path = norm_to_conv.get(path, path)
    return path


def _fusion_anchor(
    node: onnx.NodeProto, producer: dict[str, onnx.NodeProto], consumers: dict[str, int]
) -> onnx.NodeProto:
    """The Conv that ``node`` will be fused into by ONNX Runtime, or ``node`` itself."""
    current = node
    while current.op_type in _FUSED_INTO_CONV and current.input:
        inputs = [producer[i] for i in current.input if i in producer]
        convs = [p for p in inputs if p.op_type == "Conv" and consumers.get(p.output[0], 0) == 1]
        if convs:
            return convs[0]
        chain = [p for p in inputs if p.op_type in _FUSED_INTO_CONV and consumers.get(p.output[0], 0) == 1]
        if not chain:
            return node
        current = chain[0]
    return node
