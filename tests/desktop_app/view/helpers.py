"""Helpers for the Qt view tests: tiny ONNX models, a PNG header that claims any size, real drag-and-drop events.

Models are built with ``onnx.helper`` (no torch needed) and named like a PyTorch export
(``/layer1/layer1.0/conv1/Conv``) with a workbench node map, so the timing tab shows module names.
The fixtures (``model_bank``, ``make_window``, ``photos`` ...) are in ``tests/desktop_app/view/conftest.py``.

Example::

    python -c "from tests.desktop_app.view.helpers import png_header; print(len(png_header(10, 10)))"
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import PySide6
from onnx import TensorProto, helper, numpy_helper
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop_app.view.main_window import MainWindow
from workbench.contract import Golden, ModelCard, NodeMap, golden_input
from workbench.preprocess import Preprocess

CLASSES = 10
SIZE = 32


def _conv(name: str, x: str, cin: int, cout: int, rng: np.random.Generator, inits: list, k: int = 3) -> onnx.NodeProto:
    w = numpy_helper.from_array((rng.standard_normal((cout, cin, k, k)) * 0.3).astype(np.float32), f"{name}.weight")
    b = numpy_helper.from_array((rng.standard_normal(cout) * 0.1).astype(np.float32), f"{name}.bias")
    inits += [w, b]
    onnx_name = "/" + "/".join(_scopes(name)) + "/Conv"
    return helper.make_node(
        "Conv", [x, w.name, b.name], [onnx_name + "_output_0"], name=onnx_name, pads=[k // 2] * 4, kernel_shape=[k, k]
    )


def _scopes(module: str) -> list[str]:
    """``layer1.0.conv1`` -> ``["layer1", "layer1.0", "conv1"]`` (the TorchScript exporter's scopes)."""
    parts = module.split(".")
    scopes, i = [], 0
    while i < len(parts):
        if i + 1 < len(parts) and parts[i + 1].isdigit():
            scopes += [parts[i], f"{parts[i]}.{parts[i + 1]}"]
            i += 2
        else:
            scopes.append(parts[i])
            i += 1
    return scopes


def _op(op: str, module: str, inputs: list[str], **attrs: Any) -> onnx.NodeProto:
    name = "/" + "/".join([*_scopes(module), op]) if module else f"/{op}"
    return helper.make_node(op, inputs, [name + "_output_0"], name=name, **attrs)


def _graph(size: int, channels: int, blocks: int, batch: int | str, seed: int) -> tuple[onnx.GraphProto, dict]:
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []
    nodes = [_conv("stem", "image", 3, channels, rng, inits)]
    nodes.append(_op("Relu", "stem.relu", [nodes[-1].output[0]]))
    x = nodes[-1].output[0]
    for i in range(blocks):
        nodes.append(_conv(f"layer1.{i}.conv1", x, channels, channels, rng, inits))
        nodes.append(_op("Relu", f"layer1.{i}.relu", [nodes[-1].output[0]]))
        nodes.append(_op("Add", f"layer1.{i}", [nodes[-1].output[0], x]))
        x = nodes[-1].output[0]
    nodes.append(_op("GlobalAveragePool", "pool", [x]))
    nodes.append(_op("Flatten", "", [nodes[-1].output[0]], axis=1))
    fc_w = numpy_helper.from_array(rng.standard_normal((CLASSES, channels)).astype(np.float32), "fc.weight")
    fc_b = numpy_helper.from_array(rng.standard_normal(CLASSES).astype(np.float32), "fc.bias")
    inits += [fc_w, fc_b]
    nodes.append(
        helper.make_node("Gemm", [nodes[-1].output[0], "fc.weight", "fc.bias"], ["logits"], name="/fc/Gemm", transB=1)
    )
    node_map: dict[str, dict[str, str]] = {"nodes": {}, "tensors": {}}
    for node in nodes:
        scopes = node.name.strip("/").split("/")[:-1]
        module = scopes[-1] if scopes else "flatten"
        if len(scopes) >= 2 and not scopes[-1].startswith(scopes[-2]):
            module = f"{scopes[-2]}.{scopes[-1]}"
        node_map["nodes"][node.name] = module
        node_map["tensors"][node.output[0]] = module
    graph = helper.make_graph(
        nodes,
        "tinynet",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, CLASSES])],
        inits,
    )
    return graph, node_map


def build_model(
    path: Path,
    *,
    card: bool = True,
    trained: bool = False,
    golden: str = "ok",
    size: int = SIZE,
    channels: int = 8,
    blocks: int = 2,
    seed: int = 0,
    architecture: str = "tinynet",
    labels: tuple[str, ...] | None = None,
) -> Path:
    """Write a tiny classifier to ``path``; ``golden`` is "ok", "wrong" (a mismatch) or "none".

    ``labels``: the CLASSES label names (default ``thing 0`` … ``thing 9``).
    """
    graph, node_map = _graph(size, channels, blocks, "N" if card else 1, seed)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="view-tests")
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    if not card:
        return path
    weights = {"source": "imagenet", "trained": True} if trained else {"source": "random", "trained": False}
    meta_card = ModelCard(
        architecture=architecture,
        label_set="tiny-10",
        labels=labels if labels is not None else tuple(f"thing {i}" for i in range(CLASSES)),
        preprocess=Preprocess(resize=round(size * 256 / 224), crop=(size, size)),
        weights=weights,
        training={"top1": 0.42} if trained else None,
        node_map=NodeMap.from_dict(node_map),
        golden=_golden(path, size, golden),
    )
    for key, value in meta_card.to_metadata().items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    path.write_bytes(model.SerializeToString())
    return path


def _golden(path: Path, size: int, mode: str) -> Golden | None:
    if mode == "none":
        return None
    x = golden_input((1, 3, size, size))
    logits = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0][0]
    top5 = [int(i) for i in np.argsort(-logits, kind="stable")[:5]]
    shift = 3.0 * float(logits.max() - logits.min()) if mode == "wrong" else 0.0  # a PyTorch/ORT mismatch
    return Golden(
        shape=(1, 3, size, size),
        layout="NCHW",
        top5=tuple(top5),
        top5_logits=tuple(float(logits[i]) + shift for i in top5),
        logit_range=float(logits.max() - logits.min()),
        tolerance=1e-3,
    )


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def drag_enter_event(pos: QPoint, mime: QMimeData) -> QDragEnterEvent:
    """A copy drag entering at ``pos``: PySide6 6.12 takes a QPointF (its QPoint form is deprecated), 6.11 a QPoint."""
    point: Any = QPointF(pos) if PySide6.__version_info__ >= (6, 12) else pos
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    return QDragEnterEvent(point, Qt.DropAction.CopyAction, mime, buttons, keys)


def drop_paths(window: MainWindow, paths: list[Path]) -> bool:
    """Deliver a real drag-enter + drop of file URLs to ``window``; returns whether the drop was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return drop_mime(window, mime)


def drop_mime(window: MainWindow, mime: QMimeData) -> bool:
    """Deliver a real drag-enter + drop of ``mime`` (e.g. a file manager's text/uri-list) to ``window``."""
    pos = QPoint(window.width() // 2, window.height() // 2)
    actions = Qt.DropAction.CopyAction
    enter = drag_enter_event(pos, mime)
    QApplication.sendEvent(window, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(pos), actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return drop.isAccepted()
