"""The engine layer: the Auto rule, OpenVINO falling back to ONNX Runtime, the session cache key, and the
``--engine`` / ``--device`` / ``--precision-hint`` / ``--strict`` flags of the headless commands (subprocesses).

Run: ``pytest tests/desktop_app/test_engines.py -q -n 0``
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="openvino is not installed (pip install openvino): no OpenVINO engine to test")

from desktop_app.core import openvino_engine, runtime
from desktop_app.core.catalog import inspect_model
from desktop_app.core.openvino_engine import Bf16UnavailableError, OpenVinoLoadError, OpenVinoModel, bf16_support
from desktop_app.core.runtime import LoadedModel, SessionCache, open_model, parse_engine_choice, ran_text
from tests.desktop_app.evaluate_helpers import colour_model, image_folder
from tests.desktop_app.helpers import Photos, Zoo, run_cli
from workbench.contract import golden_input

NATIVE_BF16 = bf16_support("CPU") is None
NO_AMX = ("AMD EPYC (patched)", ("avx2", "avx512f", "avx512_bf16"))
AMX = ("Intel Xeon (patched)", ("avx2", "avx512f", "avx512_bf16", "amx_int8", "amx_bf16"))


@pytest.fixture()
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA does not start (true on this machine; patched so the rule under test is the CPU one everywhere)."""
    monkeypatch.setattr(runtime, "cuda_start_failure", lambda: "no NVIDIA device (patched)")
    monkeypatch.setattr(runtime, "cuda_listed", lambda: False)


