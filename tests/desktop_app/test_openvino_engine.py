"""The OpenVINO engine on real files: logits agree with ONNX Runtime, golden self-test, bf16, int8, per-layer timing.

Run: ``pytest tests/desktop_app/test_openvino_engine.py -q -n 0``
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino): no OpenVINO engine to test")

from desktop_app.core import openvino_engine
from desktop_app.core.catalog import inspect_model
from desktop_app.core.classify import classify_images
from desktop_app.core.openvino_engine import (
    BF16_GOLDEN_TOLERANCE,
    Bf16UnavailableError,
    OpenVinoLoadError,
    bf16_support,
    load_openvino,
    openvino_available,
    openvino_devices,
)
from desktop_app.core.openvino_profiling import profile_openvino
from desktop_app.core.profiling import GRAPH_PREFIX
from desktop_app.core.runtime import load_model, ran_text
from tests.desktop_app.evaluate_helpers import colour_model, write_image
from tests.desktop_app.helpers import TINY_SIZE, Zoo, export_onnx, golden_for, make_net, tiny_card, write_card
from tests.helpers import PHOTOS
from workbench.contract import golden_input
from workbench.cpu import cpu_info
from workbench.imageio import load_image
from workbench.preprocess import preprocess_batch

NATIVE_BF16 = bf16_support("CPU") is None
CORE = openvino_engine._core()  # the process's real openvino.Core


def _batch(entry: Any, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (n, *entry.input_shape[1:])
    return (golden_input(entry.input_shape, entry.layout)[:1] + rng.normal(0, 0.5, shape)).astype(np.float32)


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


@pytest.fixture(scope="module")
def fixed2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny workbench model exported with a fixed batch of 2 (odd batches get padded)."""
    net = make_net(seed=3)
    path = tmp_path_factory.mktemp("ov-fixed") / "tinynet-fixed2.onnx"
    model = export_onnx(net, path, (2, 3, TINY_SIZE, TINY_SIZE), dynamic_batch=False)
    write_card(path, model, tiny_card(model, golden_for(net, (2, 3, TINY_SIZE, TINY_SIZE))))
    return path


def test_available_and_devices() -> None:
    assert openvino_available()
    assert "CPU" in openvino_devices()


def test_dynamic_batch_logits_match_onnxruntime_and_golden_passes(zoo: Zoo) -> None:
    entry = inspect_model(zoo.workbench)
    assert entry.batch is None
    model = load_openvino(entry, "CPU")
    assert model.engine == "openvino" and model.providers == ("OpenVINO CPU",) and model.device == "CPU"
    assert model.precision == "fp32" and model.fallback_reason is None
    assert model.golden is not None and model.golden.passed, model.golden
    x = _batch(entry, 5)
    logits = model.run(x)
    assert logits.shape == (5, 10) and logits.dtype == np.float32
    assert _relative(logits, load_model(entry, "cpu").run(x)) < 1e-4


def test_fixed_batch_file_pads_and_loops(fixed2: Path) -> None:
    entry = inspect_model(fixed2)
    assert entry.batch == 2
    model = load_openvino(entry)
    assert model.golden is not None and model.golden.passed, model.golden
    for n in (1, 2, 3):
        x = _batch(entry, n)
        assert _relative(model.run(x), load_model(entry, "cpu").run(x)) < 1e-4
    profile = profile_openvino(model, _batch(entry, 1), runs=2, warmup=0)  # padded to the file's batch of 2
    assert {"conv1", "layer1.0", "fc"} <= {row.module for row in profile.rows}


def test_one_model_runs_from_several_threads(zoo: Zoo) -> None:
    model = load_openvino(inspect_model(zoo.workbench))
    batches = [_batch(model.entry, n) for n in (1, 4, 2, 3)] * 3
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(model.run, batches))
    for x, logits in zip(batches, results, strict=True):
        np.testing.assert_allclose(logits, model.run(x), rtol=1e-6, atol=1e-6)


