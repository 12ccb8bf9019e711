"""Inspect every layer (desktop_app.core.inspect_layers) on the tiny TinyNet file, against PyTorch's own activations.

The statistics are checked against numpy on the intermediate outputs that PyTorch computes for the same
preprocessed image (forward hooks on ``zoo.net``, the network the file was exported from); the A/B SQNR
of a file against itself is infinite, against a copy with one perturbed layer infinite before that layer
and finite from it on; an int8 (QDQ) copy shows dequantized values under the same module names.

Run: ``pytest tests/desktop_app/test_inspect_layers.py -q -n 0``
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from PIL import Image

from desktop_app.core.catalog import inspect_model
from desktop_app.core.inspect_layers import (
    HISTOGRAM_BINS,
    INT8_SOURCE,
    InspectError,
    compare_layers,
    feature_maps,
    first_below,
    inspect_layers,
    open_layer_session,
    sqnr_db,
    to_csv,
    write_csv,
)
from tests.desktop_app.helpers import TINY_SIZE, Zoo, tiny_card, write_card
from tests.desktop_app.view.helpers import build_model
from tests.helpers import PHOTOS
from workbench.preprocess import preprocess_image

MODULES = ["conv1", "relu", "layer1.0", "layer1.1", "pool", "fc"]


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return Image.open(PHOTOS["chelsea"]).convert("RGB").resize((60, 45))


def torch_activations(zoo: Zoo, image: Image.Image) -> dict[str, np.ndarray]:
    """PyTorch's outputs of every named module of ``zoo.net`` for the file's preprocessing of ``image``."""
    entry = inspect_model(zoo.workbench)
    assert entry.preprocess is not None
    x = torch.from_numpy(preprocess_image(image, entry.preprocess)[None])
    seen: dict[str, np.ndarray] = {}

    def keeper(name: str):
        def keep(_module: torch.nn.Module, _inputs: object, output: torch.Tensor) -> None:
            seen.setdefault(name, output.detach().numpy().copy())

        return keep

    handles = [
        module.register_forward_hook(keeper(name)) for name, module in zoo.net.named_modules() if name in MODULES
    ]
    with torch.no_grad():
        zoo.net(x)
    for handle in handles:
        handle.remove()
    return seen


def perturbed_copy(zoo: Zoo, path: Path, scale: float = 0.05) -> Path:
    """The tiny file with noise added to layer1.0's convolution weights (everything else identical)."""
    model = onnx.load(str(zoo.workbench))
    conv = next(n for n in model.graph.node if n.name == "/layer1/layer1.0/Conv")
    weights = next(t for t in model.graph.initializer if t.name == conv.input[1])
    values = numpy_helper.to_array(weights)
    noisy = values + np.random.default_rng(0).normal(0, scale * values.std(), values.shape).astype(np.float32)
    weights.CopyFrom(numpy_helper.from_array(noisy, weights.name))
    onnx.save(model, str(path))
    return path


class _Reader(CalibrationDataReader):
    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.batches = iter([{"image": rng.normal(0, 1, (1, 3, TINY_SIZE, TINY_SIZE)).astype(np.float32)}] * 4)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def int8_copy(zoo: Zoo, path: Path) -> Path:
    """A QDQ int8 copy of the tiny file, with the fp32 file's card (labels, preprocess, node map)."""
    quantize_static(
        str(zoo.workbench),
        str(path),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    model = onnx.load(str(path))
    write_card(path, model, tiny_card(onnx.load(str(zoo.workbench)), None))
    return path


def test_statistics_match_numpy_on_pytorch_activations(zoo: Zoo, cat: Image.Image) -> None:
    run = inspect_layers(inspect_model(zoo.workbench), cat, "cpu")
    expected = torch_activations(zoo, cat)
    assert [r.module for r in run.rows if r.module in MODULES] == MODULES
    for module in MODULES:
        row, values = run.row(module), expected[module].astype(np.float64)
        assert row.shape == values.shape and row.source == "float32"
        assert row.mean == pytest.approx(values.mean(), rel=1e-4, abs=1e-5)
        assert row.std == pytest.approx(values.std(), rel=1e-4, abs=1e-5)
        assert (row.min, row.max) == pytest.approx((values.min(), values.max()), rel=1e-4, abs=1e-5)
        assert row.zeros == pytest.approx(np.mean(values == 0), abs=1e-3)
        counts, _ = np.histogram(values, bins=HISTOGRAM_BINS, range=(values.min(), values.max()))
        assert sum(row.histogram) == values.size and np.abs(np.array(row.histogram) - counts).sum() <= 2
    assert run.row("relu").zeros > 0.05 and run.row("conv1").zeros == 0  # ReLU zeroes what conv1 made negative
    assert run.row("fc").shape == (1, 10)


def test_feature_maps_of_a_layer(zoo: Zoo, cat: Image.Image) -> None:
    run = inspect_layers(inspect_model(zoo.workbench), cat, "cpu")
    maps = feature_maps(run.values["layer1.0"])
    assert maps.maps.shape == (8, 16, 16) and maps.channels == 8 and maps.note == "8 channels"
    assert maps.maps.dtype == np.uint8 and maps.maps.max() == 255
    small = feature_maps(run.values["layer1.0"], count=3, max_side=6)
    assert small.maps.shape == (3, 6, 6) and small.note == "3 of 8 channels; 16 x 16 shown at every 3rd pixel"
    with pytest.raises(InspectError, match=r"shape \(1, 10\) has no feature maps"):
        feature_maps(run.values["fc"])


def test_sqnr_against_itself_and_a_perturbed_copy(zoo: Zoo, cat: Image.Image, tmp_path: Path) -> None:
    reference = inspect_layers(inspect_model(zoo.workbench), cat, "cpu")
    same = compare_layers(reference, inspect_layers(inspect_model(zoo.external_ok), cat, "cpu"))
    assert [r.module for r in same.rows] == [r.module for r in reference.rows] and not same.unmatched
    assert all(math.isinf(r.sqnr_db) and r.sqnr_db > 0 for r in same.rows)
    assert first_below(same, 1e9) is None

    noisy = inspect_layers(inspect_model(perturbed_copy(zoo, tmp_path / "tinynet-noisy.onnx")), cat, "cpu")
    comparison = compare_layers(reference, noisy)
    by_module = {r.module: r.sqnr_db for r in comparison.rows}
    assert math.isinf(by_module["conv1"]) and math.isinf(by_module["relu"])
    assert all(math.isfinite(by_module[m]) for m in ("layer1.0", "layer1.1", "fc"))
    ref, other = reference.values["layer1.0"], noisy.values["layer1.0"]
    expected = 10 * math.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - other).astype(np.float64) ** 2))
    assert by_module["layer1.0"] == pytest.approx(expected, rel=1e-6)
    assert 10 < by_module["layer1.0"] < 60
    below = first_below(comparison, by_module["layer1.0"] + 1)
    assert below is not None and below.module == "layer1.0"
    assert first_below(comparison, min(by_module.values()) - 1) is None


