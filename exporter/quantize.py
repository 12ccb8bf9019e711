"""Lower a verified fp32 ONNX file to int8 (static QDQ, per-channel) or fp16, with ONNX Runtime's tooling.

int8: ``quant_pre_process`` (shape inference + graph optimisation), calibration on real photos read
through the model's own preprocessing, ``quantize_static`` (QDQ, per-channel symmetric int8 weights,
uint8 activations) with Concat and pooling kept in int8, then a search for harmful layers
(:mod:`exporter.quant_debug`) whose quantization costs accuracy; those stay fp32.
fp16: ``onnxruntime.transformers.float16`` with float32 input and output.

Example::

    python -m exporter export --model resnet50 --weights random --precision int8 --calibration ~/Pictures
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image, ImageOps

from exporter.errors import ExporterError
from exporter.quant_bias import correct_bias, layer_input_means
from exporter.quant_keep import keep_float
from workbench.atomic import owner_tag, remove_stale_temps, temp_pattern
from workbench.contract import INPUT_NAME
from workbench.imageio import ImageLoadError, iter_image_files, load_image
from workbench.preprocess import Preprocess, preprocess_batch

CALIBRATION_LIMIT = 64
SCRATCH_PREFIX = "cnn-quant-"
SCRATCH_TEMP = temp_pattern(SCRATCH_PREFIX, "")
Progress = Callable[[str], None]
CALIBRATION_BATCH = 8
DEFAULT_CALIBRATION = "shipped photos (exporter/data/photos) + deterministic crops/flips"
# Quantized in int8. Concat, pooling, Add and Mul are listed so Inception/DenseNet stay int8 between convs.
INT8_OPS = (
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Mul",
    "Concat",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Relu",
    "Clip",
    "Reshape",
    "Flatten",
)
METHODS = {
    "minmax": CalibrationMethod.MinMax,
    "percentile": CalibrationMethod.Percentile,
    "entropy": CalibrationMethod.Entropy,
}


@dataclass(frozen=True)
class Calibration:
    """Preprocessed calibration inputs and where they come from (recorded in the metadata)."""

    batch: np.ndarray
    source: str
    files: int
    skipped: tuple[str, ...] = ()  # why each unreadable file of the folder was left out

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"source": self.source, "files": self.files, "images": int(self.batch.shape[0])}
        return facts | ({"skipped": list(self.skipped)} if self.skipped else {})


@dataclass(frozen=True)
class Int8Settings:
    """The quantize_static settings; :meth:`describe` is what the metadata records."""

    method: str = "minmax"
    exclude: tuple[str, ...] = ()
    bias_correction: bool = True
    extra: dict[str, Any] = field(
        default_factory=lambda: {"ActivationSymmetric": False, "WeightSymmetric": True, "CalibMovingAverage": False}
    )

    overrides: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # TensorQuantOverrides

    def describe(self) -> dict[str, Any]:
        return {
            "tool": f"onnxruntime {ort.__version__} quant_pre_process + quantize_static",
            "shared_concat_params": f"{len(self.overrides)} tensors around Concat share one scale per group",
            "format": "QDQ",
            "per_channel": True,
            "weights": "int8 symmetric",
            "activations": "uint8 asymmetric",
            "calibration_method": self.method,
            "op_types": list(INT8_OPS),
            "extra_options": dict(self.extra),
            "bias_correction": "Conv/Gemm biases lowered by E[(W_int8 - W) x] on the calibration images"
            if self.bias_correction
            else "off",
        }


def augmentations(image: Image.Image) -> list[Image.Image]:
    """The image, its mirror, four 80% corner crops and a 60% centre crop (deterministic)."""
    w, h = image.size
    cw, ch = int(w * 0.8), int(h * 0.8)
    corners = [(0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch)]
    crops = [image.crop((x, y, x + cw, y + ch)) for x, y in corners]
    cx, cy = int(w * 0.6), int(h * 0.6)
    centre = image.crop(((w - cx) // 2, (h - cy) // 2, (w - cx) // 2 + cx, (h - cy) // 2 + cy))
    return [image, ImageOps.mirror(image), *crops, centre]


def calibration_set(folder: Path | None, preprocess: Preprocess, limit: int = CALIBRATION_LIMIT) -> Calibration:
    """Up to ``limit`` images from ``folder`` (recursively, sorted), or the shipped photos augmented."""
    if folder is None:
        from exporter.verify import photo_paths

        shipped = [a for p in photo_paths() for a in augmentations(load_image(p))]
        return Calibration(preprocess_batch(shipped, preprocess), DEFAULT_CALIBRATION, len(photo_paths()))
    if not folder.is_dir():
        raise ExporterError(f"--calibration {folder}: not a folder")
    try:
        files = iter_image_files([folder])
    except OSError as exc:
        raise ExporterError(f"--calibration {folder}: cannot list it ({exc.strerror or exc})") from exc
    step = max(1, len(files) // limit)
    chosen = files[::step][:limit]
    if not chosen:
        raise ExporterError(f"--calibration {folder}: no image files found")
    images: list[Image.Image] = []
    skipped: list[str] = []
    for path in chosen:  # an unreadable file is left out and named; the others still calibrate
        try:
            images.append(load_image(path, min_side=preprocess.resize))
        except ImageLoadError as exc:
            skipped.append(str(exc))
    if not images:
        raise ExporterError(f"--calibration {folder}: none of its {len(chosen)} image files can be read ({skipped[0]})")
    return Calibration(preprocess_batch(images, preprocess), str(folder), len(images), tuple(skipped))


class BatchReader(CalibrationDataReader):
    """Feeds ``batch`` to ONNX Runtime's calibrator in chunks of :data:`CALIBRATION_BATCH`."""

    def __init__(self, batch: np.ndarray, size: int = CALIBRATION_BATCH) -> None:
        self._chunks: Iterator[np.ndarray] = iter([batch[i : i + size] for i in range(0, len(batch), size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        chunk = next(self._chunks, None)
        return None if chunk is None else {INPUT_NAME: chunk}


def preprocess_for_quantization(fp32_path: Path, out_path: Path) -> None:
    """ORT's pre-processing pass: symbolic shape inference and graph optimisation."""
    try:
        with _quiet():
            quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=False)
    except Exception as exc:  # the tool raises bare Exceptions from shape inference
        raise ExporterError(f"{fp32_path.name}: quant_pre_process failed ({_first_line(exc)})") from exc


def quantize_qdq(
    pre_path: Path,
    out_path: Path,
    calibration: np.ndarray,
    settings: Int8Settings,
    means: Mapping[str, np.ndarray] | None = None,
) -> None:
    """``quantize_static`` with our settings, then bias correction; ``settings.exclude`` nodes stay fp32.

    ``means`` (:func:`exporter.quant_bias.layer_input_means`) is computed here when not given.
    """
    if settings.method not in METHODS:
        raise ExporterError(f"--calibration-method {settings.method}: choose one of {', '.join(METHODS)}")
    try:
        with _quiet():
            quantize_static(
                str(pre_path),
                str(out_path),
                BatchReader(calibration, CALIBRATION_BATCH if settings.method == "minmax" else 1),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=METHODS[settings.method],
                op_types_to_quantize=list(INT8_OPS),
                nodes_to_exclude=list(settings.exclude),
                extra_options=dict(settings.extra)
                | ({"TensorQuantOverrides": settings.overrides} if settings.overrides else {}),
            )
    except Exception as exc:  # quantize_static raises plain Exceptions/ValueErrors
        raise ExporterError(f"{pre_path.name}: quantize_static failed ({_first_line(exc)})") from exc
    if settings.bias_correction:
        correct_bias(pre_path, out_path, layer_input_means(pre_path, calibration) if means is None else means)
    if settings.exclude:
        keep_float(out_path, set(settings.exclude))


def run_logits(model: Path | bytes, batch: np.ndarray, chunk: int = 8) -> np.ndarray:
    """Logits of ``model`` (a file or serialized ModelProto) on ``batch``, ONNX Runtime CPU, all optimisations."""
    session = ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), providers=["CPUExecutionProvider"]
    )
    outs = [session.run(None, {INPUT_NAME: batch[i : i + chunk]})[0] for i in range(0, len(batch), chunk)]
    return np.concatenate(outs).astype(np.float32)


