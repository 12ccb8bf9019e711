"""A resumed run keeps the folders the original run was given, and cleans up after a killed one.

Real ``python -m exporter train`` subprocesses on 150 real digits at 8 px: a run started with
``--models-dir`` and interrupted exports, after ``--resume``, into that folder (not
``$CNN_WORKBENCH_MODELS``) unless ``--models-dir`` is given again; temporary files that a killed run
left in the run folder are removed when the run resumes there, and only those.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.exporter.train.helpers import TINY_ARGS, load, run_train
from tests.processes import dead_pid, host_name

DAY = 24 * 3600


def _file(path: Path, age_days: float = 0) -> Path:
    path.write_bytes(b"half a checkpoint")
    if age_days:
        past = time.time() - age_days * DAY
        os.utime(path, (past, past))
    return path


def _onnx_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.onnx")) if folder.is_dir() else []


def test_resume_exports_to_the_runs_models_dir_and_cleans_its_temps(digits_tiny: Path, tmp_path: Path) -> None:
    given, env_models, out = tmp_path / "given-models", tmp_path / "models", tmp_path / "run"
    common = ["--data", str(digits_tiny), *TINY_ARGS, "--epochs", "2", "--batch-size", "16", "--lr", "0.05"]
    stopped = run_train([*common, "--out", str(out), "--models-dir", str(given), "--stop-after-steps", "3"], tmp_path)
    assert stopped.code == 130, stopped.output
    host = host_name()
    stale = [
        _file(out / f".last.pt.{dead_pid()}@{host}.q1w2e3r4.tmp"),  # its writer was killed
        _file(out / ".best.pt.a1s2d3f4.tmp", age_days=2),  # the old naming, two days old
    ]
    kept = [
        _file(out / f".log.json.{os.getpid()}@{host}.z1x2c3v4.tmp"),  # its writer (this test) is alive
        _file(out / ".split.json.m1n2b3v4.tmp"),  # old naming, fresh
        _file(out / "my.tmp", age_days=3),  # not ours
    ]
    resumed = run_train(["--resume", str(out / "last.pt")], tmp_path)
    assert resumed.code == 0, resumed.output
    assert _onnx_in(env_models) == [], "the resumed run exported to $CNN_WORKBENCH_MODELS, not its --models-dir"
    (name,) = _onnx_in(given)
    assert "removed 2 stale temporary file(s)" in resumed.stderr, resumed.stderr
    assert [p for p in stale if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    # Given again, --models-dir overrides the run's own.
    other = tmp_path / "other-models"
    again = run_train(["--resume", str(out / "last.pt"), "--models-dir", str(other)], tmp_path)
    assert again.code == 0, again.output
    assert _onnx_in(other) == [name] and _onnx_in(env_models) == []


def test_dangling_symlink_run_folder_is_named_as_such(digits_tiny: Path, tmp_path: Path) -> None:
    link = tmp_path / "run"
    link.symlink_to(tmp_path / "gone")
    result = run_train(["--data", str(digits_tiny), *TINY_ARGS, "--out", str(link)], tmp_path)
    assert result.code == 2, result.output
    assert "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error: ")]
    assert line == f"error: run folder {link} is a symlink to {tmp_path / 'gone'}, which does not exist"


def test_run_named_last_keeps_its_resumable_checkpoint(digits_tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--data", str(digits_tiny), *TINY_ARGS, "--epochs", "1", "--batch-size", "16", "--no-export"]
    result = run_train([*args, "--out", str(out), "--name", "last"], tmp_path)
    assert result.code == 0, result.output
    assert "resume" in load(out / "last.pt"), "the exported copy of best.pt overwrote last.pt"
    assert "resume" not in load(out / "last_model.pt")


@pytest.mark.parametrize(
    ("name", "stem"),
    [("digits", "digits"), ("best", "best_model"), ("LAST", "LAST_model"), ("../../x", "x"), ("..", "model"),
     (".hidden", "hidden"), ("a b/c", "a_b_c"), ("y" * 80, "y" * 64)],
)  # fmt: skip
def test_export_stem_is_one_safe_name_that_spares_the_runs_own_files(name: str, stem: str) -> None:
    from exporter.train.cli import export_stem

    assert export_stem(name) == stem
