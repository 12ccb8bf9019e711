"""A look inside every layer of an ONNX classifier on one image, and where an int8/fp16 file drifts from its fp32.

:func:`open_layer_session` opens an in-memory copy of the graph (the file on disk is not changed) that
also outputs every intermediate tensor that is computed from the input (weights, shapes and other
constants are left out). :func:`inspect_layers` runs it on an image and gives one :class:`LayerStats` row
per layer, in graph order, named after its PyTorch module through the file's node map
(:class:`workbench.contract.NodeMap`; ONNX names for foreign files): output shape, mean, std, min, max,
share of exact zeros and a small histogram. A module called twice (torchvision's reused ReLU) gets
``#2``. In int8 (QDQ) files a layer's row shows the float output of its ``DequantizeLinear`` (what the
int8 tensor carries, dequantized: ``source`` "int8 (dequantized)"); the int8 tensors themselves are not
rows. The quantizer folds a ReLU (or ReLU6 ``Clip``) into the convolution before it: there the Conv's row
shows the activation's output (its tensor keeps the activation's name) and the pre-activation tensor has
no row.
The copy runs without graph optimizations, so every tensor is the one the file describes (int8 arithmetic
emulated in float: within a rounding step of ONNX Runtime's fused int8 kernels). fp16 tensors are shown as
float32 (``source`` "float16").

:func:`compare_layers` matches two runs (say fp32 and int8 of one architecture) by the float tensor a
row shows (the quantizer and the fp16 converter keep the fp32 file's tensor names; so a folded ReLU is
compared with the fp32 ReLU's output, not with the convolution's); files that share no tensor name
(exported separately) are matched by module name. It gives
each layer's signal-to-quantization-noise ratio ``10*log10(sum(ref^2) / sum((ref - other)^2))`` in dB
(infinite where they are equal); :func:`first_below` is the first layer under a threshold.
:func:`check_comparable` refuses a file of another architecture, input or preprocessing.

Example::

    python -c "from PIL import Image; from desktop_app.core.catalog import inspect_model; \\
from desktop_app.core.inspect_layers import inspect_layers; \\
run = inspect_layers(inspect_model('model.onnx'), Image.open('cat.jpg').convert('RGB')); \\
print([(r.module, r.shape, round(r.mean, 3)) for r in run.rows[:5]])"
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

from desktop_app.core.cam import load_full_model
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
from workbench.atomic import write_atomic
from workbench.contract import NodeMap
from workbench.names import printable
from workbench.preprocess import preprocess_image

__all__ = [
    "DEFAULT_THRESHOLD_DB",
    "FeatureMaps",
    "InspectError",
    "LayerComparison",
    "LayerRun",
    "LayerSession",
    "LayerSqnr",
    "LayerStats",
    "check_comparable",
    "compare_layers",
    "feature_maps",
    "first_below",
    "inspect_layers",
    "layer_stats",
    "open_layer_session",
    "sqnr_db",
    "to_csv",
    "write_csv",
]

DEFAULT_THRESHOLD_DB = 20.0
HISTOGRAM_BINS = 24
MAX_MAPS = 64
MAX_MAP_SIDE = 96  # feature maps larger than this are shown subsampled (every n-th pixel)
INT8_SOURCE = "int8 (dequantized)"


class InspectError(ValueError):
    """The file cannot be inspected, or two files cannot be compared; ``str(err)`` names the file and why."""


@dataclass(frozen=True)
class _Layer:
    tensor: str  # the tensor whose values are shown
    key: str  # the float tensor of the original graph it stands for (the Q/DQ pair's input in int8 files)
    module: str
    op_type: str
    source: str  # "" (the tensor's own dtype is said at run time) or INT8_SOURCE


@dataclass(frozen=True)
class LayerSession:
    """An in-memory copy of a model that outputs every layer's tensor."""

    entry: ModelEntry
    session: ort.InferenceSession = field(repr=False)
    layers: tuple[_Layer, ...]
    providers: tuple[str, ...]


