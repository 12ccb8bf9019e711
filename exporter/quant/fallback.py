"""Find the layers whose int8 quantization hurts accuracy and keep them in fp32 (automatic fallback).

When the model's output SQNR is below the target, the stem and first block are tried first
(:func:`leading_layers`): noise added there is amplified by every later layer. Then ONNX Runtime's
QDQ debugging tools are used (``onnxruntime.quantization.qdq_loss_debug``): every
intermediate activation of the QDQ model is compared with the fp32 model's on a few calibration
images (SQNR in dB). A node is *harmful* when its output's SQNR is low and much lower than that of
its inputs (the loss happens at this node, not upstream). When no node is harmful that way, layers
are ranked by weight sensitivity instead: the model's output SQNR when only that layer's weights are
rounded to int8 (a small error early on can be amplified by everything after it). The worst ones are
excluded, the model is quantized again, and the exclusion is kept only when the output SQNR against
fp32 improves. :mod:`exporter.quant.keep_float` makes sure ONNX Runtime does not quantize them again.

Example::

    python -m exporter export --model densenet121 --weights random --precision int8   # prints the fallbacks
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization.qdq_loss_debug import (
    collect_activations,
    compute_activation_error,
    create_activation_matching,
    modify_model_output_intermediate_tensors,
)

from exporter.interrupt import checkpoint
from exporter.progress import Steps
from exporter.quant.bias import layer_input_means
from exporter.quant.calibration import BatchReader
from exporter.quant.measure import agreement, run_logits
from exporter.quant.qdq import INT8_OPS, Int8Settings, quantize_qdq
from exporter.quant.summary import LayerNames
from exporter.quant.workspace import Progress

DEBUG_IMAGES = 4
LOCAL_DROP_DB = 6.0  # the node itself loses at least this much SQNR ...
LOW_SQNR_DB = 20.0  # ... and its output ends below this
PER_ROUND = 3
MAX_ROUNDS = 4
MIN_GAIN_DB = 0.5
TARGET_SQNR_DB = 30.0
SENSITIVE_SQNR_DB = 40.0  # weight-sensitivity candidates: layers below this alone
SENSITIVITY_IMAGES = 8


@dataclass(frozen=True)
class Fallback:
    """A node kept in fp32 and why."""

    node: str
    op_type: str
    finding: str  # what the analysis found about this node
    gain_db: float = 0.0
    also: tuple[str, ...] = ()  # unquantized producers fused with it (the Conv before a Clip)
    search: str = ""  # which analysis found it: "first layers", "activation analysis", "weight sensitivity"

    @property
    def nodes(self) -> tuple[str, ...]:
        return (self.node, *self.also)

    @property
    def label(self) -> str:
        """``node (Conv with a, b)`` for the export's log."""
        return f"{self.node} ({self.op_type}{' with ' + ', '.join(self.also) if self.also else ''})"

    def named(self, names: LayerNames | None) -> str:
        """``layer1.0.conv1 (Conv with conv1, relu)``: by module when ``names`` knows them, else :attr:`label`."""
        if names is None:
            return self.label
        head = names.label(self.node)
        others = [m for m in names.modules(self.also) if m != head]
        return f"{head} ({self.op_type}{' with ' + ', '.join(others) if others else ''})"

    def describe(self, names: LayerNames | None = None) -> dict[str, Any]:
        """What ``workbench.quantization.fp32_fallback`` records: the nodes and, with ``names``, their modules."""
        facts: dict[str, Any] = {
            "node": self.node,
            "op_type": self.op_type,
            "with": list(self.also),
            "reason": f"{self.finding}; keeping it fp32 raised the model's output SQNR by {self.gain_db:.1f} dB",
            "search": self.search,
        }
        if names is not None:
            facts |= {
                "module": names.module(self.node),
                "with_modules": [names.module(n) for n in self.also],
                "modules": names.modules(self.nodes),
            }
        return facts


