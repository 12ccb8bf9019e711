"""Acceptance: resnet18 from scratch on scikit-learn's real handwritten digits reaches >= 95 % test top-1
through the CLI, the exported ONNX file, run by the desktop app's own code, gives the same accuracy, and
an int8 export of the trained model (calibrated on the training split) loses <= 0.5 points of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.catalog import inspect_model
from desktop_app.core.classify import classify_paths
from desktop_app.core.runtime import load_model
from tests.exporter.train.helpers import DIGITS_ARGS, REPO, load, log_rows, run_train


@pytest.mark.slow
def test_digits_resnet18_reaches_95_percent_and_onnx_agrees(digits_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--data", str(digits_dir), *DIGITS_ARGS, "--epochs", "4", "--batch-size", "64",
            "--optimizer", "adamw", "--lr", "0.002", "--out", str(out), "--name", "digits"]  # fmt: skip
    result = run_train(args, tmp_path)
    assert result.code == 0, result.output
    assert "img/s" in result.stderr and "ETA" in result.stderr and "top-5" in result.stderr
    metrics = load(out / "best.pt")["metrics"]
    assert metrics["test_top1"] >= 0.95, metrics
    assert len(log_rows(out)) == 4 and (out / "log.csv").read_text().startswith("epoch,train_loss,val_loss")

    entry = inspect_model(tmp_path / "models" / "resnet18-custom-digits-fp32-16px.onnx")
    assert entry.usable and entry.labels == tuple(str(d) for d in range(10))
    assert entry.card is not None and entry.card.training["test_top1"] == metrics["test_top1"]
    split = json.loads((out / "split.json").read_text())
    onnx_top1 = _test_top1(entry.path, split)
    images = len(split["test"])
    print(f"digits: torch test top-1 {metrics['test_top1']:.4f}, ONNX Runtime {onnx_top1:.4f}, {images} images")
    assert onnx_top1 == pytest.approx(metrics["test_top1"], abs=1.01 / images)
    evaluated = _evaluate_top1(entry.path, split, tmp_path)
    print(f"digits: python -m desktop_app evaluate on the test split: top-1 {evaluated:.4f}")
    assert evaluated == onnx_top1  # the evaluate command agrees with train's own figure (to within one image, above)

    int8_top1 = _test_top1(_export_int8(out / "best.pt", split, tmp_path), split)
    print(f"digits: int8 test top-1 {int8_top1:.4f} (fp32 ONNX {onnx_top1:.4f}, drop {onnx_top1 - int8_top1:+.4f})")
    assert int8_top1 >= onnx_top1 - 0.005


def _test_top1(model_file: Path, split: dict) -> float:
    """Top-1 of ``model_file`` on the run's test split, through the app's own classify_paths."""
    entry = inspect_model(model_file)
    results = list(classify_paths(load_model(entry, "cpu"), [p for p, _ in split["test"]], top_k=1))
    truth = [split["classes"][label] for _, label in split["test"]]
    return sum(r.prediction.labels[0] == name for r, name in zip(results, truth, strict=True)) / len(truth)


def _evaluate_top1(model_file: Path, split: dict, tmp_path: Path) -> float:
    """Top-1 that ``python -m desktop_app evaluate`` reports for the run's test split (given as a CSV)."""
    listing = tmp_path / "test-split.csv"
    rows = "".join(f"{path},{split['classes'][label]}\n" for path, label in split["test"])
    listing.write_text("path,label\n" + rows, encoding="utf-8")
    command = [sys.executable, "-m", "desktop_app", "evaluate", str(listing), "--model", str(model_file),
               "--provider", "cpu", "--out", str(tmp_path / "evaluation")]  # fmt: skip
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "evaluation" / "report.json").read_text(encoding="utf-8"))
    (model,) = report["models"]
    assert model["metrics"]["images"] == len(split["test"]) and model["unknown_classes"] == []
    return float(model["metrics"]["top1"])


def _export_int8(checkpoint: Path, split: dict, tmp_path: Path) -> Path:
    """``export --precision int8`` of the trained checkpoint, calibrated on (links to) its training images."""
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for i, (path, _) in enumerate(split["train"]):
        (calibration / f"{i:05d}{Path(path).suffix}").symlink_to(path)
    command = [sys.executable, "-m", "exporter", "export", "--model", "resnet18", "--weights", str(checkpoint),
               "--image-size", "16", "--precision", "int8", "--calibration", str(calibration),
               "--out", str(tmp_path / "int8"), "--quiet"]  # fmt: skip
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (model_file,) = (tmp_path / "int8").glob("*-int8*.onnx")
    return model_file
