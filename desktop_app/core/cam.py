"""Class activation maps (CAM) from an ONNX file alone: no gradients, no torch, the file on disk untouched.

A classifier that ends in global average pooling and a linear layer computes
``logit_c = sum_k w[c, k] * mean(F_k) + b_c``, so ``CAM_c = sum_k w[c, k] * F_k`` shows where on the last
feature map ``F`` the evidence for class ``c`` lies (Zhou et al., 2016). The bias ``b_c`` is the same at
every position and is left out (after scaling to [0, 1] it would change nothing anyway).

* :func:`find_cam_head` walks the graph back from its output: the classifier (``Gemm``, or ``MatMul`` with an
  optional ``Add``), through ``Flatten`` / ``Reshape`` / ``Squeeze`` / ``Dropout`` / ``Identity`` / ``Cast`` and
  int8 ``QuantizeLinear``/``DequantizeLinear`` pairs, to a ``GlobalAveragePool`` or a ``ReduceMean`` over H, W.
  The classifier's weights come from the initializers (dequantized for int8 QDQ files, upcast for fp16,
  ``transB`` and ``alpha`` applied). Anything else (VGG's fully connected head) is :class:`CamUnsupportedError`.
* :func:`open_cam_session` opens an in-memory copy of the graph that also outputs that feature map, on the
  same providers the app would use (external data read from the model's own folder only).
* :func:`class_activation_map` runs it on an image and maps the CAM back onto the original image's pixel grid
  through the preprocessing's resize and centre crop (:func:`map_to_image`): NaN where the crop did not see.
  ``method="contrastive"`` weights the feature maps by ``w_c - sum_j p_j w_j`` instead (Grad-CAM of the
  class's log-probability, exact for this head): what makes the class likelier than the others, the map that
  the deletion check measures best (docs/explain.md).

Example::

    python -c "from PIL import Image; from desktop_app.core.catalog import inspect_model; \\
from desktop_app.core.cam import class_activation_map; e = inspect_model('model.onnx'); \\
r = class_activation_map(e, Image.open('cat.jpg').convert('RGB')); print(r.label, r.probability, r.map.shape)"
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnx.external_data_helper import load_external_data_for_model
from PIL import Image

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.providers import (
    CPU_EP,
    CUDA_EP,
    ORT_ERRORS,
    cuda_start_failure,
    default_session_options,
    one_line,
    requested_providers,
)
from workbench.modelfile import ModelFileError, check_external_data
from workbench.preprocess import Preprocess, preprocess_image, resized_size

__all__ = [
    "CAM_METHODS",
    "CamHead",
    "CamResult",
    "CamSession",
    "CamUnsupportedError",
    "class_activation_map",
    "crop_box",
    "explain_with_cam",
    "find_cam_head",
    "map_to_image",
    "open_cam_session",
]

#: Ops passed through on the way from the classifier back to the pooling (they keep the channel vector).
_PASS_THROUGH = {"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Dropout", "Identity", "Cast"}
_QDQ = {"QuantizeLinear", "DequantizeLinear"}
#: The maps this module makes: the class activation map, and its contrastive (log-probability) form.
CAM_METHODS = ("cam", "contrastive")


class CamUnsupportedError(ValueError):
    """The file does not end in global average pooling + a linear classifier; ``str(err)`` names file and why."""


@dataclass(frozen=True)
class CamHead:
    """Where CAM reads from: the last feature map's tensor name, its channel axis, and the classifier."""

    feature: str  # tensor name of F (the input of the global average pooling)
    channel_axis: int  # 1 for NCHW feature maps, 3 for NHWC (ReduceMean over axes 1, 2)
    weights: np.ndarray = field(repr=False)  # [classes, channels] float32, alpha applied
    bias: np.ndarray | None = field(default=None, repr=False)  # [classes] float32 (unused by CAM, kept for checks)


@dataclass(frozen=True)
class CamSession:
    """An in-memory copy of a model that also outputs its last feature map."""

    entry: ModelEntry
    head: CamHead
    session: ort.InferenceSession = field(repr=False)
    providers: tuple[str, ...]