@dataclass(frozen=True)
class LayerStats:
    """One layer's output on one image."""

    index: int
    module: str
    tensor: str
    op_type: str
    shape: tuple[int, ...]
    mean: float
    std: float
    min: float
    max: float
    zeros: float  # share of exact zeros, 0..1
    histogram: tuple[int, ...] = field(repr=False)  # HISTOGRAM_BINS counts over [min, max]
    source: str = "float32"  # "float32", "float16" or "int8 (dequantized)"
    key: str = ""  # the original graph's float tensor this row shows (what A/B comparisons match on)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class LayerRun:
    """Every layer of one model on one image; ``values`` holds each row's tensor (float32) by module name."""

    entry: ModelEntry
    rows: tuple[LayerStats, ...]
    values: Mapping[str, np.ndarray] = field(repr=False)

    def row(self, module: str) -> LayerStats:
        for row in self.rows:
            if row.module == module:
                return row
        raise KeyError(module)


@dataclass(frozen=True)
class LayerSqnr:
    module: str
    shape: tuple[int, ...]
    sqnr_db: float  # inf where the two are equal


@dataclass(frozen=True)
class LayerComparison:
    """Per-layer SQNR of ``other`` against ``reference``, in the reference's layer order."""

    reference: ModelEntry
    other: ModelEntry
    rows: tuple[LayerSqnr, ...]
    unmatched: tuple[str, ...]  # reference layers with no same-named, same-shaped layer in the other file


@dataclass(frozen=True)
class FeatureMaps:
    """The first channels of a layer as [n, h, w] uint8 images (each scaled to its own min..max)."""

    maps: np.ndarray = field(repr=False)
    channels: int  # the layer's channel count
    note: str  # what is shown of it ("64 of 256 channels; 112 x 112 shown at every 2nd pixel")


def _fail(path: Path, why: str) -> InspectError:
    return InspectError(f"{path.name}: cannot inspect the layers: {why}")


def _constant_tensors(graph: onnx.GraphProto) -> set[str]:
    """Initializers, Constant outputs and everything computed from them alone (weights, shapes)."""
    constant = {t.name for t in graph.initializer}
    for node in graph.node:
        inputs = [name for name in node.input if name]
        if node.op_type == "Constant" or all(name in constant for name in inputs):
            constant.update(node.output)
    return constant


def _layers(graph: onnx.GraphProto, node_map: NodeMap) -> list[_Layer]:
    """One layer per computed tensor in graph order; a Q/DQ pair's DQ output stands for the tensor it quantizes."""
    constant = _constant_tensors(graph)
    producer = {out: node for node in graph.node for out in node.output}
    outputs = {o.name for o in graph.output}
    shown: dict[str, _Layer] = {}  # source tensor -> the layer that shows it
    for node in graph.node:
        for output in node.output:
            if not output or output in constant or node.op_type == "QuantizeLinear":
                continue
            source, kind = output, ""
            if node.op_type == "DequantizeLinear":
                quantize = producer.get(node.input[0])
                if quantize is None or quantize.op_type != "QuantizeLinear":
                    continue  # an int8 value from elsewhere: not a layer of the float graph
                source, kind = quantize.input[0], INT8_SOURCE
            origin = producer.get(source)
            module = _module_of(origin, source, node_map)
            key = output if output in outputs else source  # the quantizer renames the tensor before an output
            shown[source] = _Layer(output, key, module, origin.op_type if origin is not None else "Input", kind)
    return _numbered(list(shown.values()))


def _module_of(node: onnx.NodeProto | None, tensor: str, node_map: NodeMap) -> str:
    if node is None:
        return tensor  # a graph input (int8 files quantize the image)
    mapped = node_map.module_for(node.name) if node.name else None
    return mapped or node_map.tensors.get(tensor) or node.name or tensor


def _numbered(layers: list[_Layer]) -> list[_Layer]:
    """``module``, ``module #2``, … for modules with several layers (a reused ReLU)."""
    seen: Counter[str] = Counter()
    out = []
    for layer in layers:
        seen[layer.module] += 1
        count = seen[layer.module]
        out.append(layer if count == 1 else replace(layer, module=f"{layer.module} #{count}"))
    return out