def test_colour_model_matches_onnxruntime(tmp_path: Path) -> None:
    entry = inspect_model(colour_model(tmp_path / "colours.onnx"))
    model = load_openvino(entry, threads=1)
    images = [load_image(write_image(tmp_path / f"{c}.png", c)) for c in ("red", "green", "blue")]
    assert entry.preprocess is not None
    x = preprocess_batch(images, entry.preprocess)
    assert _relative(model.run(x), load_model(entry, "cpu").run(x)) < 1e-4
    assert [p.labels[0] for p in classify_images(model, images)] == ["red", "green", "blue"]  # type: ignore[arg-type]


def test_bad_golden_is_reported_not_raised(zoo: Zoo) -> None:
    model = load_openvino(inspect_model(zoo.bad_golden))
    assert model.golden is not None and not model.golden.passed
    assert "FAILED" in model.golden.message


def test_per_layer_rows_named_by_module_with_kernels(zoo: Zoo) -> None:
    model = load_openvino(inspect_model(zoo.workbench))
    profile = profile_openvino(model, _batch(model.entry, 1), runs=5, warmup=1)
    modules = {row.module for row in profile.rows}
    assert {"conv1", "layer1.0", "fc"} <= modules, modules
    conv = next(row for row in profile.rows if row.module == "layer1.0" and row.op_type == "Convolution")
    assert conv.kernel and conv.kernel != "undef"
    assert "/layer1/layer1.0/Conv" in conv.originals  # the ReLU fused into it keeps its name too
    assert all(r.min_us <= r.median_us <= r.p90_us <= r.max_us for r in profile.rows)
    assert profile.not_run >= 1  # the fused ReLUs (and Parameter/Result) did not run on their own
    # Only the graph's own Flatten (torch.flatten in forward, no module) is left unnamed; on this model of a few
    # ~20 us layers its ~3 us reorder is 1-6% of the time from run to run, so the share's bar has room for it.
    assert {r.module for r in profile.rows if r.module.startswith(GRAPH_PREFIX + "/")} <= {f"{GRAPH_PREFIX}//Flatten"}
    assert profile.mapped_share() > 85
    assert profile.runs == 5 and profile.wall_median_us > 0


@pytest.mark.skipif(not NATIVE_BF16, reason=f"this CPU computes no bfloat16 natively: {bf16_support('CPU')}")
def test_bf16_runs_where_native(zoo: Zoo) -> None:
    entry = inspect_model(zoo.workbench)
    model = load_openvino(entry, precision="bf16")
    assert model.precision == "bf16" and model.requested == "CPU bf16"
    # the tiny file's tolerance is 1e-3 of the logit range; bf16 is held to BF16_GOLDEN_TOLERANCE (3%) instead
    assert BF16_GOLDEN_TOLERANCE == 0.03
    assert model.golden is not None and model.golden.passed and "bf16: tolerance 0.03" in model.golden.message
    x = _batch(entry, 3)
    assert _relative(model.run(x), load_model(entry, "cpu").run(x)) < 2e-2  # bf16 keeps 8 bits of mantissa
    kernels = {row.kernel for row in profile_openvino(model, x[:1], runs=2, warmup=1).rows}
    assert any("bf16" in kernel for kernel in kernels), kernels


class _Capabilities:
    """OpenVINO's real Core, except that the CPU reports ``capabilities`` as its OPTIMIZATION_CAPABILITIES."""

    def __init__(self, core: Any, capabilities: tuple[str, ...]) -> None:
        self._core, self._capabilities = core, capabilities

    def get_property(self, device: str, name: str) -> Any:
        if (device, name) == ("CPU", "OPTIMIZATION_CAPABILITIES"):
            return list(self._capabilities)
        return self._core.get_property(device, name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)