def agreement(reference: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Top-1 agreement, output SQNR (dB) and worst |diff| relative to the reference's logit range."""
    spread = float((reference.max(axis=1) - reference.min(axis=1)).max())
    noise = float(np.mean((reference - got) ** 2))
    signal = float(np.mean(reference**2))
    return {
        "top1_agreement": float(np.mean(reference.argmax(1) == got.argmax(1))),
        "sqnr_db": 10 * np.log10(signal / noise) if noise > 0 else float("inf"),
        "max_rel_diff": float(np.abs(reference - got).max()) / spread if spread > 0 else 0.0,
        "images": int(reference.shape[0]),
    }


def lower_fp16(fp32_path: Path, out_path: Path) -> dict[str, Any]:
    """fp16 weights and compute, float32 input/output (Cast at both ends); returns the metadata facts."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32_path))
    try:
        with _quiet():
            half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    except Exception as exc:  # the converter raises plain Exceptions
        raise ExporterError(f"{fp32_path.name}: fp16 conversion failed ({_first_line(exc)})") from exc
    topological_sort(half.graph)
    onnx.save(half, str(out_path))
    return {
        "method": "onnxruntime.transformers.float16.convert_float_to_float16",
        "tool": f"onnxruntime {ort.__version__}",
        "io": "float32 (Cast nodes at input and output)",
        "intended_for": "GPUs (CUDA/TensorRT/DirectML); on CPU ONNX Runtime computes it through casts",
    }


def topological_sort(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs (stable otherwise)."""
    available = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ExporterError(f"graph {graph.name!r} has a cycle or a missing input after fp16 conversion")
        for node in ready:
            available.update(node.output)
        ordered += ready
        ready_ids = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in ready_ids]
    del graph.node[:]
    graph.node.extend(ordered)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    sink = io.StringIO()
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        logger.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def scratch_dir(log: Progress | None = None) -> Iterator[str]:
    """A temporary folder for intermediate models (``cnn-quant-<pid>@<host>.<random>``), removed on exit.

    Stale ones that killed exports left behind (their process gone, or a day old) are removed first,
    with a note to ``log``. A full disk while writing there (ENOSPC, EFBIG, EDQUOT) becomes an
    ExporterError naming the folder.
    """
    cleanup = remove_stale_temps(Path(tempfile.gettempdir()), SCRATCH_TEMP, directories=True)
    for note in cleanup.notes():
        (log or print)(note)
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{owner_tag()}.") as folder:
        try:
            yield folder
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise
            raise ExporterError(
                f"{folder}: disk full while writing intermediate models ({exc.strerror}); "
                "TMPDIR can point to a folder with more space"
            ) from exc