def open_layer_session(entry: ModelEntry, provider: str = "auto") -> LayerSession:
    """An in-memory copy of ``entry``'s graph with every layer's tensor as an output (the file is not changed).

    Raises:
        InspectError: the entry is unusable, the file cannot be read, or ONNX Runtime refused the copy.
    """
    if entry.error is not None:
        raise InspectError(entry.error)
    try:
        proto = load_full_model(entry.path)
    except ValueError as exc:
        raise _fail(entry.path, str(exc).split(": ", 2)[-1]) from exc
    node_map = entry.card.node_map if entry.card is not None else NodeMap()
    layers = _layers(proto.graph, node_map)
    outputs = {o.name for o in proto.graph.output}
    for layer in layers:
        if layer.tensor not in outputs:
            proto.graph.output.append(onnx.ValueInfoProto(name=layer.tensor))
    wanted = requested_providers(provider)
    if CUDA_EP in wanted and cuda_start_failure() is not None:
        wanted = [CPU_EP]
    options = default_session_options()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the graph as the file has it
    try:
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=wanted)
    except ORT_ERRORS as exc:
        raise _fail(entry.path, f"ONNX Runtime cannot open the copy ({one_line(str(exc))})") from exc
    return LayerSession(entry, session, tuple(layers), tuple(session.get_providers()))


def layer_stats(index: int, module: str, tensor: str, op_type: str, values: np.ndarray, source: str) -> LayerStats:
    """The statistics of one tensor (computed in float64; NaN/inf are kept out of the histogram)."""
    data = np.asarray(values, dtype=np.float64).ravel()
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        low = high = mean = std = float("nan")
        counts: tuple[int, ...] = (0,) * HISTOGRAM_BINS
    else:
        low, high = float(finite.min()), float(finite.max())
        mean, std = float(finite.mean()), float(finite.std())
        span = (low, high) if high > low else (low - 0.5, high + 0.5)
        counts = tuple(int(c) for c in np.histogram(finite, bins=HISTOGRAM_BINS, range=span)[0])
    zeros = float(np.count_nonzero(data == 0.0)) / max(data.size, 1)
    shape = tuple(int(d) for d in np.shape(values))
    return LayerStats(index, module, tensor, op_type, shape, mean, std, low, high, zeros, counts, source)


def inspect_layers(
    model: ModelEntry | LayerSession, image: Image.Image, provider: str = "auto", *, keep_values: bool = True
) -> LayerRun:
    """Run ``image`` (preprocessed as the file says) through every layer; one row per layer in graph order.

    ``keep_values`` keeps each layer's tensor (for feature maps and :func:`compare_layers`).

    Raises:
        InspectError: as :func:`open_layer_session`, or the file has no preprocessing / the run failed.
    """
    layers = model if isinstance(model, LayerSession) else open_layer_session(model, provider)
    entry = layers.entry
    if entry.preprocess is None:
        raise _fail(entry.path, "the model has no preprocessing")
    x = preprocess_image(image if image.mode == "RGB" else image.convert("RGB"), entry.preprocess)[None]
    if entry.batch and entry.batch > 1:
        x = np.concatenate([x, np.zeros((entry.batch - 1, *x.shape[1:]), dtype=x.dtype)])
    names = [layer.tensor for layer in layers.layers]
    try:
        outputs = layers.session.run(names, {entry.input_name: np.ascontiguousarray(x, dtype=entry.input_dtype)})
    except ORT_ERRORS as exc:
        raise _fail(entry.path, f"the run failed ({one_line(str(exc))})") from exc
    rows: list[LayerStats] = []
    values: dict[str, np.ndarray] = {}
    for layer, array in zip(layers.layers, outputs, strict=True):
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating):
            continue
        first = array[:1] if entry.batch and entry.batch > 1 and array.ndim and array.shape[0] == entry.batch else array
        source = layer.source or str(array.dtype)
        stats = layer_stats(len(rows), layer.module, layer.tensor, layer.op_type, first, source)
        rows.append(replace(stats, key=layer.key))
        if keep_values:
            values[layer.module] = first.astype(np.float32, copy=False)
    return LayerRun(entry, tuple(rows), values)


def feature_maps(values: np.ndarray, count: int = MAX_MAPS, max_side: int = MAX_MAP_SIDE) -> FeatureMaps:
    """The first ``count`` channels of a [1, C, H, W] tensor as uint8 images, each scaled to its own range.

    Raises:
        InspectError: the tensor is not a feature map (not 4-D with height and width).
    """
    if values.ndim != 4:
        raise InspectError(f"a tensor of shape {tuple(values.shape)} has no feature maps (expected N x C x H x W)")
    channels, height, width = values.shape[1:]
    step = max(1, math.ceil(max(height, width) / max_side))
    maps = np.asarray(values[0, :count, ::step, ::step], dtype=np.float64)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    scaled = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0)
    note = f"{min(count, channels)} of {channels} channels" if channels > count else f"{channels} channels"
    if step > 1:
        note += f"; {height} x {width} shown at every {_ordinal(step)} pixel"
    return FeatureMaps(np.round(scaled * 255).astype(np.uint8), int(channels), note)


