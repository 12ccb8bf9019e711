"""Static checks of an ONNX classifier file, before ONNX Runtime ever opens it.

:func:`read_graph_info` reads only the parts of the file it needs: it refuses anything but a regular
file of at most 2 GiB (protobuf's limit; bigger models keep their weights as external data) by its
size alone, then walks the protobuf wire format, skipping tensor data, doc strings and foreign
metadata by seeking past them, and parses the rest with ``onnx`` (so a 500 MB model costs a few
kilobytes of reading, and a junk file fails at its first bytes). It refuses external data that is
missing or whose location escapes the model's folder (``../secret.bin``), metadata values that are
too large or not UTF-8, and describes the one image input (rank 4, 3 channels in NCHW or NHWC
position, sides within ``preprocess.MAX_CROP_SIDE``) and the one [N, classes] output ([N, classes, 1, 1]
is read as such; at most ``contract.MAX_LABELS`` classes). Every problem is a :class:`ModelFileError`
whose message is one line naming the file.

Example::

    python -c "from workbench.modelfile import read_graph_info; print(read_graph_info('model.onnx'))"
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto

from workbench.contract import MAX_LABELS, MAX_METADATA_CHARS, MAX_METADATA_TOTAL, METADATA_KEYS, PREFIX
from workbench.preprocess import MAX_CROP_SIDE

#: ONNX element types we can feed, and the numpy dtype names to cast the input to.
INPUT_DTYPES: dict[int, str] = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float16"}
#: A protobuf message cannot exceed 2 GiB; bigger ONNX models keep their weights in external data files.
MAX_MODEL_BYTES = 2 * 1024**3
#: Files up to this size are read whole; bigger ones are read field by field, seeking past tensor data.
READ_WHOLE_BYTES = 16 * 1024 * 1024


class ModelFileError(ValueError):
    """An ONNX file that cannot be used; ``str(err)`` is ``"<file>: <problem>"`` on one line."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = " ".join(reason.split())
        super().__init__(f"{path.name}: {self.reason}")


@dataclass(frozen=True)
class GraphInfo:
    """What the graph itself says about its input and output (``None`` for dynamic dimensions)."""

    metadata: dict[str, str]  # the workbench.* values a consumer reads (contract.METADATA_KEYS), nothing else
    input_name: str
    input_dtype: str
    layout: str
    batch: int | None
    height: int | None
    width: int | None
    output_name: str
    num_classes: int | None
    external_data: bool = False  # some tensors live in files beside the model
    parameters: int | None = None  # elements of the weight initializers (floats and 8-bit integers)


def read_graph_info(path: Path) -> GraphInfo:
    """Parse and check ``path``; raise :class:`ModelFileError` for anything unusable."""
    model, metadata = _load_proto(path)
    external = check_external_data(model, path)
    graph = model.graph
    if not all(isinstance(value.name, str) for value in (*graph.input, *graph.output)):
        raise ModelFileError(path, "a graph input or output name is not valid UTF-8 text")
    initializers = {init.name for init in graph.initializer}
    inputs = [value for value in graph.input if value.name not in initializers]
    if len(inputs) != 1:
        names = ", ".join(v.name[:100] for v in inputs[:5]) + (", ..." if len(inputs) > 5 else "") or "none"
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
    if any(side is not None and side > MAX_CROP_SIDE for side in (height, width)):
        shape = _shape_text(dims)
        raise ModelFileError(path, f"input {image.name!r} {shape} is larger than {MAX_CROP_SIDE} pixels a side")
    if len(graph.output) != 1:
        raise ModelFileError(path, f"has {len(graph.output)} outputs; a classifier needs exactly one (the logits)")
    output = graph.output[0]
    out_dims = _dims(output)
    if len(out_dims) == 4 and out_dims[2:] == [1, 1]:
        out_dims = out_dims[:2]  # [N, classes, 1, 1] (older zoo models end in a 1x1 conv): read as [N, classes]
    if len(out_dims) != 2:
        shape = _shape_text(out_dims)
        expected = "expected [N, classes] (or [N, classes, 1, 1])"
        raise ModelFileError(path, f"output {output.name!r} has rank {len(out_dims)} {shape}; {expected}")
    if out_dims[1] is not None and out_dims[1] > MAX_LABELS:
        raise ModelFileError(path, f"output {output.name!r} has {out_dims[1]} classes; at most {MAX_LABELS}")
    return GraphInfo(
        metadata=metadata,
        input_name=image.name,
        input_dtype=dtype,
        layout=layout,
        batch=batch,
        height=height,
        width=width,
        output_name=output.name,
        num_classes=out_dims[1],
        external_data=external,
        parameters=count_parameters(graph),
    )


# Element types of learnt weights: floats, and the 8/4-bit integers of quantized models (int64 shapes, axes and
# int32 biases of quantized convolutions are left out: they are not weights anyone counts).
_WEIGHT_TYPES = frozenset(
    {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}
    | {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT4, TensorProto.UINT4}
)


