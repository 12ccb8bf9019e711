"""The fp16 lowering: fp16 weights and compute, float32 input and output, with ONNX Runtime's converter.

Example::

    python -m exporter export --model resnet50 --weights random --precision fp16
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort

from exporter.errors import ExporterError
from exporter.quant.workspace import first_line, quiet


def lower_fp16(fp32_path: Path, out_path: Path) -> dict[str, Any]:
    """fp16 weights and compute, float32 input/output (Cast at both ends); returns the metadata facts."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(fp32_path))
    try:
        with quiet():
            half = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    except Exception as exc:  # the converter raises plain Exceptions
        raise ExporterError(f"{fp32_path.name}: fp16 conversion failed ({first_line(exc)})") from exc
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
