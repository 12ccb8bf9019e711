"""The int8 / fp16 branch of ``export``: lower the traced fp32 graph, verify it, record the facts, keep or discard.

Called by :func:`exporter.api.export_model` for ``--precision int8|fp16``. The fp32 graph is first
checked against PyTorch as usual; the lowered file is then verified against PyTorch fp32 with the
precision's rule (:class:`exporter.verify.LoweredVerification`), its golden record is its *own*
answer with a precision-appropriate tolerance, and the node map is extended to the QDQ / Cast nodes.

Example::

    python -m exporter export --default --precision int8
    python -m exporter export --model resnet50 --weights random --precision fp16
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from exporter.errors import VerificationError
from exporter.interrupt import checkpoint
from exporter.quant.calibration import augmentations, calibration_set
from exporter.quant.fallback import lower_int8
from exporter.quant.fp16 import lower_fp16
from exporter.quant.measure import run_logits
from exporter.quant.qdq import Int8Settings, preprocess_for_quantization
from exporter.quant.rewrites import rewrite_for_int8, shared_concat_params
from exporter.quant.summary import LayerNames, conv_counts, summary_lines
from exporter.quant.workspace import Progress, scratch_dir
from exporter.verify import (
    LOWERED_GOLDEN_TOLERANCE,
    LoweredVerification,
    make_golden,
    photo_paths,
    torch_logits,
    verify,
    verify_lowered,
)
from exporter.weights import ResolvedWeights
from workbench.contract import ModelCard, NodeMap, golden_input
from workbench.cpu import cpu_info, int8_saturates
from workbench.imageio import load_image
from workbench.preprocess import Preprocess, preprocess_batch

_TOKEN = re.compile(r"(_token_\d+)+$")
_QDQ_SUFFIXES = ("_QuantizeLinear_Output", "_DequantizeLinear_Output", "_QuantizeLinear", "_DequantizeLinear")


@dataclass(frozen=True)
class Lowered:
    """The lowered model (metadata stamped), its verification and what it was verified on."""

    proto: onnx.ModelProto
    card: ModelCard
    verification: LoweredVerification
    inputs: np.ndarray  # the verification inputs: photos first, then the golden input
    expected: np.ndarray  # PyTorch fp32 logits on them
    n_photos: int

    def check(self, path: Path) -> LoweredVerification:
        """Verify ``path`` (this model as written, metadata stamped) on the same inputs and reference."""
        return verify_lowered(path, self.expected, self.inputs, self.card.precision, self.n_photos)


def verification_inputs(preprocess: Preprocess, crop: tuple[int, int]) -> tuple[np.ndarray, int]:
    """The shipped photos and their crops/flips, then the golden input; returns (batch, number of photos)."""
    images = [a for p in photo_paths() for a in augmentations(load_image(p))]
    photos = preprocess_batch(images, preprocess)
    return np.concatenate([photos, golden_input((1, 3, *crop))]), len(photos)


def lower(
    proto: onnx.ModelProto,
    card: ModelCard,
    resolved: ResolvedWeights,
    crop: tuple[int, int],
    precision: str,
    calibration: Path | None,
    method: str,
    log: Progress,
) -> Lowered:
    """fp32 ``proto`` -> verified int8/fp16 model with its card; raises VerificationError when it fails."""
    inputs, n_photos = verification_inputs(card.preprocess, crop)
    with scratch_dir(log) as folder:
        scratch = Path(folder)
        fp32 = scratch / "fp32.onnx"
        onnx.save(proto, str(fp32))
        base = verify(fp32, resolved.model, inputs[:n_photos], inputs[n_photos:])
        if not base.passed:
            raise VerificationError(f"fp32 graph of {card.architecture} fails before lowering: {base.summary()}")
        lowered = scratch / f"{precision}.onnx"
        if precision == "int8":
            facts = _int8(fp32, lowered, card, calibration, method, inputs, scratch, log)
        else:
            facts = lower_fp16(fp32, lowered)
        checkpoint()
        expected = torch_logits(resolved.model, inputs)
        result = verify_lowered(lowered, expected, inputs, precision, n_photos)
        log(result.summary())
        if not result.passed:
            raise VerificationError(
                f"{precision} export of {card.architecture} failed verification, file not kept. {result.summary()}"
            )
        model = onnx.load(str(lowered))
        own = run_logits(lowered, inputs[n_photos:])
        runtime_graph = optimized_graph(lowered, scratch)
        golden = replace(make_golden(own, crop), tolerance=LOWERED_GOLDEN_TOLERANCE[precision])
    facts = facts | {"verification": result.describe()}
    if precision == "int8":
        lines = summary_lines(facts)
        for line in lines:
            log(line)
        facts = facts | {"summary": lines[0].removeprefix("int8: ")}
    new_card = replace(
        card,
        precision=precision,
        quantization=facts,
        node_map=extend_node_map(extend_node_map(card.node_map, model.graph), runtime_graph),
        golden=golden,
    )
    return Lowered(model, new_card, result, inputs, expected, n_photos)


def _int8(
    fp32: Path,
    out: Path,
    card: ModelCard,
    calibration: Path | None,
    method: str,
    inputs: np.ndarray,
    scratch: Path,
    log: Progress,
) -> dict[str, Any]:
    pre = scratch / "pre.onnx"
    preprocess_for_quantization(fp32, pre)
    rewrites = rewrite_for_int8(pre)
    graph = onnx.load(str(pre), load_external_data=False).graph
    names = LayerNames(extend_node_map(card.node_map, graph), {n.name: i for i, n in enumerate(graph.node)})
    calib = calibration_set(calibration, card.preprocess)
    log(f"int8: calibrating on {calib.batch.shape[0]} images from {calib.source} ({method})")
    for reason in calib.skipped:
        log(f"int8: calibration image left out: {reason}")
    settings = Int8Settings(method=method, overrides=shared_concat_params(pre, calib.batch, scratch))
    evaluation = np.concatenate([calib.batch, inputs])
    if int8_saturates():
        log(f"int8: note: this CPU ({cpu_info()[0]}) has AVX2 but no VNNI or AMX: its int8 sums saturate, so the "
            "accuracy measured here (and the fp32 fallbacks chosen by it) is lower than on CPUs with them")  # fmt: skip
    fallbacks, score, rounds = lower_int8(pre, out, calib.batch, evaluation, settings, scratch, log, names)
    measured_on = {"cpu": cpu_info()[0], "cpu_features": list(cpu_info()[1]), "int8_saturates": int8_saturates()}
    return settings.describe() | {
        "calibration": calib.describe(),
        "rewrites": {
            "BatchNormalization -> depthwise 1x1 Conv": rewrites["BatchNormalization"],
            "AveragePool (counting padding) -> depthwise Conv": rewrites["AveragePool"],
            "stride-2 stem Conv -> SpaceToDepth + stride-1 Conv": rewrites["Conv"],
            "Concat of an earlier Concat's inputs + more -> Concat of its output + more": rewrites["Concat"],
        },
        "fp32_fallback": [f.describe(names) for f in fallbacks],
        "fp32_fallback_rounds": rounds,
        "convolutions": conv_counts(graph, {n for f in fallbacks for n in f.nodes}),
        "vs_fp32_onnx": score | {"inputs": "calibration images + verification photos", "measured_on": measured_on},
    }


def extend_node_map(node_map: NodeMap, graph: onnx.GraphProto) -> NodeMap:
    """Map the QDQ / Cast nodes the lowering added back to modules (via their tensor or their consumer)."""
    nodes, tensors = dict(node_map.nodes), dict(node_map.tensors)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in reversed(graph.node):  # consumers first, so chains of new nodes resolve
        if nodes.get(node.name):
            continue
        module = _module_of_new_node(node, nodes, tensors, consumers)
        if module:
            nodes[node.name] = module
            for out in node.output:
                tensors.setdefault(out, module)
    return NodeMap(nodes=nodes, tensors=tensors)


def _module_of_new_node(
    node: onnx.NodeProto, nodes: dict[str, str], tensors: dict[str, str], consumers: dict[str, list[onnx.NodeProto]]
) -> str | None:
    original = _TOKEN.sub("", node.name)  # ORT names a fused QDQ group after its target: node_Conv_7_token_3
    if original != node.name and nodes.get(original):
        return nodes[original]
    for name in (*node.output, node.name, *node.input):
        base = name
        for suffix in _QDQ_SUFFIXES:
            base = base.removesuffix(suffix)
        if tensors.get(base):
            return tensors[base]
    for out in node.output:
        for consumer in consumers.get(out, []):
            if nodes.get(consumer.name):
                return nodes[consumer.name]
    return None


def optimized_graph(path: Path, scratch: Path) -> onnx.GraphProto:
    """The graph as ONNX Runtime (CPU, all optimisations) runs it: its node names are what profiling shows."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(scratch / "runtime.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return onnx.load(str(scratch / "runtime.onnx"), load_external_data=False).graph