def count_parameters(graph: onnx.GraphProto) -> int:
    """How many weight values the graph's initializers hold (from their dims; the data is never read)."""
    total = 0
    for tensor in graph.initializer:
        if tensor.data_type in _WEIGHT_TYPES:
            count = 1
            for dim in tensor.dims:
                count *= max(0, int(dim))
            total += count
    return total


def _load_proto(path: Path) -> tuple[onnx.ModelProto, dict[str, str]]:
    """The model without tensor data, doc strings or foreign metadata, and its ``workbench.*`` metadata."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as exc:
        raise ModelFileError(path, "file not found") from exc
    except OSError as exc:
        raise ModelFileError(path, f"cannot read file ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as fp:
        size = _check_size(path, os.fstat(fd))
        try:
            source = _Source(fp.read(), None, size) if size <= READ_WHOLE_BYTES else _Source(None, fp, size)
            reader = _Reader(path)
            model = onnx.ModelProto.FromString(reader.message(source, 0, size, "model"))
        except (_Malformed, DecodeError) as exc:
            raise ModelFileError(path, f"not a readable ONNX model (truncated or not ONNX: {exc})") from exc
        except OSError as exc:
            raise ModelFileError(path, f"cannot read file ({exc.strerror or exc})") from exc
    if model.ir_version <= 0 or not model.graph.node:
        raise ModelFileError(path, "not an ONNX model (no IR version or no graph nodes)")
    return model, reader.metadata


def _check_size(path: Path, info: os.stat_result) -> int:
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError(path, "is a folder, not a model file")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError(path, "not a regular file")
    if info.st_size == 0:
        raise ModelFileError(path, "file is empty (0 bytes)")
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelFileError(
            path,
            f"file is {info.st_size / 1024**3:.1f} GiB; an ONNX model file cannot be larger than 2 GiB "
            "(bigger models keep their weights in external data files)",
        )
    return info.st_size


class _Malformed(ValueError):
    """The bytes do not follow the protobuf wire format of an ONNX model."""


# Which fields of each message to keep (field number -> "keep", or the kind of a sub-message to walk).
# Everything else (tensor data, doc strings, value_info, functions, ...) is skipped without being read.
_KEEP = "keep"
_SCHEMA: dict[str, dict[int, str]] = {
    "model": {1: _KEEP, 7: "graph", 14: "metadata"},  # ir_version, graph, metadata_props
    "graph": {1: "node", 5: "tensor", 11: _KEEP, 12: _KEEP},  # node, initializer, input, output
    "node": {1: _KEEP, 2: _KEEP, 3: _KEEP, 4: _KEEP, 5: "attribute", 7: _KEEP},
    "attribute": {1: _KEEP, 20: _KEEP, 5: "tensor", 6: "graph", 10: "tensor", 11: "graph"},
    "tensor": {1: _KEEP, 2: _KEEP, 8: _KEEP, 13: _KEEP, 14: _KEEP},  # dims, type, name, external data
}
_MAX_KEPT_FIELD = 1024 * 1024  # a name, a shape, a dims list: never this big in a real model
_MAX_FIELDS = 5_000_000
_MAX_DEPTH = 64
_MAX_KEY_BYTES = 256
_READ_AT_ONCE = 64 * 1024
_WANTED_KEYS = frozenset((PREFIX + key).encode() for key in METADATA_KEYS)


class _Source:
    """Bytes [base, base + size) of the file: held in memory, or read at positions from the open file."""

    def __init__(self, data: bytes | None, fp: BinaryIO | None, size: int, base: int = 0) -> None:
        self.data, self.fp, self.size, self.base = data, fp, size, base

    def read(self, pos: int, length: int) -> bytes:
        if self.data is not None:
            chunk = self.data[pos - self.base : pos - self.base + length]
        else:
            assert self.fp is not None
            self.fp.seek(pos)
            chunk = self.fp.read(length)
        if len(chunk) != length:
            raise _Malformed("unexpected end of file")
        return chunk

    def window(self, start: int, end: int) -> _Source:
        """A small part of a file read into memory at once (a node, a tensor header), walked from there."""
        if self.data is not None or end - start > _READ_AT_ONCE:
            return self
        return _Source(self.read(start, end - start), None, end - start, start)

    def varint(self, pos: int, end: int) -> tuple[int, int]:
        """The varint at ``pos`` and the position after it."""
        chunk = self.read(pos, min(10, end - pos))
        value = 0
        for index, byte in enumerate(chunk):
            value |= (byte & 0x7F) << (7 * index)
            if byte < 0x80:
                return value, pos + index + 1
        raise _Malformed("bad varint")


class _Reader:
    """Rebuilds the kept fields of a ModelProto from a :class:`_Source`, collecting the workbench metadata."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.metadata: dict[str, str] = {}
        self.fields = 0

    def message(self, source: _Source, start: int, end: int, kind: str, depth: int = 0) -> bytes:
        """The kept fields of the ``kind`` message in bytes [start, end), re-encoded."""
        if depth > _MAX_DEPTH:
            raise _Malformed("messages nested too deeply")
        schema, out, pos = _SCHEMA[kind], bytearray(), start
        while pos < end:
            tag_start = pos
            tag, pos = source.varint(pos, end)
            number, wire = tag >> 3, tag & 7
            payload, pos = self._field_end(source, pos, end, wire)
            self.fields += 1
            if number == 0 or self.fields > _MAX_FIELDS:
                raise _Malformed("field number 0" if number == 0 else f"more than {_MAX_FIELDS} fields")
            child = schema.get(number)
            if child is None:
                continue  # not needed: skipped without reading it
            if child == _KEEP:
                if pos - tag_start > _MAX_KEPT_FIELD:
                    raise _Malformed(f"a {kind} field of {pos - tag_start} bytes")
                out += source.read(tag_start, pos - tag_start)
            elif wire != 2:
                raise _Malformed(f"{kind} field {number} has wire type {wire}")
            elif child == "metadata":
                self._metadata_entry(source.window(payload, pos), payload, pos)
            else:
                body = self.message(source.window(payload, pos), payload, pos, child, depth + 1)
                out += _encode_varint(tag) + _encode_varint(len(body)) + body
        return bytes(out)

    @staticmethod
    def _field_end(source: _Source, pos: int, end: int, wire: int) -> tuple[int, int]:
        """(start of the payload, position after the field) for a field of wire type ``wire`` at ``pos``."""
        if wire == 0:
            return pos, source.varint(pos, end)[1]
        if wire in (1, 5):
            after = pos + (8 if wire == 1 else 4)
        elif wire == 2:
            length, pos = source.varint(pos, end)
            after = pos + length
        else:
            raise _Malformed(f"wire type {wire}")
        if after > end:
            raise _Malformed("a field runs past the end of its message")
        return pos, after

    def _metadata_entry(self, source: _Source, start: int, end: int) -> None:
        """Keep one ``metadata_props`` entry if it is a key a consumer reads; check its size and text."""
        spans: dict[int, tuple[int, int]] = {1: (start, start), 2: (start, start)}
        pos = start
        while pos < end:
            tag, pos = source.varint(pos, end)
            payload, pos = self._field_end(source, pos, end, tag & 7)
            if tag & 7 == 2 and tag >> 3 in spans:
                spans[tag >> 3] = (payload, pos)
        (key_start, key_end), (value_start, value_end) = spans[1], spans[2]
        if key_end - key_start > _MAX_KEY_BYTES:
            return  # longer than any key we read: not ours, and not read
        key = source.read(key_start, key_end - key_start)
        if key not in _WANTED_KEYS:
            return
        name, size = key.decode(), value_end - value_start
        if name in self.metadata:
            raise ModelFileError(self.path, f"metadata key {name} appears more than once")
        if size > MAX_METADATA_CHARS:
            raise ModelFileError(self.path, f"metadata {name} is {_mib(size)}; at most {_mib(MAX_METADATA_CHARS)}")
        total = size + sum(len(v) for v in self.metadata.values())
        if total > MAX_METADATA_TOTAL:
            raise ModelFileError(
                self.path, f"metadata workbench.* is {_mib(total)} or more; at most {_mib(MAX_METADATA_TOTAL)}"
            )
        try:
            self.metadata[name] = source.read(value_start, size).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFileError(self.path, f"metadata {name} is not valid UTF-8 text (byte {exc.start})") from exc


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


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
        if not all(isinstance(text, str) for item in info.items() for text in item):
            raise ModelFileError(path, f"tensor {tensor.name!r} has external data entries that are not UTF-8 text")
        location = info.get("location", "")
        if not location:
            raise ModelFileError(path, f"tensor {tensor.name!r} has external data without a location")
        try:
            _check_location(path, folder, location, tensor.name, info)
        except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, symlink loops, names too long, junk offsets
            if isinstance(exc, ModelFileError):
                raise
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ModelFileError(path, f"external data location {location[:200]!r} cannot be used ({reason})") from exc
    return found


def _check_location(path: Path, folder: Path, location: str, tensor: str, info: dict[str, str]) -> None:
    if Path(location).is_absolute() or os.path.isabs(location):
        raise ModelFileError(path, f"external data location {location!r} is an absolute path; refused")
    target = (folder / location).resolve()
    if not target.is_relative_to(folder):
        raise ModelFileError(path, f"external data location {location!r} escapes the model's folder; refused")
    if not target.is_file():
        raise ModelFileError(path, f"external data file {location!r} is missing (tensor {tensor!r})")
    needed = int(info.get("offset", 0) or 0) + int(info.get("length", 0) or 0)
    if needed > target.stat().st_size:
        raise ModelFileError(path, f"external data file {location!r} is shorter than tensor {tensor!r} needs")


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