@pytest.fixture(scope="module")
def models(zoo: Zoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("engine-models")
    shutil.copy(zoo.workbench, folder / zoo.workbench.name)
    return folder


def test_auto_picks_openvino_on_a_cpu_with_amx(zoo: Zoo, no_cuda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_info", lambda: AMX)
    model = open_model(inspect_model(zoo.workbench))
    assert isinstance(model, OpenVinoModel)
    assert (model.engine, model.device, model.precision) == ("openvino", "CPU", "fp32")
    assert model.golden is not None and model.golden.passed, model.golden
    assert ran_text(model) == "OpenVINO CPU, fp32"


def test_auto_picks_onnxruntime_without_amx(zoo: Zoo, no_cuda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_info", lambda: NO_AMX)
    model = open_model(inspect_model(zoo.workbench))
    assert isinstance(model, LoadedModel)
    assert (model.engine, model.device, model.precision) == ("onnxruntime", "CPU", "fp32")
    assert model.fallback_reason is None  # no NVIDIA build at all: nothing to say


def test_auto_without_openvino_runs_onnxruntime(zoo: Zoo, no_cuda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_info", lambda: AMX)
    monkeypatch.setattr(openvino_engine, "openvino_available", lambda: False)
    entry = inspect_model(zoo.workbench)
    assert open_model(entry).engine == "onnxruntime"
    asked = open_model(entry, engine="openvino")
    assert asked.engine == "onnxruntime" and asked.device == "CPU"
    assert asked.fallback_reason is not None and "OpenVINO is not installed" in asked.fallback_reason
    with pytest.raises(Bf16UnavailableError, match="OpenVINO is not installed"):
        open_model(entry, precision="bf16")


def test_openvino_that_cannot_open_the_file_falls_back(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(entry: object, device: str, **_: object) -> OpenVinoModel:
        raise OpenVinoLoadError("tinynet.onnx: OpenVINO cannot open the file: unsupported op (patched)")

    monkeypatch.setattr(openvino_engine, "load_openvino", refuse)
    model = open_model(inspect_model(zoo.workbench), engine="openvino")
    assert model.engine == "onnxruntime"
    assert model.fallback_reason is not None and "unsupported op (patched)" in model.fallback_reason
    assert "running on ONNX Runtime CPU" in model.fallback_reason


def test_bf16_refused_is_an_error_not_a_fallback(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openvino_engine, "bf16_support", lambda device="CPU": "this CPU has no avx512_bf16 (patched)")
    with pytest.raises(Bf16UnavailableError, match="no avx512_bf16"):
        open_model(inspect_model(zoo.workbench), engine="openvino", precision="bf16")


@pytest.mark.parametrize(
    ("engine", "device", "precision", "message"),
    [
        ("onnxruntime", "gpu", "as-exported", "OpenVINO does"),
        ("onnxruntime", "cpu", "bf16", "bf16"),
        ("openvino", "cuda", "as-exported", "CUDA runs on ONNX Runtime"),
        ("tensorrt", "auto", "as-exported", "unknown engine"),
        ("auto", "tpu", "as-exported", "unknown device"),
    ],
)
def test_impossible_choices_are_refused(engine: str, device: str, precision: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_engine_choice(engine, device, precision)


def test_the_openvino_model_answers_like_onnxruntime(zoo: Zoo) -> None:
    entry = inspect_model(zoo.workbench)
    ort_model, ov_model = open_model(entry, engine="onnxruntime"), open_model(entry, engine="openvino")
    x = np.repeat(golden_input(entry.input_shape, entry.layout), 3, axis=0)
    np.testing.assert_allclose(ov_model.run(x), ort_model.run(x), rtol=1e-4, atol=1e-4)


def test_cache_key_is_file_engine_device_precision(zoo: Zoo) -> None:
    entry = inspect_model(zoo.workbench)
    cache = SessionCache()
    on_ort = cache.get(entry, engine="onnxruntime", device="cpu")
    assert cache.get(entry, "cpu") is on_ort  # the older provider form is the same key
    on_ov = cache.get(entry, engine="openvino", device="cpu")
    assert on_ov.engine == "openvino" and len(cache) == 2
    assert cache.get(entry, engine="OpenVINO", device="CPU") is on_ov  # choices are case-insensitive
    if NATIVE_BF16:
        assert cache.get(entry, engine="openvino", precision="bf16").precision == "bf16"
        assert len(cache) == 3
    key = SessionCache._key(entry, ("openvino", "cpu", "bf16"))
    assert key[0] == str(zoo.workbench.resolve()) and key[3:] == ("openvino", "cpu", "bf16")


def test_classify_engine_flags_name_what_ran(models: Path, photos: Photos) -> None:
    proc = run_cli("classify", photos.good[0], "--engine", "openvino", "--json", "--strict", models=models)
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(text) for text in proc.stdout.splitlines()]
    assert (line["engine"], line["device"], line["precision"]) == ("openvino", "CPU", "fp32")
    assert line["provider"] == "OpenVINO CPU" and line["fallback_reason"] is None
    text = run_cli("classify", photos.good[0], "--engine", "onnxruntime", "--device", "cpu", models=models)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[0].endswith("on ONNX Runtime CPU, fp32")


def test_precision_hint_bf16_runs_where_the_cpu_has_it_and_is_refused_where_not(models: Path, photos: Photos) -> None:
    proc = run_cli("classify", photos.good[0], "--precision-hint", "bf16", "--json", models=models)
    if NATIVE_BF16:
        assert proc.returncode == 0, proc.stderr
        line = json.loads(proc.stdout.splitlines()[0])
        assert (line["engine"], line["precision"]) == ("openvino", "bf16")
    else:  # refused, not run in fp32 behind the user's back
        assert proc.returncode == 2 and proc.stdout == ""
        assert "bf16 refused on CPU: OpenVINO reports no BF16 capability on this CPU" in proc.stderr


def test_strict_fails_when_cuda_falls_back(models: Path, photos: Photos) -> None:
    proc = run_cli("classify", photos.good[0], "--device", "cuda", "--strict", models=models)
    if "CUDAExecutionProvider" in proc.stdout:  # a machine where CUDA works: nothing fell back
        pytest.skip("CUDA started on this machine")
    assert proc.returncode == 1
    (last,) = proc.stderr.strip().splitlines()[-1:]
    assert "--strict: --device cuda asked for, but the model ran on ONNX Runtime CPU" in last
    assert "classified" not in proc.stderr  # it stopped before classifying anything
    relaxed = run_cli("classify", photos.good[0], "--device", "cuda", models=models)
    assert relaxed.returncode == 0 and "CUDA was requested but did not start" in relaxed.stderr


def test_impossible_flags_are_usage_errors(models: Path, photos: Photos) -> None:
    proc = run_cli("classify", photos.good[0], "--engine", "onnxruntime", "--device", "npu", models=models)
    assert proc.returncode == 2 and "OpenVINO does" in proc.stderr
    usage = " ".join(run_cli("classify", "--help").stdout.split())
    assert "--engine and --device supersede it" in usage and "--precision-hint {as-exported,bf16}" in usage
    assert "--strict" in usage


def test_profile_openvino_rows_are_module_names_with_kernels(models: Path, photos: Photos) -> None:
    proc = run_cli("profile", photos.good[0], "--engine", "openvino", "--runs", "3", "--warmup", "1", models=models)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("model: ") and "on OpenVINO CPU, fp32" in lines[0]
    assert lines[1].split() == ["module", "op", "type", "kernel", "median", "ms", "p90", "ms", "min", "ms", "max", "ms"]
    modules = [line.split()[0] for line in lines[2:-1]]
    assert {"conv1", "layer1.0", "fc"} <= set(modules), modules
    assert any("jit" in line or "brgconv" in line or "gemm" in line or "ref" in line for line in lines[2:-1])
    assert "in PyTorch module names" in lines[-1]
    data = json.loads(
        run_cli("profile", photos.good[0], "--engine", "openvino", "--runs", "2", "--json", models=models).stdout
    )
    assert (
        data["engine"] == "openvino"
        and data["rows"]
        and {"kernel", "p90_ms", "min_ms", "max_ms"} <= set(data["rows"][0])
    )


def test_profile_onnxruntime_rows_carry_provider_and_spread(models: Path, photos: Photos) -> None:
    proc = run_cli("profile", photos.good[0], "--engine", "onnxruntime", "--runs", "3", models=models)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "on ONNX Runtime CPUExecutionProvider" in lines[0]
    assert "kernel" in lines[1] and "p90 ms" in lines[1] and "max ms" in lines[1]
    assert any(line.split()[2] == "CPU" for line in lines[2:-2] if len(line.split()) > 2)


def test_evaluate_on_openvino_names_it_in_the_summary(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    colour_model(folder / "good.onnx")
    data = image_folder(tmp_path / "data", {"red": {"red": 2}, "blue": {"blue": 2}})
    done = run_cli("evaluate", data, "--models-dir", folder, "--model", "good", "--engine", "openvino", "--strict")
    assert done.returncode == 0, done.stderr
    assert "100.00%" in done.stdout and "OpenVINO CPU, fp32" in done.stdout
    strict = run_cli("evaluate", data, "--models-dir", folder, "--model", "good", "--device", "cuda", "--strict")
    if "CUDA" not in strict.stdout:  # CUDA did not start here: --strict stops it
        assert strict.returncode == 1 and "--strict: --device cuda asked for" in strict.stderr
