"""Hostile and odd model files and images must not kill the app or spoil the other files (issue 13).

Real ONNX files built with ``onnx.helper`` (a global-average-pool classifier, so any input size
runs), real ONNX Runtime sessions, real images in tmp_path, and the real CLI in subprocesses, some
under a memory limit (``RLIMIT_AS``) so that a regression fails instead of exhausting the machine.

Run: ``pytest tests/desktop_app/test_hostile_models.py -q``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PIL import Image

from desktop_app.core.catalog import inspect_model, scan_models
from desktop_app.core.runtime import load_model
from tests.desktop_app.hostile import LABELS, build_model, card_metadata, replace_bytes

REPO_ROOT = Path(__file__).resolve().parents[2]
GIB = 1024**3


def run_cli(
    args: list[str], *, memory_limit: int | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``python -m desktop_app ARGS`` in a subprocess, under an address-space limit when given."""
    env = dict(os.environ, CNN_WORKBENCH_CACHE="off", PYTHONPATH=str(REPO_ROOT))
    code = (
        "import resource, runpy, sys; limit = int(sys.argv.pop(1)); "
        "limit and resource.setrlimit(resource.RLIMIT_AS, (limit, limit)); "
        "sys.argv[0] = 'desktop_app'; runpy.run_module('desktop_app', run_name='__main__', alter_sys=True)"
    )
    command = [sys.executable, "-c", code, str(memory_limit or 0), *args]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    build_model(folder / "good.onnx")
    return folder


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(path)
    return path


def _error(entry_path: Path) -> str:
    entry = inspect_model(entry_path)
    assert entry.error is not None, f"{entry_path.name} should be unusable"
    assert entry.error.startswith(f"{entry_path.name}: ") and "\n" not in entry.error
    return entry.error


