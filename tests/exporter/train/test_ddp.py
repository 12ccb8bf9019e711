"""``torchrun --nproc_per_node=2`` on CPU (gloo) trains the same network as one process.

What "equivalent" means here: ``--batch-size`` is the global batch, each process takes its half of every
global batch, DDP averages the gradients, batch-norm statistics are over the global batch
(GlooSyncBatchNorm) and augmentation is seeded per image, so each step computes the single-process step
up to float rounding (the two halves are summed in another order; torchrun also runs 1 thread/process).
From-scratch training amplifies rounding quickly (a single process with 1 vs 2 threads drifts apart just
as much after an epoch), so the weights are compared after a few steps, where they must agree to 1e-5,
and the whole DDP run (interrupted, resumed under torchrun, finished) must complete with its metrics.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.exporter.train.helpers import DIGITS_ARGS, load, log_rows, run_train


@pytest.mark.slow
def test_torchrun_two_processes_match_one(digits_small: Path, tmp_path: Path) -> None:
    args = ["--data", str(digits_small), *DIGITS_ARGS, "--epochs", "1", "--batch-size", "32", "--lr", "0.002",
            "--no-export", "--stop-after-steps", "3"]  # fmt: skip
    single = run_train([*args, "--out", str(tmp_path / "one")], tmp_path)
    assert single.code == 130, single.output
    ddp = run_train([*args, "--out", str(tmp_path / "two")], tmp_path, torchrun=2)
    assert ddp.code != 0 and "interrupted: resumable checkpoint" in ddp.stderr, ddp.output  # torchrun: exit 1
    one, two = load(tmp_path / "one" / "last.pt")["resume"], load(tmp_path / "two" / "last.pt")["resume"]
    assert one["state"]["step"] == two["state"]["step"] == 3
    worst = max(float((v.double() - two["model"][k].double()).abs().max()) for k, v in one["model"].items())
    print(f"DDP vs single process after 3 steps: max |weight diff| {worst:.2e}")
    for key, value in one["model"].items():
        torch.testing.assert_close(two["model"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert two["state"]["loss_sum"] == pytest.approx(one["state"]["loss_sum"], rel=1e-5)

    resumed = run_train(["--resume", str(tmp_path / "two" / "last.pt"), "--no-export"], tmp_path, torchrun=2)
    assert resumed.code == 0, resumed.output
    assert resumed.stderr.count("epoch 1: train loss") == 1  # rank 0 only
    assert log_rows(tmp_path / "two")[0]["val_images"] == 30
    assert load(tmp_path / "two" / "best.pt")["metrics"]["test_images"] == 30