@dataclass(frozen=True)
class CamResult:
    """A class map on the original image's pixel grid (H x W float32 in [0, 1], NaN where the crop did not see)."""

    map: np.ndarray = field(repr=False)
    class_index: int
    label: str
    probability: float
    method: str = "cam"
    grid: np.ndarray | None = field(default=None, repr=False)  # raw map on the map's own grid, before mapping back


def _fail(path: Path, why: str) -> CamUnsupportedError:
    return CamUnsupportedError(f"{path.name}: no class activation map: {why}")


def load_full_model(path: Path) -> onnx.ModelProto:
    """The model with its external data, read only from inside the model's folder.

    Raises:
        CamUnsupportedError: the file cannot be read, or its external data escapes its folder.
    """
    try:
        proto = onnx.load(str(path), load_external_data=False)
        if check_external_data(proto, path):
            load_external_data_for_model(proto, str(path.parent))
    except ModelFileError as exc:
        raise _fail(path, exc.reason) from exc
    except (OSError, ValueError, onnx.checker.ValidationError) as exc:
        raise _fail(path, f"the file cannot be read ({one_line(str(exc))})") from exc
    return proto


class _Graph:
    """Producers, initializers and constants of a graph, for walking it backwards."""

    def __init__(self, graph: onnx.GraphProto, path: Path) -> None:
        self.path = path
        self.producer = {out: node for node in graph.node for out in node.output}
        self.initializers = {t.name: t for t in graph.initializer}

    def constant(self, name: str) -> np.ndarray | None:
        """The value of an initializer, a Constant node, or a DequantizeLinear/Cast of one; else None."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is None:
            return None
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    return numpy_helper.to_array(attribute.t)
            return None
        if node.op_type == "Cast":
            value = self.constant(node.input[0])
            return None if value is None else value.astype(np.float32)
        if node.op_type == "DequantizeLinear":
            return self._dequantize(node)
        return None

    def _dequantize(self, node: onnx.NodeProto) -> np.ndarray | None:
        values = self.constant(node.input[0])
        scale = self.constant(node.input[1]) if len(node.input) > 1 else None
        if values is None or scale is None:
            return None
        zero = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        axis = next((int(a.i) for a in node.attribute if a.name == "axis"), 1)
        shift = values.astype(np.float32) - (0.0 if zero is None else _along(zero.astype(np.float32), axis, values))
        return shift * _along(scale.astype(np.float32), axis, values)

    def skip_back(self, name: str) -> str:
        """Follow ``name`` back through pass-through ops and QDQ pairs to the tensor that carries the values."""
        while True:
            node = self.producer.get(name)
            if node is None or not (node.op_type in _PASS_THROUGH or node.op_type in _QDQ):
                return name
            name = node.input[0]


def _along(values: np.ndarray, axis: int, like: np.ndarray) -> np.ndarray:
    """A per-axis quantization parameter shaped to broadcast along ``axis`` of ``like`` (a scalar stays one)."""
    if values.ndim == 0 or values.size == 1:
        return values.reshape(())
    shape = [1] * like.ndim
    shape[axis % like.ndim] = values.size
    return values.reshape(shape)


def find_cam_head(model: onnx.ModelProto, output_name: str, path: Path) -> CamHead:
    """Find the feature map before global average pooling and the linear classifier that reads it.

    Raises:
        CamUnsupportedError: the graph does not end in GAP + linear (says which op was found instead).
    """
    graph = _Graph(model.graph, path)
    logits = graph.skip_back(output_name)
    node = graph.producer.get(logits)
    if node is None:
        raise _fail(path, f"output {output_name!r} is not computed by any node")
    weights, bias, pooled = _classifier(graph, node)
    pool = graph.producer.get(graph.skip_back(pooled))
    if pool is None:
        raise _fail(path, "the classifier reads a graph input, not a pooled feature map")
    channel_axis = _pool_channel_axis(graph, pool)
    return CamHead(feature=pool.input[0], channel_axis=channel_axis, weights=weights, bias=bias)


def _classifier(graph: _Graph, node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(weights [classes, K], bias or None, the classifier's input tensor) of a Gemm / MatMul(+Add) node."""
    path = graph.path
    bias: np.ndarray | None = None
    if node.op_type == "Add":
        found = [
            (producer, node.input[1 - i])
            for i, name in enumerate(node.input[:2])
            if _is(producer := graph.producer.get(graph.skip_back(name)), "MatMul")
        ]
        if len(node.input) != 2 or not found or found[0][0] is None:
            raise _fail(path, "the output comes from an Add that is not MatMul + bias")
        bias = graph.constant(found[0][1])
        node = found[0][0]
    if node.op_type == "MatMul":
        matrix = graph.constant(node.input[1])
        if matrix is None or matrix.ndim != 2:
            raise _fail(path, "the final MatMul's weights are not a constant matrix")
        weights = matrix.astype(np.float32).T
    elif node.op_type == "Gemm":
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        matrix = graph.constant(node.input[1])
        if matrix is None or matrix.ndim != 2 or attrs.get("transA", 0):
            raise _fail(path, "the final Gemm's weights are not a constant matrix")
        weights = matrix.astype(np.float32) if attrs.get("transB", 0) else matrix.astype(np.float32).T
        weights = weights * np.float32(attrs.get("alpha", 1.0))
        if len(node.input) > 2 and node.input[2]:
            bias = graph.constant(node.input[2])
    else:
        raise _fail(path, f"the output comes from {node.op_type}, not a linear classifier (Gemm or MatMul)")
    return np.ascontiguousarray(weights), None if bias is None else bias.astype(np.float32).ravel(), node.input[0]