# ---------------------------------------------------------------- point 2: the output of every resize is bounded


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS is POSIX")
def test_a_1x100000_png_classifies_under_a_memory_limit(models: Path, photo: Path, tmp_path: Path) -> None:
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1, 100_000), (200, 30, 30)).save(strip)  # 475 bytes; resized to 256 it is 19 GB
    assert strip.stat().st_size < 1000
    done = run_cli(
        ["classify", str(strip), str(photo), "--model", "good", "--models-dir", str(models), "--provider", "cpu"],
        memory_limit=3 * GIB,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{strip}\n" in done.stdout and f"{photo}\n" in done.stdout
    assert "2 of 2 images classified" in done.stderr


# ---------------------------------------------------------------- point 3: sizes declared by a file are bounded


@pytest.mark.parametrize(
    ("changes", "dims", "reason"),
    [
        ({}, (1, 3, 20000, 20000), "is larger than 2048 pixels a side"),
        (
            {"workbench.preprocess": json.dumps({"resize": 20000, "crop": [20000, 20000]})},
            ("N", 3, "H", "W"),
            "workbench.preprocess: resize: 20000 is larger than the supported maximum of 4096",
        ),
        (
            {"workbench.preprocess": json.dumps({"resize": 256, "crop": [20000, 20000]})},
            ("N", 3, "H", "W"),
            "workbench.preprocess: crop: 20000 is larger than the supported maximum of 2048",
        ),
        (
            {"workbench.preprocess": json.dumps({"resize": 100000, "crop": [224, 224]})},
            ("N", 3, "H", "W"),
            "resize: 100000 is larger than the supported maximum",
        ),
        ({}, (20000, 3, 224, 224), "input batch is fixed at 20000"),
    ],
)
def test_declared_sizes_beyond_the_limits_make_the_file_unusable(
    tmp_path: Path, changes: dict[str, str], dims: tuple[int | str, ...], reason: str
) -> None:
    assert reason in _error(build_model(tmp_path / "big.onnx", changes, dims=dims))


def test_a_foreign_file_declaring_a_huge_input_or_class_count_is_unusable(tmp_path: Path) -> None:
    huge_input = build_model(tmp_path / "huge-input.onnx", dims=(1, 3, 20000, 20000), card=False)
    assert "[1, 3, 20000, 20000] is larger than 2048 pixels a side" in _error(huge_input)
    many = build_model(tmp_path / "many-classes.onnx", dims=("N", 3, 32, 32), classes=2_000_000, card=False)
    assert "has 2000000 classes; at most 100000" in _error(many)


def test_a_golden_batch_of_20000_is_refused_before_anything_is_allocated(tmp_path: Path) -> None:
    golden = {
        "shape": [20000, 3, 224, 224],
        "layout": "NCHW",
        "top5": [0, 1, 2, 3, 4],
        "top5_logits": [1.0, 0.5, 0.2, 0.1, 0.0],
        "logit_range": 1.0,
        "tolerance": 0.001,
    }
    error = _error(build_model(tmp_path / "golden.onnx", {"workbench.golden": json.dumps(golden)}))
    assert "workbench.golden: shape: batch 20000 is too large" in error


@pytest.mark.skipif(sys.platform == "win32", reason="sparse files via truncate, RLIMIT_AS")
def test_a_12_gb_sparse_junk_file_is_refused_by_its_size(models: Path, photo: Path) -> None:
    junk = models / "junk.onnx"
    with junk.open("wb") as handle:
        handle.write(b"\x08\x07garbage")
        handle.truncate(12 * GIB)  # sparse: no disk used
    done = run_cli(
        ["classify", str(photo), "--model", "good", "--models-dir", str(models), "--provider", "cpu"],
        memory_limit=3 * GIB,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "junk.onnx: file is 12.0 GiB; an ONNX model file cannot be larger than 2 GiB" in (
        inspect_model(junk).error or ""
    )
    assert [e.usable for e in scan_models(models)] == [True, False]


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io read counters")
def test_inspecting_a_big_model_reads_only_its_structure(tmp_path: Path) -> None:
    path = build_model(tmp_path / "heavy.onnx")
    model = onnx.load(str(path))
    padding = numpy_helper.from_array(np.ones(40 * 1024 * 1024 // 4, dtype=np.float32), "unused_40mb")
    model.graph.initializer.append(padding)  # 40 MB of tensor data the inspection has no use for
    model.doc_string = "x" * (8 * 1024 * 1024)
    onnx.save(model, str(path))
    before = _bytes_read()
    entry = inspect_model(path)
    read = _bytes_read() - before
    assert entry.usable, entry.error
    assert read < 1024 * 1024, f"read {read} bytes of a {path.stat().st_size} byte file"


def _bytes_read() -> int:
    text = Path("/proc/self/io").read_text()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar:")))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_given_as_the_model_is_refused_without_blocking(tmp_path: Path, photo: Path) -> None:
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    done = run_cli(["classify", str(photo), "--model", str(fifo), "--provider", "cpu"], timeout=60)
    assert done.returncode == 2
    assert "pipe.onnx: not a regular file" in done.stderr


def test_a_50_mb_metadata_value_is_refused_by_its_size(tmp_path: Path) -> None:
    labels = json.dumps([f"label {i} " + "x" * 150 for i in range(330_000)])
    assert len(labels) > 50_000_000
    error = _error(build_model(tmp_path / "fat.onnx", {"workbench.labels": labels}))
    assert "metadata workbench.labels is 5" in error and "at most 8.0 MiB" in error


# ---------------------------------------------------------------- point 4: normalisation that only gives NaN


@pytest.mark.parametrize(
    ("preprocess", "field"),
    [
        ({"resize": 256, "crop": [224, 224], "std": [1e-30, 0.224, 0.225]}, "std"),
        ({"resize": 256, "crop": [224, 224], "mean": [1e30, 0.456, 0.406]}, "mean"),
        ({"resize": 256, "crop": [224, 224], "mean": [3e5, 0.456, 0.406]}, "mean"),
        ({"resize": 256, "crop": [224, 224], "std": [1e40, 0.224, 0.225]}, "std"),
    ],
)
def test_normalisation_that_gives_nan_is_refused_naming_the_field(
    tmp_path: Path, photo: Path, preprocess: dict[str, object], field: str
) -> None:
    path = build_model(tmp_path / "nan.onnx", {"workbench.preprocess": json.dumps(preprocess)})
    assert f"nan.onnx: workbench.preprocess: {field}: " in _error(path)
    done = run_cli(["classify", str(photo), "--model", str(path), "--provider", "cpu"])
    assert done.returncode == 2 and f"workbench.preprocess: {field}: " in done.stderr, done.stderr[-2000:]
    assert "nan" not in done.stdout.lower()


# ---------------------------------------------------------------- point 5: metadata types, checked in one place

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("workbench.weights", "[]", "workbench.weights: expected a JSON object, got a JSON list"),
        ("workbench.weights", "null", "workbench.weights: expected a JSON object, got null"),
        ("workbench.weights", '{"trained": "yes"}', "workbench.weights: trained: expected true or false"),
        ("workbench.preprocess", "null", "workbench.preprocess: expected a JSON object, got null"),
        ("workbench.provenance", '["torch 2.13"]', "workbench.provenance: expected a JSON object, got a JSON list"),
        ("workbench.training", "[1]", "workbench.training: expected a JSON object"),
        ("workbench.quantization", "3", "workbench.quantization: expected a JSON object, got a number"),
        ("workbench.node_map", "[]", "workbench.node_map: expected a JSON object"),
        ("workbench.node_map", '{"nodes": []}', "workbench.node_map: nodes: expected a JSON object"),
        ("workbench.node_map", '{"nodes": {"fc": ["a"]}}', "'fc' maps to a JSON list, not a string"),
        ("workbench.labels", '"abcdefghij"', "workbench.labels: expected a JSON list, got a string"),
        ("workbench.labels", json.dumps(list(range(10))), "workbench.labels: label 0 is a number, not a string"),
        ("workbench.labels", json.dumps([*LABELS[:9], " "]), "workbench.labels: label 9 is empty"),
        ("workbench.labels", json.dumps([*LABELS[:9], "thing-3"]), "label 9 'thing-3' repeats label 3"),
        ("workbench.labels", json.dumps([*LABELS[:9], "two\nlines"]), "label 9 contains a line break"),
        ("workbench.labels", DEEP, "workbench.labels: not valid JSON (nested too deeply)"),
        ("workbench.provenance", '{"a": ' * 40 + "1" + "}" * 40, "nested more than 32 levels deep"),
        ("workbench.golden", '{"shape": "x"}', "workbench.golden: layout"),
        ("workbench.golden", "[]", "workbench.golden: expected a JSON object, got a JSON list"),
        ("workbench.architecture", "  ", "workbench.architecture: empty"),
        ("workbench.preprocess", '{"resize": NaN, "crop": [224, 224]}', "workbench.preprocess: not valid JSON"),
    ],
)
def test_odd_metadata_makes_only_that_file_unusable(models: Path, key: str, value: str, reason: str) -> None:
    odd = build_model(models / "odd.onnx", {key: value})
    assert reason in _error(odd)
    entries = {e.path.name: e for e in scan_models(models)}
    assert entries["good.onnx"].usable and not entries["odd.onnx"].usable


def test_metadata_that_is_not_utf8_is_reported_by_key(models: Path) -> None:
    odd = build_model(models / "odd.onnx", {"workbench.labels.set": "PLACEHOLDER"})
    replace_bytes(odd, b"PLACEHOLDER", b"bad \xff\xfe text")
    assert "workbench.labels.set is not valid UTF-8 text (byte 4)" in _error(odd)
    assert [e.usable for e in scan_models(models)] == [True, False]


def test_odd_values_of_every_key_never_raise(tmp_path: Path) -> None:
    odd_values = [
        "null",
        "true",
        "0",
        "-1",
        "1e400",
        '"text"',
        "[]",
        "[null]",
        "{}",
        '{"a": null}',
        "[[[[1]]]]",
        "9" * 5000,
    ]
    base = card_metadata()
    for key in [k for k in base if k != "workbench.format"]:
        for value in odd_values:
            entry = inspect_model(build_model(tmp_path / "odd.onnx", {key: value}))
            assert entry.error is None or entry.error.startswith("odd.onnx: "), (key, value)
            assert entry.error is None or key in entry.error, (key, value, entry.error)


@pytest.mark.parametrize("value", ["[]", "null", '"abc"'])
def test_classify_good_works_with_a_bad_file_in_the_folder(models: Path, photo: Path, value: str) -> None:
    build_model(models / "bad-weights.onnx", {"workbench.weights": value})
    build_model(models / "bad-provenance.onnx", {"workbench.provenance": "[1, 2]"})
    replace_bytes(build_model(models / "bad-bytes.onnx", {"workbench.architecture": "XXXX"}), b"XXXX", b"\xc3\x28ab")
    done = run_cli(["classify", str(photo), "--model", "good", "--models-dir", str(models), "--provider", "cpu"])
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{photo}\n  1." in done.stdout
    refused = run_cli(["classify", str(photo), "--model", "bad-provenance", "--models-dir", str(models)])
    assert refused.returncode == 2
    assert "bad-provenance.onnx: workbench.provenance: expected a JSON object, got a JSON list" in refused.stderr


def test_a_model_with_checked_metadata_still_loads_and_runs(models: Path) -> None:
    model = load_model(inspect_model(models / "good.onnx"), "cpu")
    logits = model.run(np.zeros((2, 3, 224, 224), dtype=np.float32))
    assert logits.shape == (2, 10) and np.isfinite(logits).all()


def test_a_folder_of_many_bad_files_gives_a_short_error(tmp_path: Path) -> None:
    from desktop_app.core.catalog import ModelChoiceError, choose_model

    for i in range(30):
        (tmp_path / f"junk{i:02d}.onnx").write_text("not a model\n")
    with pytest.raises(ModelChoiceError) as default:
        choose_model(None, tmp_path)
    assert "(30 unusable: junk00.onnx: " in str(default.value) and "; and 27 more)" in str(default.value)
    with pytest.raises(ModelChoiceError) as named:
        choose_model("nothing-like-it", tmp_path)
    assert "junk19, and 10 more)" in str(named.value)


def test_nan_in_shown_only_metadata_keeps_the_file_usable_as_text(tmp_path: Path) -> None:
    training = json.dumps({"val_top1": 0.5, "val_loss": float("nan"), "best": float("inf")})  # NaN, Infinity
    entry = inspect_model(build_model(tmp_path / "diverged.onnx", {"workbench.training": training}))
    assert entry.usable and entry.card is not None and entry.card.training is not None, entry.error
    assert entry.card.training == {"val_top1": 0.5, "val_loss": "NaN", "best": "Infinity"}


@pytest.mark.parametrize("read_whole", [True, False], ids=["in-memory", "from-the-file"])
def test_damaged_model_bytes_give_an_error_or_a_model_never_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_whole: bool
) -> None:
    from workbench import modelfile

    if not read_whole:
        monkeypatch.setattr(modelfile, "READ_WHOLE_BYTES", 0)  # walk the file with seeks, as for big models
    monkeypatch.setenv("CNN_WORKBENCH_CACHE", "off")
    data = build_model(tmp_path / "source.onnx").read_bytes()
    rng = np.random.default_rng(7)
    variants = [data[:cut] for cut in range(1, len(data), 97)]
    for _ in range(150):
        damaged = bytearray(data)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 4))):
            damaged[position] = int(rng.integers(0, 256))
        variants.append(bytes(damaged))
    for number, variant in enumerate(variants):
        target = tmp_path / f"damaged{number}.onnx"  # a new name each time: the same mtime tick may repeat
        target.write_bytes(variant)
        entry = inspect_model(target)
        assert entry.usable or (entry.error or "").startswith(f"{target.name}: "), entry.error
