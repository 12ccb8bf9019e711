"""Killed exports leave no lasting litter, and two exports of one model cannot both "succeed".

Real ``python -m exporter export`` processes: one is SIGKILLed while its ``.onnx.tmp`` (or its
``cnn-quant-*`` scratch folder) exists, and the next export into the same folder removes it, and only
what is ours and stale (owner gone, or a day old). For the final step, a process is frozen (SIGSTOP)
while it verifies its temporary file, the target appears meanwhile, and the export then refuses to
overwrite it without ``--force``; two exports started together end with one file and one error.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest

from tests.helpers import REPO
from tests.processes import dead_pid, host_name

DAY = 24 * 3600
ABC = ["ant", "bee", "wasp"]


def _export_args(tmp_path: Path, out: Path, *extra: str) -> list[str]:
    labels = tmp_path / "abc.txt"
    labels.write_text("\n".join(ABC) + "\n", encoding="utf-8")
    return [sys.executable, "-m", "exporter", "export", "--model", "resnet18", "--weights", "random",
            "--image-size", "32", "--labels", str(labels), "--out", str(out), "--quiet", *extra]  # fmt: skip


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _catch(proc: subprocess.Popen[str], seen: Callable[[], list[Path]], then: int) -> list[Path] | None:
    """Poll until ``seen()`` finds something, then send ``then`` to ``proc``; None if it ended first."""
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        found = seen()
        if found:
            proc.send_signal(then)
            return found
        time.sleep(0.002)
    return None


def _kill_while_present(tmp_path: Path, args: list[str], seen: Callable[[], list[Path]], env: dict[str, str]) -> Path:
    """Start ``args``, SIGKILL it as soon as ``seen()`` finds its temporary entry; that entry (retries twice)."""
    for _attempt in range(3):
        proc = _start(args, env)
        found = _catch(proc, seen, signal.SIGKILL)
        proc.communicate(timeout=300)  # reaped: its pid is gone now
        if found:
            assert proc.returncode == -signal.SIGKILL
            (entry,) = found
            assert entry.exists(), "the kill must leave the temporary entry behind"
            return entry
    pytest.fail("the export never showed its temporary entry while running")


def _aged(path: Path, days: float = 2) -> Path:
    past = time.time() - days * DAY
    os.utime(path, (past, past), follow_symlinks=False)
    return path


def _file(path: Path, data: bytes = b"partial model") -> Path:
    path.write_bytes(data)
    return path


def test_temp_file_of_a_killed_export_is_removed_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "models"
    args = _export_args(tmp_path, out)
    killed = _kill_while_present(tmp_path, args, lambda: list(out.glob(".*.onnx.tmp")), {})
    host, stem = host_name(), "resnet18-custom-random-fp32-32px"
    stale = [
        killed,
        _file(out / f".{stem}.{dead_pid()}@{host}.abcd_123.onnx.tmp"),  # owner gone, fresh
        _aged(_file(out / f".{stem}.k2j4h5g6.onnx.tmp")),  # the old naming (no owner), two days old
    ]
    kept = [
        _file(out / f".{stem}.{os.getpid()}@{host}.abcd_123.onnx.tmp"),  # owner alive (this test)
        _file(out / f".{stem}.zz99yy88.onnx.tmp"),  # old naming, fresh: maybe being written
        _aged(_file(out / f".{stem}.{dead_pid()}@{host}x.abcd_123.onnx"), 3),  # not our suffix
        _aged(_file(out / "notes.onnx.tmp")),  # not our pattern
        _aged(_file(out / "other.txt")),
    ]
    link = out / f".{stem}.yy88zz99.onnx.tmp"
    link.symlink_to(out / "other.txt")  # a symlink with our name is not ours to delete
    kept.append(_aged(link))
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "removed 3 stale temporary file(s)" in proc.stdout, proc.stdout
    assert [p for p in stale if os.path.lexists(p)] == []
    assert [p for p in kept if not os.path.lexists(p)] == []
    assert (out / f"{stem}.onnx").is_file()


def test_scratch_folder_of_a_killed_lowering_is_removed_by_the_next(tmp_path: Path) -> None:
    scratch_root = tmp_path / "tmpdir"
    scratch_root.mkdir()
    env = {"TMPDIR": str(scratch_root)}
    out = tmp_path / "models"
    args = _export_args(tmp_path, out, "--precision", "fp16")
    killed = _kill_while_present(tmp_path, args, lambda: list(scratch_root.glob("cnn-quant-*")), env)
    assert killed.is_dir()
    old = scratch_root / "cnn-quant-a1b2c3d4"  # the old naming, two days old, with a model inside
    old.mkdir()
    _file(old / "fp32.onnx", b"x" * 4096)
    _aged(old)
    fresh_old = scratch_root / "cnn-quant-e5f6g7h8"  # old naming, fresh: another export may be using it
    fresh_old.mkdir()
    live = scratch_root / f"cnn-quant-{os.getpid()}@{host_name()}.i9j0k1l2"
    live.mkdir()
    foreign = _aged(_file(scratch_root / "cnn-quant-notes.txt"))
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert "removed 2 stale temporary folder(s)" in proc.stdout, proc.stdout
    assert not killed.exists() and not old.exists()
    assert fresh_old.is_dir() and live.is_dir() and foreign.is_file()
    left = sorted(p.name for p in scratch_root.glob("cnn-quant-*"))
    assert left == sorted([fresh_old.name, live.name, foreign.name])


def _valid_model(path: Path) -> list[str]:
    model = onnx.load(str(path), load_external_data=False)
    return [p.value for p in model.metadata_props if p.key == "workbench.labels"]


@pytest.mark.parametrize("force", [False, True], ids=["without-force", "with-force"])
def test_target_created_while_verifying_is_not_overwritten_without_force(tmp_path: Path, force: bool) -> None:
    out = tmp_path / "models"
    target = out / "resnet18-custom-random-fp32-32px.onnx"
    args = _export_args(tmp_path, out, *(["--force"] if force else []))
    for _attempt in range(3):
        proc = _start(args)
        # Freeze the export while it checks its temporary file (it passed its "exists?" check long ago).
        if _catch(proc, lambda: list(out.glob(".*.onnx.tmp")), signal.SIGSTOP):
            break
        proc.communicate(timeout=300)
        target.unlink(missing_ok=True)
    else:
        pytest.fail("the export never showed its temporary file while running")
    target.write_bytes(b"written by another export")
    proc.send_signal(signal.SIGCONT)
    stdout, stderr = proc.communicate(timeout=300)
    assert "Traceback" not in stderr
    if force:
        assert proc.returncode == 0, stderr
        assert _valid_model(target)
    else:
        assert proc.returncode == 2, stdout + stderr
        (line,) = [x for x in stderr.splitlines() if x.startswith("error: ")]
        assert str(target) in line and "already exists" in line and "--force" in line, line
        assert target.read_bytes() == b"written by another export"
    assert list(out.glob(".*.onnx.tmp")) == []


def test_two_simultaneous_exports_one_file_one_error(tmp_path: Path) -> None:
    out = tmp_path / "models"
    args = _export_args(tmp_path, out)
    procs = [_start(args), _start(args)]
    outputs = [p.communicate(timeout=300) for p in procs]
    results = [(p.returncode, out_text, err) for p, (out_text, err) in zip(procs, outputs, strict=True)]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    (loser,) = [err for code, _, err in results if code == 2]
    assert "already exists" in loser and "Traceback" not in loser, loser
    assert sorted(p.name for p in out.iterdir()) == ["resnet18-custom-random-fp32-32px.onnx"]
    assert _valid_model(out / "resnet18-custom-random-fp32-32px.onnx")
