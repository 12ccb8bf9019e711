"""Helpers for the override tests: a tiny "channel mean" ONNX classifier, with or without workbench metadata.

The model averages each input channel and multiplies by a 3 x C matrix, so its probabilities move with
the normalisation (mean, std, value range, channel order): an override visibly changes its answers.
Built with ``onnx.helper`` (no torch). A labels file helper writes one name per line.

Example::

    python -c "from pathlib import Path; from tests.desktop_app.overrides_helpers import channel_model; \\
print(channel_model(Path('/tmp/foreign.onnx')))"
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from workbench.contract import ModelCard
from workbench.preprocess import Preprocess

SIZE = 16
WEIGHTS = np.array([[3.0, -1.0, 0.5], [-2.0, 2.5, 1.0], [0.5, 1.0, -3.0]], dtype=np.float32)


def channel_model(
    path: Path,
    *,
    dims: tuple[int | str, ...] = ("N", 3, SIZE, SIZE),
    classes: int = 3,
    card: bool = False,
) -> Path:
    """Write the model; ``card`` adds workbench metadata (labels ``c0``.., resize 20, crop 16)."""
    weights = np.resize(WEIGHTS, (3, classes)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=0, name="pool"),
            helper.make_node("MatMul", ["mean", "w"], ["logits"], name="fc"),
        ],
        "channel-mean",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [dims[0], classes])],
        [numpy_helper.from_array(np.array([2, 3], np.int64), "axes"), numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    if card:
        meta = ModelCard(
            architecture="channelnet",
            label_set="channels",
            labels=tuple(f"c{i}" for i in range(classes)),
            preprocess=Preprocess(resize=20, crop=(SIZE, SIZE)),
            weights={"source": "hand-made", "trained": True},
        )
        for key, value in meta.to_metadata().items():
            model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def labels_file(path: Path, names: Sequence[str]) -> Path:
    """Write ``names`` one per line (UTF-8) and return ``path``."""
    path.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    return path
