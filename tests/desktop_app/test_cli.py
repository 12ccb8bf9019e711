"""Tests for the headless command line through real subprocesses (``python -m desktop_app ...``).

Run: ``pytest tests/desktop_app/test_cli.py -q``
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.cli import ascii_only, finite_or_error, json_line
from desktop_app.core.catalog import ModelChoiceError, choose_model
from desktop_app.core.classify import NON_FINITE_REASON, FileResult, Prediction
from tests.desktop_app.helpers import TINY_LABELS, Photos, Zoo, run_cli
from tests.helpers import REPO


@pytest.fixture(scope="module")
def models(zoo: Zoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with one usable workbench model and one broken file."""
    folder = tmp_path_factory.mktemp("cli-models")
    shutil.copy(zoo.workbench, folder / zoo.workbench.name)
    shutil.copy(zoo.bad_dir / "two-inputs.onnx", folder / "aaa-two-inputs.onnx")
    return folder


def test_classify_json_all_good_exit_0(models: Path, photos: Photos) -> None:
    proc = run_cli("classify", *photos.good[:2], "--json", "--top-k", "3", "--provider", "cpu", models=models)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(p) for p in photos.good[:2]]
    for line in lines:
        fields = {"file", "labels", "indices", "probabilities", "provider", "model", "model_file", "model_sha256"}
        assert set(line) == fields | {"engine", "device", "precision", "fallback_reason"}
        assert (line["engine"], line["device"], line["precision"]) == ("onnxruntime", "CPU", "fp32")
        assert line["model_sha256"] == hashlib.sha256(Path(line["model_file"]).read_bytes()).hexdigest()
        assert len(line["indices"]) == 3 and line["labels"][0] == TINY_LABELS[line["indices"][0]]
        assert line["provider"] == "CPUExecutionProvider"
        assert line["probabilities"] == sorted(line["probabilities"], reverse=True)


def test_classify_folder_with_bad_files_exit_1(models: Path, photos: Photos) -> None:
    proc = run_cli("classify", photos.folder, photos.missing, "--json", "--models-dir", models)
    assert proc.returncode == 1, proc.stderr
    lines = {Path(d["file"]).name: d for d in map(json.loads, proc.stdout.splitlines())}
    assert len(lines) == len(photos.good) + len(photos.bad) - 1 + 1  # the SVG is not picked up from a folder
    for path in photos.good:
        assert "labels" in lines[path.name]
    for name in ("e-empty.jpg", "f-truncated.jpg", "g-text.jpg", "z-missing.jpg"):
        assert set(lines[name]) == {"file", "error"} and name in lines[name]["error"]
    assert "Traceback" not in proc.stderr


def test_classify_table_and_cuda_fallback_notice(models: Path, photos: Photos) -> None:
    proc = run_cli("classify", photos.good[0], photos.bad[3], "--provider", "cuda", "--top-k", "2", models=models)
    assert proc.returncode == 1
    assert str(photos.good[0]) in proc.stdout and "1. " in proc.stdout and "2. " in proc.stdout
    assert "SVG" in proc.stderr
    assert "CUDA was requested but did not start" in proc.stderr  # no GPU on the test machine


