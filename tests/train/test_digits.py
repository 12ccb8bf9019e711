"""Acceptance: resnet18 from scratch on scikit-learn's real handwritten digits reaches >= 95 % test top-1
through the CLI, and the exported ONNX file, run by the desktop app's own code, gives the same accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.core.classify import classify_paths
from desktop_app.core.session import inspect_model, load_model
from tests.train.conftest import DIGITS_ARGS, load, log_rows, run_train


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
    results = list(classify_paths(load_model(entry, "cpu"), [p for p, _ in split["test"]], top_k=1))
    truth = [split["classes"][label] for _, label in split["test"]]
    hits = [r.prediction.labels[0] == name for r, name in zip(results, truth, strict=True)]
    onnx_top1 = sum(hits) / len(hits)
    print(f"digits: torch test top-1 {metrics['test_top1']:.4f}, ONNX Runtime {onnx_top1:.4f}, {len(hits)} images")
    assert onnx_top1 == pytest.approx(metrics["test_top1"], abs=1.01 / len(hits))