def _is(node: onnx.NodeProto | None, op_type: str) -> bool:
    return node is not None and node.op_type == op_type


def _pool_channel_axis(graph: _Graph, pool: onnx.NodeProto) -> int:
    """1 for GlobalAveragePool or ReduceMean over (2, 3); 3 for ReduceMean over (1, 2); else unsupported."""
    if pool.op_type == "GlobalAveragePool":
        return 1
    if pool.op_type != "ReduceMean":
        raise _fail(graph.path, f"the classifier reads the output of {pool.op_type}, not a global average pooling")
    axes_attr = [list(a.ints) for a in pool.attribute if a.name == "axes"]
    axes_value = graph.constant(pool.input[1]) if len(pool.input) > 1 and pool.input[1] else None
    axes = axes_attr[0] if axes_attr else (None if axes_value is None else [int(v) for v in axes_value.ravel()])
    spatial = {tuple(sorted(a % 4 for a in axes))} if axes else set()
    if spatial == {(2, 3)}:
        return 1
    if spatial == {(1, 2)}:
        return 3
    raise _fail(graph.path, f"the ReduceMean before the classifier averages over axes {axes}, not height and width")


def open_cam_session(entry: ModelEntry, provider: str = "auto") -> CamSession:
    """An in-memory copy of ``entry``'s graph that also outputs the last feature map (the file is not changed).

    The providers are chosen as :func:`desktop_app.core.providers.create_session` chooses them (auto = CUDA
    when it can start, else the CPU). Open it once per (file, provider) and keep it: the caller caches it.

    Raises:
        CamUnsupportedError: the graph has no GAP + linear head, or ONNX Runtime refused the copy.
    """
    proto = load_full_model(entry.path)
    head = find_cam_head(proto, entry.output_name, entry.path)
    if entry.num_classes and head.weights.shape[0] != entry.num_classes:
        raise _fail(entry.path, f"the classifier has {head.weights.shape[0]} rows for {entry.num_classes} classes")
    if head.feature not in {o.name for o in proto.graph.output}:
        proto.graph.output.append(onnx.ValueInfoProto(name=head.feature))
    wanted = requested_providers(provider)
    if CUDA_EP in wanted and cuda_start_failure() is not None:
        wanted = [CPU_EP]
    try:
        data = proto.SerializeToString()
        session = ort.InferenceSession(data, default_session_options(), providers=wanted)
    except ORT_ERRORS as exc:
        raise _fail(
            entry.path, f"ONNX Runtime cannot open the copy with the feature map ({one_line(str(exc))})"
        ) from exc
    return CamSession(entry=entry, head=head, session=session, providers=tuple(session.get_providers()))


