"""The int8 tools on hand-built graphs: bias correction, fp32 fallback that ONNX Runtime keeps, the
weight-sensitivity ranking, and the exact stem and Concat-chain rewrites.

Run: ``pytest tests/exporter/quant/test_quant_parts.py -q``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporter.quant.fallback import leading_layers, weight_sensitivity
from exporter.quant.measure import run_logits
from exporter.quant.qdq import Int8Settings, quantize_qdq
from exporter.quant.rewrites import rewrite_for_int8
from workbench.contract import INPUT_NAME
from workbench.cpu import cpu_info

pytestmark = pytest.mark.usefixtures("private_cache")  # every test gets its own optimized-model cache

RNG = np.random.default_rng(7)
VNNI = bool({"avx512_vnni", "avx_vnni", "amx_int8"} & set(cpu_info()[1]))


def _convs(path: Path, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray) -> Path:
    """image (N,3,8,8) -> conv0 1x1 (identity) -> Relu -> conv1 3x3 -> Relu -> conv2 1x1 -> flatten 'logits'."""
    inits = [
        numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w0"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b0"),
        numpy_helper.from_array(w1.astype(np.float32), "w1"),
        numpy_helper.from_array(b1.astype(np.float32), "b1"),
        numpy_helper.from_array(w2.astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(w2.shape[0], np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", [INPUT_NAME, "w0", "b0"], ["c0"], name="conv0"),
        helper.make_node("Relu", ["c0"], ["r0"], name="relu0"),
        helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node("Flatten", ["c2"], ["logits"], name="flatten"),
    ]
    graph = helper.make_graph(
        nodes,
        "three_convs",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def _images(n: int = 16) -> np.ndarray:
    return RNG.uniform(0.0, 1.0, (n, 3, 8, 8)).astype(np.float32)  # positive mean, like post-ReLU inputs


def _qdq_arithmetic(model: Path, batch: np.ndarray) -> np.ndarray:
    """``model``'s logits as the ONNX spec defines its QDQ graph: DequantizeLinear, then float Conv (no
    optimisations, so no int8 kernels: without VNNI those saturate u8 x s8 pair sums at int16)."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {INPUT_NAME: batch})[0])


def test_bias_correction_removes_the_mean_shift_of_rounded_weights(tmp_path: Path) -> None:
    # Weights whose int8 rounding errors all lean one way within each channel: a clear mean shift.
    w1 = np.full((4, 3, 3, 3), 0.0131, np.float32)
    w1[:, 0, 0, 0] = 1.0  # sets the scale (1/127): 0.0131 rounds to 2/127 = 0.01575 everywhere else
    fp32 = _convs(tmp_path / "fp32.onnx", w1, np.zeros(4), RNG.normal(0, 1, (2, 4, 1, 1)))
    batch = _images()
    reference = run_logits(fp32, batch)
    exact, kernels = {}, {}
    for correct in (False, True):
        out = tmp_path / f"int8-{correct}.onnx"
        quantize_qdq(fp32, out, batch, Int8Settings(bias_correction=correct))
        exact[correct] = abs(float(np.mean(_qdq_arithmetic(out, batch) - reference)))
        kernels[correct] = abs(float(np.mean(run_logits(out, batch) - reference)))
    assert exact[True] < exact[False] / 100, exact  # the shift is computed exactly: nearly all of it goes
    if VNNI:  # ONNX Runtime's int8 kernels compute that arithmetic exactly only with VNNI (or AMX)
        assert kernels[True] < kernels[False] / 5, kernels


def test_an_fp32_fallback_stays_fp32_when_onnx_runtime_loads_the_file(tmp_path: Path) -> None:
    # One weight of conv1 is 300x the rest: per-tensor int8 (what ORT's WeightBiasQuantization applies
    # to a float Conv between QDQ nodes when the session is created) would round the others coarsely.
    w1 = RNG.normal(0, 1, (2, 3, 3, 3)).astype(np.float32)
    w1[0, 0, 0, 0] = 300.0
    fp32 = _convs(tmp_path / "fp32.onnx", w1, np.array([0.0, 0.5]), RNG.normal(0, 1, (2, 2, 1, 1)))
    batch = _images()
    out = tmp_path / "int8.onnx"
    quantize_qdq(fp32, out, batch, Int8Settings(exclude=("conv1",), bias_correction=False))
    as_written = _run(out, batch, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)  # the graph's own numerics
    as_loaded = _run(out, batch, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)  # what the app runs
    relative = float(np.abs(as_loaded - as_written).max() / np.abs(as_written).max())
    assert relative < 0.01, relative  # 0.0 here; 0.04 without exporter.quant.keep_float (ORT 1.31)
    graph = onnx.load(str(out)).graph
    producers = {o: n.op_type for n in graph.node for o in n.output}
    conv1 = next(n for n in graph.node if n.name == "conv1")
    assert conv1.input[1] == "w1" and producers.get(conv1.input[2]) == "DequantizeLinear"


def _run(path: Path, batch: np.ndarray, level: ort.GraphOptimizationLevel) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: batch})[0]


