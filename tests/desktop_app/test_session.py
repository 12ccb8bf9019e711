"""Tests for desktop_app.core.catalog / runtime / modelfile / providers with real ONNX files and ORT sessions.

Run: ``pytest tests/desktop_app/test_session.py -q``
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from desktop_app.core.catalog import inspect_model, scan_models
from desktop_app.core.providers import CPU_EP, CUDA_EP, fallback_reason_from_log, parse_provider
from desktop_app.core.runtime import ModelLoadError, SessionCache, compare_golden, load_model
from tests.desktop_app.helpers import TINY_LABELS, TINY_SIZE, Zoo
from workbench.contract import golden_input
from workbench.labels import load_labels


def test_workbench_model_is_described_from_its_card(zoo: Zoo) -> None:
    entry = inspect_model(zoo.workbench)
    assert entry.error is None, entry.error
    assert entry.card is not None and entry.card.architecture == "tinynet"
    assert (entry.layout, entry.batch, entry.height, entry.width) == ("NCHW", None, TINY_SIZE, TINY_SIZE)
    assert entry.labels == TINY_LABELS and entry.num_classes == 10
    assert entry.preprocess == entry.card.preprocess
    assert entry.notices == ()
    assert entry.name == entry.card.display_name


def test_load_runs_the_golden_self_test(zoo: Zoo) -> None:
    model = load_model(inspect_model(zoo.workbench), "cpu")
    assert model.providers == (CPU_EP,) and model.fallback_reason is None and model.provider_label == "CPU"
    assert model.golden is not None and model.golden.passed, model.golden
    x = golden_input((3, 3, TINY_SIZE, TINY_SIZE))
    with torch.no_grad():
        expected = zoo.net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.run(x), expected, rtol=1e-4, atol=1e-4)


def test_golden_mismatch_is_a_warning_not_an_error(zoo: Zoo) -> None:
    model = load_model(inspect_model(zoo.bad_golden), "cpu")
    assert model.golden is not None and not model.golden.passed
    assert "FAILED" in model.golden.message


def test_compare_golden_tolerates_near_ties() -> None:
    logits = np.array([0.0, 5.0, 4.0, 3.0, 2.0, 1.0, 4.0000001])
    assert compare_golden(logits, (1, 2, 6, 3, 4), (5.0, 4.0, 4.0, 3.0, 2.0), 1e-3).passed
    assert not compare_golden(logits, (1, 2, 6, 3, 4), (5.0, 4.0, 4.0, 3.0, 2.5), 1e-3).passed
    assert not compare_golden(logits, (1, 2, 3, 4, 5), (5.0, 4.0, 3.0, 2.0, 1.0), 1e-3).passed


def test_external_data_inside_the_folder_loads(zoo: Zoo) -> None:
    entry = inspect_model(zoo.external_ok)
    assert entry.error is None, entry.error
    assert load_model(entry, "cpu").golden.passed


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.onnx", "truncated"),
        ("text.onnx", "not"),
        ("empty.onnx", "empty"),
        ("rank2-input.onnx", "rank 2"),
        ("two-inputs.onnx", "2 graph inputs"),
        ("missing-data.onnx", "missing"),
        ("escaping.onnx", "escapes the model's folder"),
    ],
)
def test_bad_models_are_listed_with_their_reason(zoo: Zoo, name: str, reason: str) -> None:
    entry = inspect_model(zoo.bad_dir / name)
    assert entry.error is not None and not entry.usable
    assert entry.error.startswith(f"{name}: ")
    assert reason in entry.error
    assert "\n" not in entry.error
    with pytest.raises(ModelLoadError, match=name):
        load_model(entry, "cpu")


def test_escaping_external_data_is_refused_before_ort_opens_it(zoo: Zoo, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("ONNX Runtime must not open a model with escaping external data")

    monkeypatch.setattr(onnxruntime, "InferenceSession", forbidden)
    entry = inspect_model(zoo.bad_dir / "escaping.onnx")
    with pytest.raises(ModelLoadError, match="escapes"):
        load_model(entry, "cpu")


def test_scan_lists_every_file_sorted_with_errors(zoo: Zoo) -> None:
    entries = scan_models(zoo.bad_dir)
    names = [e.path.name for e in entries]
    assert names == sorted(names, key=str.casefold)
    assert len(entries) == 7 and all(e.error for e in entries)
    good = scan_models(zoo.good_dir)
    assert [e.usable for e in good] == [True, True]
    assert scan_models(zoo.good_dir / "does-not-exist") == []


def test_foreign_nchw_fixed_batch_1000_classes(zoo: Zoo) -> None:
    entry = inspect_model(zoo.nchw_fixed1)
    assert entry.error is None, entry.error
    assert entry.card is None
    assert (entry.layout, entry.batch, entry.height, entry.width) == ("NCHW", 1, 40, 40)
    assert entry.preprocess.resize == round(40 * 256 / 224) and entry.preprocess.crop == (40, 40)
    assert entry.preprocess.mean == (0.485, 0.456, 0.406)
    assert entry.labels == load_labels("imagenet-1k") and entry.labels[0] == "tench"
    assert any("ImageNet mean/std" in n for n in entry.notices)
    assert any("ImageNet-1k labels" in n for n in entry.notices)
    model = load_model(entry, "cpu")
    assert model.golden is None
    assert model.run(np.zeros((3, 3, 40, 40), np.float32)).shape == (3, 1000)  # looped over fixed batch 1


def test_foreign_nhwc_dynamic_batch_voc(zoo: Zoo) -> None:
    entry = inspect_model(zoo.nhwc_dynamic)
    assert entry.error is None, entry.error
    assert (entry.layout, entry.batch, entry.height, entry.width) == ("NHWC", None, 48, 48)
    assert entry.preprocess.layout == "NHWC"
    assert entry.labels[:2] == ("aeroplane", "bicycle") and len(entry.labels) == 20
    assert any("Pascal VOC 2012" in n for n in entry.notices)
    assert load_model(entry, "cpu").run(np.zeros((2, 48, 48, 3), np.float32)).shape == (2, 20)


def test_foreign_seven_classes_get_class_numbers(zoo: Zoo) -> None:
    entry = inspect_model(zoo.seven)
    assert entry.error is None, entry.error
    assert (entry.height, entry.width) == (24, 30)
    assert entry.labels == tuple(f"class {i}" for i in range(7))
    assert any("class numbers" in n for n in entry.notices)


def test_cuda_request_falls_back_to_cpu_with_a_reason(zoo: Zoo) -> None:
    model = load_model(inspect_model(zoo.workbench), "cuda")
    assert model.requested == "cuda"
    assert CUDA_EP not in model.providers and model.providers[0] == CPU_EP  # no GPU on the test machine
    assert model.fallback_reason and "\n" not in model.fallback_reason
    assert model.golden.passed


def test_fallback_reason_parsing() -> None:
    log = (
        "\x1b[1;31m2026-01-01 [E:onnxruntime:Default, provider_bridge_ort.cc:2458 operator()] /src/x.cc:2043 "
        "onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library "
        "/opt/venv/onnxruntime/capi/libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open "
        "shared object file: No such file or directory\n\x1b[m\n"
        "2026-01-01 [W:onnxruntime:Default, state.cc:1295 Create] Failed to create CUDAExecutionProvider. "
        "Require cuDNN 9.*. Please install all dependencies\n"
    )
    reason = fallback_reason_from_log(log)
    assert reason.startswith("Failed to load library libonnxruntime_providers_cuda.so with error: libcudnn.so.9")
    assert "Require cuDNN 9.*." in reason and "Please install" not in reason
    assert "not start" in fallback_reason_from_log("")


def test_provider_choice_is_validated() -> None:
    assert parse_provider("CUDA") == "cuda"
    with pytest.raises(ValueError, match="auto, cuda, cpu"):
        parse_provider("tpu")


def test_session_cache_reuses_and_refreshes(zoo: Zoo, tmp_path: Path) -> None:
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(zoo.workbench.read_bytes())
    cache = SessionCache()
    entry = inspect_model(copy)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(entry, "cpu"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(m) for m in results}) == 1
    first = results[0]
    assert cache.get(entry, "cpu") is first
    assert cache.get(entry, "auto") is not first
    assert len(cache) == 2
    copy.write_bytes(zoo.workbench.read_bytes() + b"")  # same size; bump mtime explicitly
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert cache.get(entry, "cpu") is not first
    cache.clear()
    assert len(cache) == 0


def _with_metadata(source: Path, target: Path, changes: dict[str, str]) -> Path:
    model = onnx.load(str(source))
    props = {p.key: p.value for p in model.metadata_props} | changes
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(target))
    return target


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"workbench.labels": "[not json"}, "workbench.labels: not valid JSON"),
        ({"workbench.labels": json.dumps(["a", "b"])}, "metadata has 2 labels but the graph outputs 10 classes"),
        ({"workbench.format": "someone-else/1"}, "unknown format"),
    ],
)
def test_bad_metadata_makes_the_model_unusable(zoo: Zoo, tmp_path: Path, changes: dict[str, str], reason: str) -> None:
    entry = inspect_model(_with_metadata(zoo.workbench, tmp_path / "odd.onnx", changes))
    assert entry.error is not None and entry.error.startswith("odd.onnx: ") and reason in entry.error


def test_inspect_cache_follows_file_changes(zoo: Zoo, tmp_path: Path) -> None:
    target = tmp_path / "later.onnx"
    _with_metadata(zoo.workbench, target, {})
    first = inspect_model(target)
    assert first.usable and inspect_model(target) == first
    _with_metadata(zoo.workbench, target, {"workbench.labels": "[not json"})
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    assert inspect_model(target).error is not None


def test_missing_external_data_that_arrives_later_is_noticed(zoo: Zoo, tmp_path: Path) -> None:
    model = tmp_path / zoo.external_ok.name
    shutil.copy(zoo.external_ok, model)
    assert "missing" in (inspect_model(model).error or "")
    shutil.copy(zoo.external_ok.with_name(zoo.external_ok.name + ".data"), tmp_path)
    assert inspect_model(model).usable