def run_features(cam: CamSession, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(logits [N, classes] float32, feature maps [N, C, h, w] float32) for a preprocessed batch."""
    entry = cam.entry
    outputs = [entry.output_name, cam.head.feature]
    rows_logits, rows_features = [], []
    step = entry.batch or batch.shape[0]
    for start in range(0, batch.shape[0], max(step, 1)):
        x = np.ascontiguousarray(batch[start : start + step], dtype=entry.input_dtype)
        logits, features = cam.session.run(outputs, {entry.input_name: x})
        rows_logits.append(np.asarray(logits, dtype=np.float32).reshape(x.shape[0], -1))
        features = np.asarray(features, dtype=np.float32)
        rows_features.append(np.moveaxis(features, 3, 1) if cam.head.channel_axis == 3 else features)
    return np.concatenate(rows_logits), np.concatenate(rows_features)


def cam_grid(
    head: CamHead, features: np.ndarray, class_index: int, path: Path, probabilities: np.ndarray | None = None
) -> np.ndarray:
    """The class map on the feature map's own grid for one image's feature maps [C, h, w] (float32 [h, w]).

    Without ``probabilities``: CAM, ``sum_k w[c, k] * F_k`` (the bias is left out). With them (the softmax of
    this image's logits): the contrastive map ``ReLU(sum_k (w[c, k] - sum_j p_j w[j, k]) * F_k)``, which is
    exactly Grad-CAM of the class's log-probability for a GAP + linear head (the gradient of
    ``log p_c`` with respect to ``F_k`` is the same at every position), so it shows what makes ``c`` more
    likely than the model's other classes rather than all the evidence for ``c``.
    """
    if features.ndim != 3 or features.shape[0] != head.weights.shape[1]:
        raise _fail(path, f"feature map of shape {features.shape} does not match {head.weights.shape[1]} weights")
    if probabilities is None:
        return np.tensordot(head.weights[class_index], features, axes=(0, 0)).astype(np.float32)
    weights = head.weights  # float32 [classes, channels]: no copy (a float64 one costs as much as the run)
    # einsum's own loop, not BLAS: a BLAS gemv this size wakes its thread pool, which then spins beside the
    # inference threads and slows the next runs (measured: the classifications after it took 1.5x as long)
    alpha = weights[class_index] - np.einsum("i,ij->j", probabilities.astype(np.float32), weights, optimize=False)
    return np.maximum(np.tensordot(alpha, features, axes=(0, 0)), 0.0).astype(np.float32)


def explain_with_cam(
    cam: CamSession, image: Image.Image, class_index: int | None = None, method: str = "cam"
) -> tuple[CamResult, np.ndarray]:
    """(the map of ``class_index``, default the top-1 class, by ``method`` "cam" or "contrastive"; all the
    image's class probabilities) from one run of the copy with the feature map.

    Raises:
        ValueError: an unknown method, ``class_index`` out of range, or the entry has no preprocessing.
    """
    if method not in CAM_METHODS:
        raise ValueError(f"unknown CAM method {method!r}; choose one of {', '.join(CAM_METHODS)}")
    p = _preprocess_of(cam.entry)
    x = preprocess_image(image.convert("RGB") if image.mode != "RGB" else image, p)[None]
    logits, features = run_features(cam, x)
    probabilities = _softmax(logits[0])
    index = int(np.argmax(probabilities)) if class_index is None else int(class_index)
    if not 0 <= index < probabilities.shape[0]:
        raise ValueError(f"class index {index} is out of range: the model has {probabilities.shape[0]} classes")
    contrast = probabilities if method == "contrastive" else None
    grid = cam_grid(cam.head, features[0], index, cam.entry.path, contrast)
    labels = cam.entry.labels
    label = labels[index] if index < len(labels) else str(index)
    mapped = map_to_image(grid, p, image.size)
    return CamResult(mapped, index, label, float(probabilities[index]), method, grid), probabilities


def class_activation_map(
    model: ModelEntry | CamSession,
    image: Image.Image,
    class_index: int | None = None,
    provider: str = "auto",
    method: str = "cam",
) -> CamResult:
    """The map of ``class_index`` (default: the top-1 class) for ``image``, on the image's own pixel grid.

    ``model`` is a :class:`CamSession` (cached by the caller) or a :class:`ModelEntry` (opens one); ``method``
    is "cam" (the class activation map) or "contrastive" (see :func:`cam_grid`).

    Raises:
        CamUnsupportedError: no GAP + linear head in the file.
        ValueError: ``class_index`` is out of range, or the entry has no preprocessing.
    """
    cam = model if isinstance(model, CamSession) else open_cam_session(model, provider)
    return explain_with_cam(cam, image, class_index, method)[0]


def _preprocess_of(entry: ModelEntry) -> Preprocess:
    if entry.preprocess is None:
        raise ValueError(f"{entry.path.name}: model has no preprocessing")
    return entry.preprocess


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - float(np.max(logits))
    values = np.exp(shifted)
    return values / values.sum()


def crop_box(p: Preprocess, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The centre crop as (left, top, right, bottom) in the original image's pixel coordinates (edges, floats).

    It may reach outside the image when the crop is larger than the resized image (that part is zero padding).
    """
    width, height = image_size
    new_w, new_h = resized_size(width, height, p.resize)
    crop_h, crop_w = p.crop
    left = _crop_offset(new_w, crop_w) * width / new_w
    top = _crop_offset(new_h, crop_h) * height / new_h
    return left, top, left + crop_w * width / new_w, top + crop_h * height / new_h


def _crop_offset(resized: int, crop: int) -> int:
    """Where the crop starts on one resized axis (as ``preprocess._center_crop``; negative when it pads)."""
    if crop > resized:
        return -((crop - resized) // 2)
    return round((resized - crop) / 2.0)


def map_to_image(grid: np.ndarray, p: Preprocess, image_size: tuple[int, int]) -> np.ndarray:
    """Upsample a map over the model input (any grid) bilinearly onto the original image; [0, 1], NaN unseen.

    Each grid cell covers an equal part of the centre crop; pixels of the original that the crop did not
    see are NaN, and the rest is scaled to [0, 1] (all zeros for a flat map).
    """
    width, height = image_size
    left, top, right, bottom = crop_box(p, image_size)
    rows, row_seen = _axis_samples(height, top, bottom, grid.shape[0])
    cols, col_seen = _axis_samples(width, left, right, grid.shape[1])
    r0, r1, rw = rows
    c0, c1, cw = cols
    g = grid.astype(np.float32)
    by_rows = g[r0] * (1 - rw)[:, None] + g[r1] * rw[:, None]
    mapped = by_rows[:, c0] * (1 - cw)[None, :] + by_rows[:, c1] * cw[None, :]
    mapped[~row_seen, :] = np.nan
    mapped[:, ~col_seen] = np.nan
    return _scale_seen(mapped)


def _axis_samples(
    length: int, start: float, stop: float, cells: int
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """Per original pixel on one axis: the two grid cells and the weight of the second, and whether it is seen."""
    centres = np.arange(length, dtype=np.float64) + 0.5
    position = (centres - start) / max(stop - start, 1e-12) * cells - 0.5  # in cell-centre units
    seen = (centres >= start) & (centres < stop)
    low = np.clip(np.floor(position), 0, cells - 1)
    weight = np.clip(position - low, 0.0, 1.0)
    high = np.minimum(low + 1, cells - 1)
    return (low.astype(np.intp), high.astype(np.intp), weight.astype(np.float32)), seen


def _scale_seen(mapped: np.ndarray) -> np.ndarray:
    seen = ~np.isnan(mapped)
    if not seen.any():
        return mapped.astype(np.float32)
    low, high = float(mapped[seen].min()), float(mapped[seen].max())
    span = high - low
    flat = not math.isfinite(span) or span <= 0
    out = np.where(seen, 0.0, np.nan) if flat else (mapped - low) / span
    return np.asarray(out, dtype=np.float32)