@pytest.mark.parametrize(
    ("capabilities", "why"),
    [
        (("FP32", "BF16", "INT8"), r"Old CPU\) has neither avx512_bf16 nor amx_bf16: OpenVINO would emulate"),
        (("FP32", "INT8"), r"OpenVINO reports no BF16 capability on this CPU \(Old CPU; it reports FP32, INT8\)"),
    ],
    ids=["openvino-says-bf16-but-the-cpu-lacks-it", "openvino-says-no-bf16"],
)
def test_bf16_refused_without_native_support(
    zoo: Zoo, monkeypatch: pytest.MonkeyPatch, capabilities: tuple[str, ...], why: str
) -> None:
    entry = inspect_model(zoo.workbench)
    monkeypatch.setattr(openvino_engine, "cpu_info", lambda: ("Old CPU", ("avx2",)))
    monkeypatch.setattr(openvino_engine, "_core", lambda: _Capabilities(CORE, capabilities))
    with pytest.raises(Bf16UnavailableError, match=rf"tinynet-tiny-10-fp32\.onnx: bf16 refused on CPU: .*{why}"):
        load_openvino(entry, precision="bf16")
    assert bf16_support("GPU") == "bf16 is offered on the CPU only, not on OpenVINO device GPU"


def test_bf16_detection_matches_this_cpu() -> None:
    name, features = cpu_info()
    native = "avx512_bf16" in features or "amx_bf16" in features
    assert native == NATIVE_BF16, (name, features, bf16_support("CPU"))


def test_int8_file_top1_matches_onnxruntime_on_photos(int8_export: Any) -> None:
    entry = inspect_model(Path(int8_export.path))
    model = load_openvino(entry)
    assert "int8" in model.runtime_precisions and model.precision == "fp32"
    assert ran_text(model) == "OpenVINO CPU, int8/fp32"  # not "fp32": its int8 layers ran in int8
    assert model.golden is not None and model.golden.passed, model.golden
    images = [load_image(path) for path in PHOTOS.values()]
    assert entry.preprocess is not None
    x = preprocess_batch(images, entry.preprocess)
    ours, theirs = model.run(x), load_model(entry, "cpu").run(x)
    assert list(ours.argmax(axis=1)) == list(theirs.argmax(axis=1))
    kernels = {row.kernel for row in profile_openvino(model, x[:1], runs=2, warmup=0).rows}
    assert any("I8" in kernel or "i8" in kernel for kernel in kernels), kernels


def test_broken_files_raise_naming_them(zoo: Zoo, tmp_path: Path) -> None:
    for path in sorted(zoo.bad_dir.glob("*.onnx")):
        with pytest.raises(OpenVinoLoadError, match=re.escape(path.name)):
            load_openvino(inspect_model(path))
    good = tmp_path / "spoiled.onnx"
    good.write_bytes(zoo.workbench.read_bytes())
    entry = inspect_model(good)  # described while good, then spoiled: OpenVINO itself must refuse it
    good.write_bytes(b"\x08\x07not an onnx model at all" * 40)
    with pytest.raises(OpenVinoLoadError, match=r"spoiled\.onnx"):
        load_openvino(entry)
    with pytest.raises(OpenVinoLoadError, match="no device NPU"):
        load_openvino(inspect_model(zoo.workbench), "NPU")
    with pytest.raises(ValueError, match="precision"):
        load_openvino(inspect_model(zoo.workbench), precision="fp8")


def test_external_data_inside_the_folder_only(zoo: Zoo, tmp_path: Path) -> None:
    assert load_openvino(inspect_model(zoo.external_ok)).golden is not None
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / zoo.external_ok.name
    shutil.copy(zoo.external_ok, path)
    shutil.copy(zoo.external_ok.with_name(zoo.external_ok.name + ".data"), tmp_path / "secret.bin")
    shutil.copy(tmp_path / "secret.bin", folder / (path.name + ".data"))
    entry = inspect_model(path)  # described while its data sat beside it; then pointed outside the folder
    proto = onnx.load(str(path), load_external_data=False)
    for tensor in proto.graph.initializer:
        for item in tensor.external_data:
            if item.key == "location":
                item.value = "../secret.bin"
    onnx.save(proto, str(path))
    with pytest.raises(OpenVinoLoadError, match=f"{re.escape(path.name)}.*escapes the model's folder"):
        load_openvino(entry)
