"""Step 2 of int8: ONNX Runtime's pre-processing pass and static QDQ quantization with our settings.

``quant_pre_process`` (shape inference + graph optimisation), then ``quantize_static`` (QDQ,
per-channel symmetric int8 weights, uint8 activations) with Concat and pooling kept in int8, then
bias correction (:mod:`exporter.quant.bias`) and the fp32 nodes kept float
(:mod:`exporter.quant.keep_float`).

Example::

    python -m exporter export --model resnet50 --weights random --precision int8 --calibration-method entropy
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from exporter.errors import ExporterError
from exporter.progress import Steps
from exporter.quant.bias import correct_bias, layer_input_means
from exporter.quant.calibration import CALIBRATION_BATCH, BatchReader
from exporter.quant.keep_float import keep_float
from exporter.quant.workspace import first_line, quiet

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


def preprocess_for_quantization(fp32_path: Path, out_path: Path) -> None:
    """ORT's pre-processing pass: symbolic shape inference and graph optimisation."""
    try:
        with quiet():
            quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=False)
    except Exception as exc:  # the tool raises bare Exceptions from shape inference
        raise ExporterError(f"{fp32_path.name}: quant_pre_process failed ({first_line(exc)})") from exc


def quantize_qdq(
    pre_path: Path,
    out_path: Path,
    calibration: np.ndarray,
    settings: Int8Settings,
    means: Mapping[str, np.ndarray] | None = None,
    progress: str | None = None,
    plain: bool = True,
) -> None:
    """``quantize_static`` with our settings, then bias correction; ``settings.exclude`` nodes stay fp32.

    ``means`` (:func:`exporter.quant.bias.layer_input_means`) is computed here when not given. ``progress``:
    the title of a progress bar over the calibration chunks (``plain``: also as lines off a terminal).
    """
    if settings.method not in METHODS:
        raise ExporterError(f"--calibration-method {settings.method}: choose one of {', '.join(METHODS)}")
    size = CALIBRATION_BATCH if settings.method == "minmax" else 1
    chunks = -(-len(calibration) // size)
    # Made before quiet() swallows stderr, so the bar and its lines still reach the terminal.
    steps = Steps(progress, chunks, every=max(1, chunks // 4), plain=plain) if progress else None
    try:
        with quiet():
            quantize_static(
                str(pre_path),
                str(out_path),
                BatchReader(calibration, size, steps),
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
        raise ExporterError(f"{pre_path.name}: quantize_static failed ({first_line(exc)})") from exc
    finally:
        if steps is not None:
            steps.close()
    if settings.bias_correction:
        correct_bias(pre_path, out_path, layer_input_means(pre_path, calibration) if means is None else means)
    if settings.exclude:
        keep_float(out_path, set(settings.exclude))
