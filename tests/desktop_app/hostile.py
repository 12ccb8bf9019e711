"""Hostile and odd model files for the desktop_app tests, built with ``onnx.helper`` (no torch).

``build_model``: a global-average-pool classifier (any input size runs) with our metadata and any
metadata ``changes``; ``replace_bytes`` puts bytes that are not UTF-8 into it; ``sqrt_model``: a
workbench model whose output is NaN for dark images.

Example::

    python -c "from tests.desktop_app.hostile import card_metadata; print(card_metadata())"
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.desktop_app.helpers import TINY_SIZE, write_card
from workbench.contract import ModelCard
from workbench.preprocess import Preprocess

LABELS = tuple(f"thing-{i}" for i in range(10))
NAN_LABELS = ("café", "日本", "naïve", *(f"class-{i}" for i in range(3, 10)))


def build_model(
    path: Path,
    changes: Mapping[str, str | None] | None = None,
    *,
    dims: tuple[int | str, ...] = ("N", 3, "H", "W"),
    classes: int | str = 10,
    card: bool = True,
    preprocess: Preprocess | None = None,
) -> Path:
    """A classifier (GlobalAveragePool -> Flatten -> MatMul) with our metadata, ``changes`` applied (None deletes)."""
    weights = numpy_helper.from_array(np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10), "w")
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "w"], ["logits"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes,
        "hostile",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [dims[0], classes])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    props = card_metadata(preprocess) if card else {}
    for key, value in (changes or {}).items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return path


def card_metadata(preprocess: Preprocess | None = None) -> dict[str, str]:
    card = ModelCard(
        architecture="poolnet",
        label_set="hostile-10",
        labels=LABELS,
        preprocess=preprocess or Preprocess(resize=256, crop=(224, 224)),
        weights={"source": "file", "detail": "poolnet.pt", "trained": True},
        provenance={"exporter": "test"},
    )
    return card.to_metadata()


def replace_bytes(path: Path, placeholder: bytes, raw: bytes) -> Path:
    """Put bytes that are not UTF-8 where ``placeholder`` (same length) is in the file."""
    assert len(placeholder) == len(raw)
    data = path.read_bytes()
    assert data.count(placeholder) == 1
    path.write_bytes(data.replace(placeholder, raw))
    return path


def sqrt_model(path: Path) -> Path:
    """A workbench model whose logits are sqrt(mean of the normalised input + class offset).

    A white image gives finite logits; a black one (mean about -2) gives NaN for every class.
    """
    pixels = 3 * TINY_SIZE * TINY_SIZE
    weight = numpy_helper.from_array(np.full((pixels, 10), 1.0 / pixels, dtype=np.float32), "weight")
    offset = numpy_helper.from_array(np.linspace(0.09, 0.0, 10, dtype=np.float32), "offset")  # "café" first
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], axis=1, name="/fc/Flatten"),
        helper.make_node("MatMul", ["flat", "weight"], ["mean"], name="/fc/MatMul"),
        helper.make_node("Add", ["mean", "offset"], ["shifted"], name="/fc/Add"),
        helper.make_node("Sqrt", ["shifted"], ["logits"], name="/fc/Sqrt"),
    ]
    graph = helper.make_graph(
        nodes,
        "sqrt-net",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, TINY_SIZE, TINY_SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=[weight, offset],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="hostile-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    card = ModelCard(
        architecture="sqrtnet",
        label_set="hostile-10",
        labels=NAN_LABELS,
        preprocess=Preprocess(resize=36, crop=(TINY_SIZE, TINY_SIZE)),
        weights={"source": "constructed", "trained": True},
    )
    write_card(path, model, card)
    return path