def _ordinal(n: int) -> str:
    return f"{n}{'nd' if n == 2 else 'rd' if n == 3 else 'th'}"


def sqnr_db(reference: np.ndarray, other: np.ndarray) -> float:
    """``10*log10(sum(ref^2) / sum((ref - other)^2))``: inf when equal, -inf when the reference is all zeros."""
    ref = np.asarray(reference, dtype=np.float64)
    noise = float(np.sum((ref - np.asarray(other, dtype=np.float64)) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def check_comparable(reference: ModelEntry, other: ModelEntry) -> None:
    """Refuse two files that are not versions of one network (architecture, input or preprocessing differ).

    Raises:
        InspectError: why they cannot be compared layer by layer.
    """
    a, b = reference.architecture, other.architecture
    where = f"{other.path.name} against {reference.path.name}"
    if a and b and a != b:
        raise InspectError(f"cannot compare {where}: architecture {b} is not {a}")
    if (reference.height, reference.width, reference.layout) != (other.height, other.width, other.layout):
        raise InspectError(
            f"cannot compare {where}: input {other.height}x{other.width} {other.layout} is not "
            f"{reference.height}x{reference.width} {reference.layout}"
        )
    if reference.preprocess != other.preprocess:
        raise InspectError(f"cannot compare {where}: the preprocessing differs")


def compare_layers(reference: LayerRun, other: LayerRun) -> LayerComparison:
    """Per-layer SQNR of ``other`` against ``reference``, matched by tensor, else module name (and shape).

    Raises:
        InspectError: the files are not comparable (:func:`check_comparable`), or no layer matches.
    """
    check_comparable(reference.entry, other.entry)
    rows, unmatched = [], []
    by_key = {r.key: r.module for r in other.rows if r.key}
    use_keys = any(row.key in by_key for row in reference.rows)  # one file derived from the other
    for row in reference.rows:
        theirs = other.values.get(by_key.get(row.key, "") if use_keys else row.module)
        ours = reference.values.get(row.module)
        if theirs is None or ours is None or theirs.shape != ours.shape:
            unmatched.append(row.module)
            continue
        rows.append(LayerSqnr(row.module, row.shape, sqnr_db(ours, theirs)))
    if not rows:
        raise InspectError(
            f"cannot compare {other.entry.path.name} against {reference.entry.path.name}: no layer has the same "
            "module name and shape in both (another architecture?)"
        )
    return LayerComparison(reference.entry, other.entry, tuple(rows), tuple(unmatched))


def first_below(comparison: LayerComparison, threshold_db: float = DEFAULT_THRESHOLD_DB) -> LayerSqnr | None:
    """The first layer (in graph order) whose SQNR is below ``threshold_db``; None when none is."""
    return next((row for row in comparison.rows if row.sqnr_db < threshold_db), None)


_CSV_FIELDS = ("index", "module", "tensor", "op_type", "source", "shape", "mean", "std", "min", "max", "zeros")


def to_csv(rows: Sequence[LayerStats], comparison: LayerComparison | None = None) -> str:
    """The layer table as CSV text (with an ``sqnr_db`` column when ``comparison`` is given)."""
    sqnr = {r.module: r.sqnr_db for r in comparison.rows} if comparison is not None else None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*_CSV_FIELDS, "histogram"] + (["sqnr_db"] if sqnr is not None else []))
    for row in rows:
        cells: list[object] = [row.index, printable(row.module), printable(row.tensor), row.op_type, row.source]
        cells += ["x".join(map(str, row.shape))] + [f"{v:.6g}" for v in (row.mean, row.std, row.min, row.max)]
        cells += [f"{row.zeros:.6g}", " ".join(map(str, row.histogram))]
        if sqnr is not None:
            value = sqnr.get(row.module)
            cells.append("" if value is None else f"{value:.4g}")
        writer.writerow(cells)
    return out.getvalue()


def write_csv(
    path: str | os.PathLike[str], rows: Sequence[LayerStats], comparison: LayerComparison | None = None
) -> Path:
    """Write :func:`to_csv` to ``path`` atomically (UTF-8).

    Raises:
        OSError: the file cannot be written.
    """
    target = Path(path)
    data = to_csv(rows, comparison).encode("utf-8")
    write_atomic(target, lambda handle: handle.write(data))
    return target