def test_foreign_model_file_with_notices(zoo: Zoo, photos: Photos) -> None:
    proc = run_cli("classify", photos.good[0], "--model", zoo.seven, "--json", "--top-k", "7")
    assert proc.returncode == 0, proc.stderr
    (line,) = map(json.loads, proc.stdout.splitlines())
    assert sorted(line["labels"]) == [f"class {i}" for i in range(7)]
    assert "class numbers" in proc.stderr and "ImageNet mean/std" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--models-dir", "{empty}"), "python -m exporter export --default"),
        (("--model", "{bad}"), "escapes the model's folder"),
        (("--model", "{truncated}"), "truncated.onnx: not a readable ONNX model"),
        (("--model", "{missing}"), "missing-data.onnx.data' is missing"),
        (("--model", "no-such-model"), "no model of that name"),
        (("--provider", "tpu"), "invalid choice"),
        (("--top-k", "0"), ">= 1"),
    ],
)
def test_bad_usage_exit_2(zoo: Zoo, photos: Photos, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    values = {
        "empty": str(tmp_path),
        "bad": str(zoo.bad_dir / "escaping.onnx"),
        "truncated": str(zoo.bad_dir / "truncated.onnx"),
        "missing": str(zoo.bad_dir / "missing-data.onnx"),
    }
    proc = run_cli("classify", photos.good[0], *(a.format(**values) for a in args))
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_profile_table_json_and_csv(models: Path, photos: Photos, tmp_path: Path) -> None:
    out_csv = tmp_path / "timing.csv"
    proc = run_cli(
        "profile", photos.good[0], "--engine", "onnxruntime", "--runs", "3", "--warmup", "1", "--depth", "1",
        "--csv", out_csv, models=models,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "module" in proc.stdout and "layer1" in proc.stdout and "sum of layer times" in proc.stdout
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert {r["module"] for r in rows} >= {"layer1", "fc"}
    assert sum(float(r["share_percent"]) for r in rows) == pytest.approx(100, abs=1)
    proc = run_cli("profile", photos.good[0], "--runs", "2", "--json", "--provider", "cpu", models=models)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["runs"] == 2 and report["rows"] and report["wall_median_ms"] > 0
    proc = run_cli("profile", photos.bad[0], models=models)
    assert proc.returncode == 1 and "empty" in proc.stderr


def test_choose_model_by_name_and_default(zoo: Zoo, models: Path) -> None:
    assert choose_model(None, models).path.name == zoo.workbench.name  # the broken file sorts first
    assert choose_model("tinynet", models).path.name == zoo.workbench.name
    assert choose_model(zoo.workbench.name, models).path.name == zoo.workbench.name
    assert choose_model(zoo.workbench.stem.upper(), models).path.name == zoo.workbench.name
    with pytest.raises(ModelChoiceError, match="2 graph inputs"):
        choose_model("aaa-two-inputs", models)


def test_headless_imports_leave_out_torch_and_qt() -> None:
    code = (
        "import sys, desktop_app.core.runtime, desktop_app.core.classify, desktop_app.core.profiling, desktop_app.cli;"
        "import desktop_app.core.catalog, desktop_app.__main__;"
        "bad = [m for m in ('torch', 'PySide6', 'models') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_help_and_unwritable_csv(models: Path, photos: Photos, tmp_path: Path) -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0 and "classify" in proc.stdout and "profile" in proc.stdout
    proc = run_cli("classify", "--help")
    assert proc.returncode == 0 and "--top-k" in proc.stdout and "--models-dir" in proc.stdout
    proc = run_cli("profile", photos.good[0], "--runs", "1", "--csv", tmp_path / "no" / "such" / "t.csv", models=models)
    assert proc.returncode == 2 and "cannot write CSV" in proc.stderr and "Traceback" not in proc.stderr


def test_non_finite_probabilities_never_reach_the_output(tmp_path: Path) -> None:
    """The last guard: a prediction holding NaN becomes an error, and json_line refuses NaN outright."""
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.png"))
    nan = FileResult(path=path, prediction=Prediction((0, 1), ("a", "b"), (float("nan"), 0.5)))
    checked = finite_or_error(nan)
    assert checked.prediction is None and checked.error == f"{tmp_path}/caf\\xe9.png: {NON_FINITE_REASON}"
    good = FileResult(path=path, prediction=Prediction((0,), ("a",), (1.0,)))
    assert finite_or_error(good) is good
    with pytest.raises(ValueError, match="not JSON compliant"):
        json_line({"p": float("inf")}, as_ascii=False)
    assert json_line({"label": "café"}, as_ascii=True) == '{"label": "caf\\u00e9"}'
    assert ascii_only(io.TextIOWrapper(io.BytesIO(), encoding="ascii")) is True
    assert ascii_only(io.TextIOWrapper(io.BytesIO(), encoding="UTF8")) is False
    assert ascii_only(io.StringIO()) is False


def test_version_and_the_console_script_name() -> None:
    """``--version`` prints the package's version; ``cnn-workbench``'s usage lines name ``cnn-workbench``."""
    from workbench.version import package_version

    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"python -m desktop_app {package_version()}"
    script = Path(sys.executable).with_name("cnn-workbench")
    if not script.is_file():
        pytest.skip("the console script is not installed (pip install -e .)")
    helped = subprocess.run([str(script), "classify", "--help"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: cnn-workbench classify ")
    assert "python -m desktop_app" not in helped.stdout
