"""The Model info tab (issue 18): input shape, parameters, GMACs (or "unknown"), file size, and a golden self-test
that names labels instead of class indices.

Real tiny ONNX models (the session's ``model_bank``) in the real window, and one file built with ``onnx.helper``.
``QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_model_info_polish.py -q``
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from desktop_app.core.catalog import inspect_model
from desktop_app.core.runtime import compare_golden
from desktop_app.view import backend
from desktop_app.view.model_info import ModelInfoPanel, parameters_text, size_text
from tests.desktop_app.evaluate_helpers import colour_model


def _initializer_count(path: Path) -> int:
    model = onnx.load(str(path))
    return sum(numpy_helper.to_array(t).size for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT)


def test_window_shows_input_parameters_gmacs_size_and_named_golden_classes(make_window, model_bank) -> None:
    window = make_window(model_bank["tiny"])
    text = window.info_panel.text()
    entry = window.current_entry()
    assert entry is not None and entry.parameters == _initializer_count(model_bank["tiny"]) > 0
    assert f"Input\n1 x 3 x {entry.height} x {entry.width} (NCHW, float32; any batch size)" in text
    assert f"{entry.parameters:,}" in text and "counted from the file's weights" in text
    assert "GMACs\nunknown (not recorded in the file)" in text
    size = model_bank["tiny"].stat().st_size
    assert f"({size:,} bytes)" in text
    golden = next(line for line in text.splitlines() if line.startswith("golden self-test"))
    assert "passed" in golden and "thing " in golden and "[" not in golden  # labels, not [3, 1, ...]


def test_gmacs_shown_when_the_card_records_them(qtbot, tmp_path: Path) -> None:
    entry = inspect_model(colour_model(tmp_path / "colours.onnx"))
    assert entry.card is not None and entry.parameters == 9  # the 3x3 matrix; the int64 axes are no weights
    recorded = dataclasses.replace(entry, card=dataclasses.replace(entry.card, provenance={"gmacs": 0.39}))
    panel = ModelInfoPanel()
    qtbot.addWidget(panel)
    panel.show_info(backend.model_info(recorded))
    assert "GMACs\n0.39 per image" in panel.text()
    assert "Parameters\n9 (from the file's weights)" in panel.text()


def test_golden_messages_name_labels_and_fall_back_to_indices() -> None:
    logits = np.array([0.0, 5.0, 4.0, 1.0])
    labels = ("cat", "dog", "cup <b>", "car")
    passed = compare_golden(logits, (1, 2), (5.0, 4.0), 1e-3, labels)
    assert passed.passed and "top-5 dog, cup <b>," in passed.message
    failed = compare_golden(logits, (2, 1), (5.0, 4.0), 1e-3, labels)
    assert not failed.passed and "top-5 dog, cup <b> (expected cup <b>, dog)" in failed.message
    assert "top-5 [1, 2]" in compare_golden(logits, (1, 2), (5.0, 4.0), 1e-3).message


def test_number_formats() -> None:
    assert parameters_text(11_689_512) == "11.7 M (11,689,512, counted from the file's weights)"
    assert parameters_text(None) == "unknown"
    assert size_text(46_827_520) == "46.8 MB (46,827,520 bytes)"
    assert size_text(512) == "512 bytes"


def test_quantization_shows_the_export_sentence_first_and_the_fp32_layers_by_module(qtbot) -> None:
    from desktop_app.view.model_info import ModelInfo, ModelInfoPanel

    panel = ModelInfoPanel()
    qtbot.addWidget(panel)
    quantization = {
        "calibration_images": 14,
        "summary": "int8: 18 of 20 convolutions in int8; kept in fp32: conv1 <b>bold</b>",
        "fp32_fallback": [{"node": "node_Conv_0", "modules": ["conv1", "relu"]}, {"node": "node_Conv_9"}],
    }
    panel.show_info(ModelInfo(title="demo", path="demo.onnx", quantization=quantization))
    text = panel.text()
    assert text.index("int8: 18 of 20 convolutions") < text.index("kept in fp32: conv1, relu; node_Conv_9")
    assert text.index("kept in fp32: conv1, relu") < text.index("calibration_images: 14")
    assert "<b>bold</b>" in text  # file text is shown literally, never as markup
