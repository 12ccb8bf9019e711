"""The int8 export's text names layers by module and ends with a sentence and a table; files record GMACs/parameters.

Run: ``pytest tests/exporter/test_text_polish.py -q -n 0``
"""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest

import models
from exporter.quant.summary import LayerNames, summary_lines
from models.complexity import count_macs, count_params
from tests.exporter.helpers import run_cli
from workbench.contract import ModelCard, NodeMap

SIZE = 32


def _card(path: Path) -> ModelCard:
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    card = ModelCard.from_metadata(props)
    assert card is not None
    return card


def _int8_cli(out: Path) -> tuple[str, ModelCard]:
    """``python -m exporter export`` of a 32 px resnet18 (random weights) in int8: its output and the file's card."""
    args = ["export", "--model", "resnet18", "--weights", "random", "--image-size", str(SIZE)]
    done = run_cli(*args, "--precision", "int8", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("*.onnx")
    return done.stdout + done.stderr, _card(path)


def _the_int8_log_names_layers_by_module(int8_cli: tuple[str, ModelCard]) -> None:
    text, _card = int8_cli
    search = [line for line in text.splitlines() if "fp32 fallback for" in line or "trying" in line]
    assert search, text  # random resnet18 at 32 px: its first layers are kept in fp32
    assert all("node_" not in line for line in search), search
    assert "fp32 fallback for layer1.0.conv1 (Conv with conv1, relu, maxpool, layer1.0.relu)" in text


def _the_int8_summary_is_a_sentence_and_a_table(int8_cli: tuple[str, ModelCard]) -> None:
    text, card = int8_cli
    lines = text.splitlines()
    (i,) = [n for n, line in enumerate(lines) if re.match(r"int8: \d+ of \d+ convolutions in int8; ", line)]
    sentence = lines[i]
    assert re.search(r"18 of 20 convolutions in int8; kept in fp32: conv1, relu, maxpool, layer1\.0\.conv1", sentence)
    assert "(first layers, 1 round)" in sentence
    assert re.search(r"output SQNR \d+\.\d dB vs the fp32 graph on 29 images \(14 for calibration\)", sentence)
    assert re.search(r"top-1 agreement with PyTorch fp32 \d+\.\d% on 15 verification inputs$", sentence)
    header, row = lines[i + 1], lines[i + 2]
    assert header.split() == ["kept", "in", "fp32", "op", "reason"]
    assert row.startswith("  conv1, relu, maxpool, layer1.0.conv1, layer1.0.relu  Conv  the first two convolutions")
    assert header.index("op") == row.index("Conv") and header.index("reason") == row.index("the first")
    assert "{" not in text  # no JSON anywhere
    assert card.quantization is not None and card.quantization["summary"] == sentence.removeprefix("int8: ")


def _the_file_records_modules_next_to_nodes(int8_cli: tuple[str, ModelCard]) -> None:
    _text, card = int8_cli
    q = dict(card.quantization or {})
    (fallback,) = q["fp32_fallback"]
    assert fallback["node"].startswith("node_Conv_") and fallback["module"] == "layer1.0.conv1"  # old key kept
    assert len(fallback["with"]) == len(fallback["with_modules"]) and "conv1" in fallback["with_modules"]
    assert fallback["modules"] == ["conv1", "relu", "maxpool", "layer1.0.conv1", "layer1.0.relu"]
    assert q["convolutions"] == {"total": 20, "fp32": 2} and q["fp32_fallback_rounds"] == 1


def _the_file_records_parameters_and_gmacs_at_its_input_size(int8_cli: tuple[str, ModelCard]) -> None:
    from desktop_app.core.catalog import ModelEntry
    from desktop_app.view.backend import recorded_gmacs

    _text, card = int8_cli
    model = models.get_model("resnet18")
    assert card.provenance["parameters"] == count_params(model) == 11_689_512
    assert card.provenance["gmacs"] == pytest.approx(count_macs(model, (3, SIZE, SIZE)) / 1e9, abs=1e-6)
    assert card.provenance["gmacs_input"] == [3, SIZE, SIZE]
    assert 0.03 < card.provenance["gmacs"] < 0.05  # 1.82 GMACs at 224 px, scaled by (32/224)**2
    entry = ModelEntry(name="m", path=Path("m.onnx"), card=card)
    assert recorded_gmacs(entry) == card.provenance["gmacs"]  # what the Model info tab shows


def test_the_int8_export_names_layers_by_module_ends_with_a_summary_and_records_its_facts(tmp_path: Path) -> None:
    """One real export (about 20 s) checked four ways; one test, so that parallel workers never export it twice."""
    exported = _int8_cli(tmp_path)
    _the_int8_log_names_layers_by_module(exported)
    _the_int8_summary_is_a_sentence_and_a_table(exported)
    _the_file_records_modules_next_to_nodes(exported)
    _the_file_records_parameters_and_gmacs_at_its_input_size(exported)


def test_a_node_without_a_module_is_named_in_brackets() -> None:
    names = LayerNames(NodeMap(nodes={"node_Conv_1": "features.0"}), {"node_Conv_1": 0, "node_Add_9": 1})
    assert names.label("node_Conv_1") == "features.0" and names.label("node_Add_9") == "[node_Add_9]"
    facts = {
        "convolutions": {"total": 3, "fp32": 1},
        "fp32_fallback_rounds": 2,
        "fp32_fallback": [
            {"node": "node_Add_9", "op_type": "Add", "reason": "it loses 9 dB", "search": "activation analysis"}
        ],
        "vs_fp32_onnx": {"sqnr_db": 24.66, "images": 20},
        "calibration": {"images": 14},
        "verification": {"top1_agreement": 0.986, "inputs": 70},
    }
    sentence, header, row = summary_lines(facts)
    assert sentence == (
        "int8: 2 of 3 convolutions in int8; kept in fp32: [node_Add_9] (activation analysis, 2 rounds); output SQNR "
        "24.7 dB vs the fp32 graph on 20 images (14 for calibration); top-1 agreement with PyTorch fp32 98.6% on 70 "
        "verification inputs"
    )
    assert row == "  [node_Add_9]  Add  it loses 9 dB" and header == "  kept in fp32  op   reason"
    facts["vs_fp32_onnx"] |= {"measured_on": {"cpu": "AMD EPYC 7B13", "int8_saturates": True}}
    assert (
        "(14 for calibration); measured on AMD EPYC 7B13, whose int8 sums saturate (no VNNI or AMX); top-1"
        in (summary_lines(facts)[0])
    )