def harmful_nodes(pre_path: Path, qdq_path: Path, batch: np.ndarray, scratch: Path) -> list[Fallback]:
    """Quantized nodes ranked by how much SQNR they lose themselves (worst first)."""
    float_aug, qdq_aug = scratch / "float_aug.onnx", scratch / "qdq_aug.onnx"
    modify_model_output_intermediate_tensors(str(pre_path), str(float_aug))
    modify_model_output_intermediate_tensors(str(qdq_path), str(qdq_aug))
    sample = batch[:DEBUG_IMAGES]
    float_acts = collect_activations(str(float_aug), BatchReader(sample, 1))
    qdq_acts = collect_activations(str(qdq_aug), BatchReader(sample, 1))
    errors = compute_activation_error(create_activation_matching(qdq_acts, float_acts))
    sqnr = {name: e["xmodel_err"] for name, e in errors.items() if "xmodel_err" in e}
    graph = onnx.load(str(pre_path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def upstream(tensor: str, depth: int = 0) -> float:
        """SQNR where ``tensor`` was last quantized (through unquantized producers such as a Conv before Clip)."""
        if tensor in sqnr:
            return _finite(sqnr[tensor])
        node = producer.get(tensor)
        if node is None or depth > 4:
            return 99.0
        return min((upstream(i, depth + 1) for i in node.input), default=99.0)

    found: list[tuple[float, Fallback]] = []
    for node in graph.node:
        if node.op_type not in INT8_OPS or not node.output or node.output[0] not in sqnr:
            continue
        out = _finite(sqnr[node.output[0]])
        before = min((upstream(i) for i in node.input), default=99.0)
        if out < LOW_SQNR_DB and before - out >= LOCAL_DROP_DB:
            fused = [producer[i].name for i in node.input if i in producer and i not in sqnr]
            finding = f"int8 output SQNR {out:.1f} dB vs {before:.1f} dB at its inputs"
            fallback = Fallback(node.name, node.op_type, finding, also=tuple(fused), search="activation analysis")
            found.append((out - before, fallback))
    return [f for _, f in sorted(found, key=lambda pair: pair[0])]


def leading_layers(pre_path: Path) -> list[Fallback]:
    """The stem and the first block (every node up to the second Conv and its activation) as one candidate.

    Quantization noise added this early is amplified by every layer after it: EfficientNet-Lite0 turns
    input noise of a quarter grey level (~51 dB) into ~24 dB at its output, so its int8 stem and first
    depthwise conv alone cost ~3 dB on held-out photos, although each layer loses little locally.
    """
    nodes = list(onnx.load(str(pre_path), load_external_data=False).graph.node)
    convs = [i for i, node in enumerate(nodes) if node.op_type == "Conv"]
    if len(convs) < 2:
        return []
    end = convs[1]
    second = nodes[end]
    after = nodes[end + 1] if end + 1 < len(nodes) else None
    if after is not None and after.op_type in ("Relu", "Clip") and second.output[0] in after.input:
        end += 1
    also = tuple(node.name for node in nodes[: end + 1] if node.name != second.name)
    finding = (
        f"the first two convolutions ({end + 1} nodes from the input): early noise is amplified by every later layer"
    )
    return [Fallback(second.name, second.op_type, finding, also=also, search="first layers")]


def weight_sensitivity(pre_path: Path, batch: np.ndarray) -> list[Fallback]:
    """Conv/Gemm layers whose weights alone, rounded to int8, cost the model most output SQNR (worst first).

    Harmful-node analysis sees where activations lose precision; a layer whose small weight error is
    amplified by everything after it (EfficientNet-Lite0's first depthwise conv) only shows here.
    """
    model = onnx.load(str(pre_path))
    inits = {i.name: i for i in model.graph.initializer}
    reference = run_logits(model.SerializeToString(), batch)
    ranked: list[tuple[float, Fallback]] = []
    for node in model.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2 or node.input[1] not in inits:
            continue
        original = onnx.TensorProto()
        original.CopyFrom(inits[node.input[1]])
        inits[node.input[1]].CopyFrom(
            numpy_helper.from_array(_round_int8(numpy_helper.to_array(original)), original.name)
        )
        sqnr = _finite(agreement(reference, run_logits(model.SerializeToString(), batch))["sqnr_db"])
        inits[node.input[1]].CopyFrom(original)
        if sqnr < SENSITIVE_SQNR_DB:
            finding = f"with only its weights in int8 the model's output SQNR is {sqnr:.1f} dB"
            ranked.append((sqnr, Fallback(node.name, node.op_type, finding, search="weight sensitivity")))
    return [f for _, f in sorted(ranked, key=lambda pair: pair[0])]


def _round_int8(weights: np.ndarray) -> np.ndarray:
    """Per-output-channel symmetric int8 rounding, as quantize_static does it, back in float."""
    axes = tuple(range(1, weights.ndim))
    scale = np.abs(weights).max(axis=axes, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return (np.clip(np.round(weights / scale), -127, 127) * scale).astype(weights.dtype)


def lower_int8(
    pre_path: Path,
    out_path: Path,
    calibration: np.ndarray,
    evaluation: np.ndarray,
    settings: Int8Settings,
    scratch: Path,
    log: Progress,
    names: LayerNames | None = None,
) -> tuple[list[Fallback], dict[str, float], int]:
    """Quantize, then keep harmful nodes in fp32 while that helps; returns the fallbacks, final agreement, rounds.

    ``names`` (the export's node map) names layers by module in the log; without it, by ONNX node.
    """
    reference = run_logits(pre_path, evaluation)
    means = layer_input_means(pre_path, calibration) if settings.bias_correction else None
    quantize_qdq(pre_path, out_path, calibration, settings, means, progress="int8: calibration")
    score = agreement(reference, run_logits(out_path, evaluation))
    log(f"int8: top-1 agreement {score['top1_agreement']:.1%}, output SQNR {score['sqnr_db']:.1f} dB vs fp32")
    kept: list[Fallback] = []
    tried = set(settings.exclude)
    ranking: list[Fallback] | None = None
    leading = leading_layers(pre_path) if score["sqnr_db"] < TARGET_SQNR_DB else []
    search = Steps("int8: fp32-fallback search", MAX_ROUNDS, unit="round")
    rounds = 0
    for round_ in range(MAX_ROUNDS):
        checkpoint()
        if score["sqnr_db"] >= TARGET_SQNR_DB and score["top1_agreement"] == 1.0:
            break
        chosen = [f for f in leading if f.node not in tried]
        if not chosen:
            chosen = [f for f in harmful_nodes(pre_path, out_path, calibration, scratch) if f.node not in tried]
        if not chosen:
            if ranking is None:
                ranking = weight_sensitivity(pre_path, calibration[:SENSITIVITY_IMAGES])
            chosen = [f for f in ranking if f.node not in tried]
        chosen = chosen[:PER_ROUND]
        if not chosen:
            break
        tried.update(n for f in chosen for n in f.nodes)
        excluded = [n for f in (*kept, *chosen) for n in f.nodes]
        trial_settings = replace(settings, exclude=(*settings.exclude, *excluded))
        trial = scratch / "trial.onnx"
        rounds += 1
        shown = ", ".join(f.named(names) for f in chosen)
        search.step(f"trying {shown} in fp32")
        quantize_qdq(pre_path, trial, calibration, trial_settings, means, f"round {round_ + 1}: calibration", False)
        trial_score = agreement(reference, run_logits(trial, evaluation))
        gain = trial_score["sqnr_db"] - score["sqnr_db"]
        if gain < MIN_GAIN_DB and trial_score["top1_agreement"] <= score["top1_agreement"]:
            log(f"int8: keeping {shown} in fp32 would gain only {gain:.1f} dB; left in int8")
            continue
        log(f"int8: fp32 fallback for {shown}: output SQNR {score['sqnr_db']:.1f} -> {trial_score['sqnr_db']:.1f} dB")
        share = gain / len(chosen)
        kept.extend(replace(f, gain_db=share) for f in chosen)
        trial.replace(out_path)
        score = trial_score
    search.close()
    return kept, score, rounds


def _finite(value: float) -> float:
    return 99.0 if not math.isfinite(value) else float(value)