def test_weight_sensitivity_ranks_the_layer_whose_rounding_costs_most_first(tmp_path: Path) -> None:
    w1 = RNG.normal(0, 1, (2, 3, 3, 3)).astype(np.float32)
    w1[0, 0, 0, 0] = 300.0  # one huge weight: every other weight of channel 0 rounds coarsely
    w2 = RNG.normal(0, 1, (2, 2, 1, 1)).astype(np.float32)
    fp32 = _convs(tmp_path / "fp32.onnx", w1, np.zeros(2), w2)
    ranked = weight_sensitivity(fp32, _images(4))
    assert ranked and ranked[0].node == "conv1" and ranked[0].op_type == "Conv"
    assert "conv0" not in {f.node for f in ranked}  # an identity rounds exactly: no cost
    assert "output SQNR" in ranked[0].describe()["reason"]


def test_leading_layers_are_the_stem_and_first_block_and_stay_fp32(tmp_path: Path) -> None:
    fp32 = _convs(tmp_path / "fp32.onnx", RNG.normal(0, 1, (2, 3, 3, 3)), np.zeros(2), RNG.normal(0, 1, (2, 2, 1, 1)))
    (candidate,) = leading_layers(fp32)
    assert candidate.node == "conv1" and set(candidate.nodes) == {"conv0", "relu0", "conv1", "relu1"}
    assert candidate.label.startswith("conv1 (Conv with ") and "conv0" in candidate.label  # what the log shows
    out = tmp_path / "int8.onnx"
    quantize_qdq(fp32, out, _images(), Int8Settings(exclude=candidate.nodes, bias_correction=False))
    graph = onnx.load(str(out)).graph
    weights = {n.name: n.input[1] for n in graph.node if n.op_type == "Conv"}
    assert weights["conv0"] == "w0" and weights["conv1"] == "w1", "leading convs keep their float weights"
    assert weights["conv2"] != "w2", "the rest is quantized"


@pytest.mark.parametrize(
    ("height", "width", "kernel", "pads"),
    [(224, 224, 7, 3), (17, 23, 7, 3), (20, 21, 5, 0), (32, 30, 5, 2), (31, 32, 6, 1)],
)
def test_stem_rewrite_to_space_to_depth_is_exact(
    tmp_path: Path, height: int, width: int, kernel: int, pads: int
) -> None:
    weight = RNG.normal(0, 1, (8, 3, kernel, kernel)).astype(np.float32)
    stem = helper.make_node(
        "Conv",
        [INPUT_NAME, "w", "b"],
        ["y"],
        name="stem",
        kernel_shape=[kernel, kernel],
        strides=[2, 2],
        pads=[pads] * 4,
    )
    graph = helper.make_graph(
        [stem],
        "stem",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, height, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(RNG.normal(0, 1, 8).astype(np.float32), "b")],
    )
    path = tmp_path / "stem.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), str(path))
    batch = RNG.normal(0, 1, (2, 3, height, width)).astype(np.float32)
    before = run_logits(path, batch)
    assert rewrite_for_int8(path)["Conv"] == 1
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    # the padding moves into the new Conv; only an odd input size needs a Pad (one zero row/column)
    assert ops == (["Pad"] if height % 2 or width % 2 else []) + ["SpaceToDepth", "Conv"]
    after = run_logits(path, batch)
    assert after.shape == before.shape
    assert np.abs(after - before).max() <= 1e-5 * np.abs(before).max()


def test_dense_block_concats_are_chained_exactly(tmp_path: Path) -> None:
    """Each layer's Concat of all features so far reads the previous layer's Concat instead."""
    inits, nodes, features = [], [], [INPUT_NAME]
    for layer in range(3):
        channels = 3 + 2 * layer
        inits.append(numpy_helper.from_array(RNG.normal(0, 1, (2, channels, 1, 1)).astype(np.float32), f"w{layer}"))
        source = INPUT_NAME if layer == 0 else f"cat{layer}"
        nodes.append(helper.make_node("Conv", [source, f"w{layer}"], [f"y{layer}"], name=f"conv{layer}"))
        features.append(f"y{layer}")
        nodes.append(helper.make_node("Concat", features, [f"cat{layer + 1}"], name=f"cat{layer + 1}", axis=1))
    # the same inputs in another order or along another axis are not a prefix to reuse
    nodes.append(helper.make_node("Concat", [features[1], features[0], "y2"], ["shuffled"], name="shuffled", axis=1))
    nodes.append(helper.make_node("Concat", [*features[:2], "y2"], ["skip"], name="skip", axis=1))
    nodes.append(helper.make_node("Concat", ["y0", "y1"], ["pair"], name="pair", axis=1))
    nodes.append(helper.make_node("Concat", ["y0", "y1", "y2"], ["rows"], name="rows", axis=2))
    outputs = ["cat3", "shuffled", "skip", "pair", "rows"]
    graph = helper.make_graph(
        nodes,
        "dense_block",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, 4, 4])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        inits,
    )
    path = tmp_path / "block.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), str(path))
    batch = {INPUT_NAME: RNG.normal(0, 1, (2, 3, 4, 4)).astype(np.float32)}
    before = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(outputs, batch)
    assert rewrite_for_int8(path)["Concat"] == 3
    concats = {n.name: list(n.input) for n in onnx.load(str(path)).graph.node if n.op_type == "Concat"}
    assert concats == {
        "cat1": [INPUT_NAME, "y0"],
        "cat2": ["cat1", "y1"],
        "cat3": ["cat2", "y2"],
        "shuffled": ["y0", INPUT_NAME, "y2"],
        "skip": ["cat1", "y2"],
        "pair": ["y0", "y1"],
        "rows": ["y0", "y1", "y2"],
    }
    after = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(outputs, batch)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
