"""Helpers for the evaluate tests: a tiny ONNX "colour" model whose answers are known, and labelled folders.

The model averages each channel of the (ImageNet-normalised) input and multiplies by a 3xC matrix, so
a red image is "red", a green one "green", a blue one "blue"; ``mix`` rows shift some answers, so a
model can be made that is wrong on purpose. Built with ``onnx.helper`` (no torch).

Example::

    python -c "from tests.desktop_app.evaluate_helpers import COLOURS; print(COLOURS)"
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from workbench.contract import ModelCard
from workbench.preprocess import Preprocess

COLOURS = ("red", "green", "blue")
RGB = {"red": (220, 20, 20), "green": (20, 220, 20), "blue": (20, 20, 220), "grey": (128, 128, 128)}
SIZE = 16


def colour_model(path: Path, weights: np.ndarray | None = None, labels: Sequence[str] = COLOURS) -> Path:
    """Write the colour model (``weights``: 3 x len(labels), identity by default) with a workbench card."""
    matrix = np.eye(3, len(labels), dtype=np.float32) * 4 if weights is None else weights.astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=0, name="pool"),
            helper.make_node("MatMul", ["mean", "w"], ["logits"], name="fc"),
        ],
        "colour",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        [numpy_helper.from_array(np.array([2, 3], np.int64), "axes"), numpy_helper.from_array(matrix, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    card = ModelCard(
        architecture=path.stem,
        label_set="colours",
        labels=tuple(labels),
        preprocess=Preprocess(resize=SIZE, crop=(SIZE, SIZE)),
        weights={"source": "hand-made", "trained": True},
    )
    for key, value in card.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_image(path: Path, colour: str, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), RGB[colour]).save(path)
    return path


def image_folder(root: Path, counts: dict[str, dict[str, int]]) -> Path:
    """``root/<class>/<n>.png`` where ``counts[class][colour]`` images of each colour are written."""
    for cls, colours in counts.items():
        number = 0
        for colour, count in colours.items():
            for _ in range(count):
                write_image(root / cls / f"{number}.png", colour)
                number += 1
    return root