def test_sqnr_edge_cases() -> None:
    ref = np.array([1.0, -2.0, 3.0])
    assert math.isinf(sqnr_db(ref, ref))
    assert sqnr_db(ref, ref * 1.1) == pytest.approx(20.0)  # noise = 0.1 * signal in amplitude
    assert sqnr_db(np.zeros(3), ref) == -math.inf


def test_int8_copy_shows_dequantized_values_under_module_names(zoo: Zoo, cat: Image.Image, tmp_path: Path) -> None:
    path = int8_copy(zoo, tmp_path / "tinynet-tiny-10-int8.onnx")
    session = open_layer_session(inspect_model(path), "cpu")
    run = inspect_layers(session, cat)
    # the quantizer folds each ReLU into the Conv before it: the Conv's row shows the ReLU's output tensor
    convs = {r.module: r for r in run.rows if r.op_type == "Conv"}
    assert set(convs) == {"conv1", "layer1.0"} and all(r.source == INT8_SOURCE for r in convs.values())
    assert convs["conv1"].key == "/relu/Relu_output_0" and convs["conv1"].min >= 0
    assert not any("QuantizeLinear" in r.module for r in run.rows)
    comparison = compare_layers(inspect_layers(inspect_model(zoo.workbench), cat, "cpu"), run)
    by_module = {r.module: r.sqnr_db for r in comparison.rows}
    assert {"relu", "layer1.1", "pool", "fc"} <= set(by_module)
    assert {"conv1", "layer1.0"} <= set(comparison.unmatched)  # folded away in the int8 file
    assert all(10 < by_module[m] < 80 for m in ("relu", "layer1.1", "fc"))


def test_another_architecture_is_refused(zoo: Zoo, cat: Image.Image, tmp_path: Path) -> None:
    other = build_model(tmp_path / "othernet.onnx", architecture="othernet", size=TINY_SIZE)
    reference = inspect_layers(inspect_model(zoo.workbench), cat, "cpu")
    with pytest.raises(InspectError, match=r"othernet\.onnx against tinynet-tiny-10-fp32\.onnx: architecture othernet"):
        compare_layers(reference, inspect_layers(inspect_model(other), cat, "cpu"))


def test_csv_table(zoo: Zoo, cat: Image.Image, tmp_path: Path) -> None:
    run = inspect_layers(inspect_model(zoo.workbench), cat, "cpu")
    text = to_csv(run.rows, compare_layers(run, run))
    lines = text.splitlines()
    assert lines[0].startswith("index,module,tensor,op_type,source,shape,mean") and lines[0].endswith(",sqnr_db")
    assert len(lines) == len(run.rows) + 1 and ",conv1," in lines[1] and lines[1].endswith(",inf")
    target = write_csv(tmp_path / "layers.csv", run.rows)
    assert target.read_text(encoding="utf-8").splitlines()[0].endswith(",histogram")
    assert [p.name for p in tmp_path.iterdir()] == ["layers.csv"]


def test_unusable_file_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(InspectError, match=r"bad\.onnx"):
        open_layer_session(inspect_model(bad))


def test_foreign_file_uses_onnx_names(zoo: Zoo, cat: Image.Image) -> None:
    run = inspect_layers(inspect_model(zoo.nchw_fixed1), cat, "cpu")
    assert [r.module for r in run.rows[:3]] == ["/conv1/Conv", "/relu/Relu", "/layer1/layer1.0/Conv"]
    assert run.rows[-1].shape == (1, 1000)
