"""An interrupted run continued with ``--resume`` ends bit-for-bit where an uninterrupted run ends."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.exporter.train.helpers import REPO, TINY_ARGS, load, log_rows, run_train


def _common(data: Path) -> list[str]:
    # 150 digits -> 110 training images -> 6 steps of 16 per epoch
    return ["--data", str(data), *TINY_ARGS, "--epochs", "2", "--batch-size", "16", "--lr", "0.05", "--no-export"]


@pytest.fixture(scope="module")
def uninterrupted(digits_tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = run_train([*_common(digits_tiny), "--out", str(folder / "run")], folder)
    assert result.code == 0, result.output
    return folder / "run"


def _assert_same_run(a: Path, b: Path) -> None:
    for name in ("best.pt", "last.pt"):
        left, right = load(a / name), load(b / name)
        assert left["state_dict"].keys() == right["state_dict"].keys()
        for key, value in left["state_dict"].items():
            assert torch.equal(value, right["state_dict"][key]), f"{name}: {key} differs"
    rows_a, rows_b = log_rows(a), log_rows(b)
    strip = [{k: v for k, v in row.items() if k != "seconds"} for row in rows_a]
    assert strip == [{k: v for k, v in row.items() if k != "seconds"} for row in rows_b]
    assert load(a / "best.pt")["metrics"]["test_top1"] == load(b / "best.pt")["metrics"]["test_top1"]


@pytest.mark.parametrize("stop_after", [6, 9], ids=["at-epoch-end", "mid-epoch"])
def test_resume_equals_uninterrupted(uninterrupted: Path, digits_tiny: Path, tmp_path: Path, stop_after: int) -> None:
    out = tmp_path / "run"
    stopped = run_train([*_common(digits_tiny), "--out", str(out), "--stop-after-steps", str(stop_after)], tmp_path)
    assert stopped.code == 130, stopped.output
    assert f"--resume {out / 'last.pt'}" in stopped.stderr
    assert load(out / "last.pt")["resume"]["state"]["step"] == stop_after
    resumed = run_train(["--resume", str(out / "last.pt"), "--no-export"], tmp_path)
    assert resumed.code == 0, resumed.output
    _assert_same_run(uninterrupted, out)


def test_ctrl_c_saves_a_resumable_checkpoint(uninterrupted: Path, digits_tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "exporter", "train", *_common(digits_tiny), "--out", str(out)]
    proc = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until training has started
        if line.startswith("epoch 1/2"):
            break
    proc.send_signal(signal.SIGINT)
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, stderr
    assert "Traceback" not in stderr and "resumable checkpoint" in stderr
    resumed = run_train(["--resume", str(out / "last.pt"), "--no-export"], tmp_path)
    assert resumed.code == 0, resumed.output
    _assert_same_run(uninterrupted, out)
