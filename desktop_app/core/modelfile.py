"""Static checks of an ONNX classifier file, before ONNX Runtime ever opens it.

:func:`read_graph_info` parses the file with ``onnx`` (external data NOT loaded), refuses external
data that is missing or whose location escapes the model's folder (``../secret.bin``), and describes
the one image input (rank 4, 3 channels in NCHW or NHWC position) and the one rank-2 output.
Every problem is a :class:`ModelFileError` whose message is one line naming the file.

Example::

    python -c "from desktop_app.core.modelfile import read_graph_info; print(read_graph_info('model.onnx'))"
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

#: ONNX element types we can feed, and the numpy dtype names to cast the input to.
INPUT_DTYPES: dict[int, str] = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16"}


class ModelFileError(ValueError):
    """An ONNX file that cannot be used; ``str(err)`` is ``"<file>: <problem>"`` on one line."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = " ".join(reason.split())
        super().__init__(f"{path.name}: {self.reason}")


@dataclass(frozen=True)
class GraphInfo:
    """What the graph itself says about its input and output (``None`` for dynamic dimensions)."""

    metadata: dict[str, str]
    input_name: str
    input_dtype: str
    layout: str
    batch: int | None
    height: int | None
    width: int | None
    output_name: str
    num_classes: int | None
    external_data: bool = False  # some tensors live in files beside the model


def read_graph_info(path: Path) -> GraphInfo:
    """Parse and check ``path``; raise :class:`ModelFileError` for anything unusable."""
    model = _load_proto(path)
    external = check_external_data(model, path)
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(v.name for v in inputs) or "none"
        raise ModelFileError(path, f"has {len(inputs)} graph inputs ({names}); an image classifier needs exactly one")
    image = inputs[0]
    dtype = INPUT_DTYPES.get(image.type.tensor_type.elem_type)
    if not image.type.HasField("tensor_type") or dtype is None:
        raise ModelFileError(path, f"input {image.name!r} is not a float32/float16 tensor")
    dims = _dims(image)
    if len(dims) != 4:
        shape = _shape_text(dims)
        raise ModelFileError(path, f"input {image.name!r} has rank {len(dims)} {shape}; expected rank 4 (images)")
    if dims[1] == 3:
        layout, (batch, _, height, width) = "NCHW", dims
    elif dims[3] == 3:
        layout, (batch, height, width, _) = "NHWC", dims
    else:
        shape = _shape_text(dims)
        raise ModelFileError(path, f"input {image.name!r} {shape} has no 3-channel axis in NCHW or NHWC position")
    if len(graph.output) != 1:
        raise ModelFileError(path, f"has {len(graph.output)} outputs; a classifier needs exactly one (the logits)")
    output = graph.output[0]
    out_dims = _dims(output)
    if len(out_dims) != 2:
        shape = _shape_text(out_dims)
        raise ModelFileError(path, f"output {output.name!r} has rank {len(out_dims)} {shape}; expected [N, classes]")
    return GraphInfo(
        metadata={prop.key: prop.value for prop in model.metadata_props},
        input_name=image.name,
        input_dtype=dtype,
        layout=layout,
        batch=batch,
        height=height,
        width=width,
        output_name=output.name,
        num_classes=out_dims[1],
        external_data=external,
    )


def _load_proto(path: Path) -> onnx.ModelProto:
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise ModelFileError(path, "file not found") from exc
    except OSError as exc:
        raise ModelFileError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if size == 0:
        raise ModelFileError(path, "file is empty (0 bytes)")
    try:
        model = onnx.load(os.fspath(path), load_external_data=False)
    except DecodeError as exc:
        raise ModelFileError(path, f"not a readable ONNX model (truncated or not ONNX: {exc})") from exc
    except OSError as exc:
        raise ModelFileError(path, f"cannot read file ({exc.strerror or exc})") from exc
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(path, f"not a readable ONNX model ({exc})") from exc
    if model.ir_version <= 0 or not model.graph.node:
        raise ModelFileError(path, "not an ONNX model (no IR version or no graph nodes)")
    return model


def check_external_data(model: onnx.ModelProto, path: Path) -> bool:
    """Refuse external tensor data that is missing, too short, or outside the model's folder.

    Returns whether the model has external data at all.
    """
    folder = path.resolve().parent
    found = False
    for tensor in _all_tensors(model.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        found = True
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        if not location:
            raise ModelFileError(path, f"tensor {tensor.name!r} has external data without a location")
        if Path(location).is_absolute() or os.path.isabs(location):
            raise ModelFileError(path, f"external data location {location!r} is an absolute path; refused")
        target = (folder / location).resolve()
        if not target.is_relative_to(folder):
            raise ModelFileError(path, f"external data location {location!r} escapes the model's folder; refused")
        if not target.is_file():
            raise ModelFileError(path, f"external data file {location!r} is missing (tensor {tensor.name!r})")
        needed = int(info.get("offset", 0) or 0) + int(info.get("length", 0) or 0)
        if needed > target.stat().st_size:
            raise ModelFileError(path, f"external data file {location!r} is shorter than tensor {tensor.name!r} needs")
    return found


def _all_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers and constant attributes, including those of sub-graphs (If/Loop bodies)."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _all_tensors(attr.g)
            for sub in attr.graphs:
                yield from _all_tensors(sub)


def _dims(value: onnx.ValueInfoProto) -> list[int | None]:
    shape = value.type.tensor_type.shape
    return [dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else None for dim in shape.dim]


def _shape_text(dims: list[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"
