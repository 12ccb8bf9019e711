"""Hostile files for the headless command line: loops, FIFOs, devices, unreadable folders, odd names, NaN models.

Every check runs ``python -m desktop_app classify|profile`` as a real subprocess (with a timeout, so a
blocking open fails the test instead of hanging it) on real files in ``tmp_path``, with the real tiny
model of the ``zoo`` fixture or ``tests.desktop_app.hostile.sqrt_model``, whose output is NaN for dark images.

Run: ``pytest tests/desktop_app/test_hostile_files.py -q``
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from tests.desktop_app.helpers import Zoo
from tests.desktop_app.hostile import NAN_LABELS, sqrt_model
from tests.processes import without_dac_override

REPO = Path(__file__).resolve().parents[2]
POSIX_ONLY = pytest.mark.skipif(sys.platform == "win32", reason="FIFOs, symlinks and byte file names are POSIX")
STRICT_UTF8 = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}


def run_cli(
    *args: str | os.PathLike[str] | bytes,
    models: Path,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI; output is kept as bytes so that the test sees exactly what was written."""
    environ = {**os.environ, "PYTHONPATH": str(REPO), "CNN_WORKBENCH_MODELS": str(models), **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "desktop_app", *(a if isinstance(a, bytes) else os.fspath(a) for a in args)],
        capture_output=True,
        cwd=REPO,
        env=environ,
        timeout=120,
        check=False,
    )


def refuse_constant(constant: str) -> object:
    raise AssertionError(f"non-JSON constant {constant} in the output")


def strict_json_lines(stdout: bytes) -> list[dict[str, object]]:
    """Parse JSON lines as strict JSON: UTF-8 only, and NaN/Infinity refused (json.loads accepts them)."""
    return [json.loads(line, parse_constant=refuse_constant) for line in stdout.decode("utf-8").splitlines()]


def image(path: Path | bytes, colour: str = "red") -> Path:
    name = Path(os.fsdecode(path))
    name.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), colour).save(name, format="PNG")
    return name


@pytest.fixture(scope="module")
def models(zoo: Zoo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile-models")
    shutil.copy(zoo.workbench, folder / zoo.workbench.name)
    return folder


@pytest.fixture(scope="module")
def nan_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("nan-models")
    sqrt_model(folder / "sqrtnet-hostile-10-fp32.onnx")
    return folder


# ---------------------------------------------------------------- point 6: loops, FIFOs, devices, folders


@POSIX_ONLY
def test_loops_fifos_devices_in_a_folder_are_one_error_each(models: Path, tmp_path: Path) -> None:
    root = tmp_path / "album"
    good = [image(root / "a.png"), image(root / "b.png", "blue"), image(root / "sub" / "c.png", "green")]
    (root / "loop.jpg").symlink_to("loop.jpg")  # ELOOP for anything that follows it
    (root / "ring-1").symlink_to("ring-2")
    (root / "ring-2").symlink_to("ring-1")
    os.mkfifo(root / "fifo.jpg")
    (root / "zero.png").symlink_to("/dev/zero")
    (root / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    os.mkfifo(root / "pipe")  # not named like an image: not a candidate, nothing to say
    proc = run_cli("classify", root, "--json", "--provider", "cpu", models=models)
    assert proc.returncode == 1, proc.stderr.decode()
    lines = {Path(str(d["file"])).name: d for d in strict_json_lines(proc.stdout)}
    for path in good:
        assert "labels" in lines[path.name], lines
    expected = {
        "loop.jpg": "symbolic link loop",
        "ring-1": "symbolic link loop",
        "ring-2": "symbolic link loop",
        "fifo.jpg": "not a regular file (FIFO, named pipe)",
        "zero.png": "not a regular file (character device)",
        "dangling.jpg": "broken symbolic link",
    }
    assert set(lines) == {p.name for p in good} | set(expected)
    for name, reason in expected.items():
        assert set(lines[name]) == {"file", "error"}
        assert lines[name]["error"].startswith(f"{root / name}: {reason}"), lines[name]
    table = run_cli("classify", root, "--provider", "cpu", models=models)
    assert table.returncode == 1
    err = table.stderr.decode()
    assert "3 of 3 images classified, 0 failed, 6 paths skipped" in err and "Traceback" not in err
    assert f"error: {root / 'fifo.jpg'}: not a regular file" in err


@POSIX_ONLY
def test_fifo_and_device_named_directly_do_not_block(models: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "named.jpg"
    os.mkfifo(fifo)
    good = image(tmp_path / "good.png")
    proc = run_cli("classify", fifo, "/dev/zero", good, "--json", "--provider", "cpu", models=models)
    assert proc.returncode == 1, proc.stderr.decode()
    first, second, third = strict_json_lines(proc.stdout)
    assert first["error"] == f"{fifo}: not a regular file (FIFO, named pipe)"
    assert second["error"] == "/dev/zero: not a regular file (character device)"
    assert "labels" in third
    proc = run_cli("profile", fifo, "--runs", "1", models=models)
    assert proc.returncode == 1 and b"not a regular file (FIFO, named pipe)" in proc.stderr


@POSIX_ONLY
def test_a_file_swapped_for_a_fifo_after_the_stat_is_not_opened_blocking(tmp_path: Path) -> None:
    """The type is checked again on the descriptor: a FIFO that passes the first stat is refused, not waited on."""
    fifo, regular = tmp_path / "swapped.png", image(tmp_path / "regular.png")
    os.mkfifo(fifo)
    code = f"""
import os
from workbench import imageio
real_stat = os.stat
def stat_before_swap(path, *args, **kwargs):  # the file was still a regular one when it was looked at
    return real_stat({str(regular)!r} if os.fspath(path) == {str(fifo)!r} else path, *args, **kwargs)
os.stat = stat_before_swap
try:
    imageio.load_image({str(fifo)!r})
except imageio.ImageLoadError as exc:
    print(exc)
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{fifo}: not a regular file (FIFO, named pipe)"


@POSIX_ONLY
def test_unreadable_sub_folder_is_one_error_and_the_rest_goes_on(models: Path, tmp_path: Path) -> None:
    root = tmp_path / "album"
    good = [image(root / "a.png"), image(root / "z.png", "blue")]
    locked = root / "locked"
    image(locked / "hidden-from-us.png")
    prefix = without_dac_override()
    locked.chmod(0)
    try:
        proc = run_cli("classify", root, "--json", "--provider", "cpu", models=models, prefix=prefix)
        alone = run_cli("classify", locked, "--provider", "cpu", models=models, prefix=prefix)
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 1, proc.stderr.decode()
    lines = strict_json_lines(proc.stdout)
    assert lines[0] == {"file": str(locked), "error": f"{locked}: cannot list folder (permission denied)"}
    assert [Path(str(d["file"])).name for d in lines[1:]] == [p.name for p in good]
    assert all("labels" in d for d in lines[1:])
    assert alone.returncode == 1 and alone.stdout == b""
    assert f"error: {locked}: cannot list folder (permission denied)" in alone.stderr.decode()
    assert "0 of 0 images classified, 0 failed, 1 paths skipped" in alone.stderr.decode()


@POSIX_ONLY
def test_very_deep_folder_tree_is_walked_without_recursion(models: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep"
    levels = [deep.joinpath(*["d"] * n) for n in range(1, 1201)]  # deeper than Python's recursion limit
    for level in levels:
        level.mkdir(parents=level == levels[0])  # one by one: Path.mkdir(parents=True) itself recurses
    good = image(levels[-1] / "bottom.png")
    try:
        proc = run_cli("classify", deep, "--json", "--provider", "cpu", models=models)
    finally:
        good.unlink()
        for level in reversed(levels):  # shutil.rmtree recurses too: leave nothing this deep behind
            level.rmdir()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    (line,) = strict_json_lines(proc.stdout)
    assert line["file"] == str(good) and "labels" in line


# ---------------------------------------------------------------- point 7: names that are not valid text


@pytest.fixture()
def odd_names(tmp_path: Path) -> dict[str, Path]:
    if sys.platform == "win32" or sys.getfilesystemencoding() != "utf-8":
        pytest.skip("needs a POSIX file system with UTF-8 names")
    folder = tmp_path / "names"
    names = {
        "latin1": image(os.fsencode(folder) + b"/caf\xe9.png"),
        "text": Path(os.fsdecode(os.fsencode(folder) + b"/bad\xff.jpg")),
        "newline": image(folder / "two\nlines\x1b[31m.png", "blue"),
        "plain": image(folder / "zz.png", "green"),
    }
    names["text"].write_bytes(b"just some text\n")
    return names


@POSIX_ONLY
def test_non_utf8_names_in_strict_utf8_json(models: Path, odd_names: dict[str, Path]) -> None:
    folder = odd_names["plain"].parent
    proc = run_cli("classify", folder, "--json", "--provider", "cpu", models=models, env=STRICT_UTF8)
    assert proc.returncode == 1, proc.stderr.decode(errors="replace")
    lines = {str(d["file"]).rsplit("/", 1)[1]: d for d in strict_json_lines(proc.stdout)}
    assert set(lines) == {"bad\\xff.jpg", "caf\\xe9.png", "two\\x0alines\\x1b[31m.png", "zz.png"}
    latin1 = lines["caf\\xe9.png"]
    assert "labels" in latin1 and latin1["file"] == f"{folder}/caf\\xe9.png"
    assert bytes.fromhex(str(latin1["file_bytes_hex"])) == os.fsencode(odd_names["latin1"])  # lossless
    assert lines["bad\\xff.jpg"]["error"] == f"{folder}/bad\\xff.jpg: not an image (the file contains text)"
    assert bytes.fromhex(str(lines["bad\\xff.jpg"]["file_bytes_hex"])) == os.fsencode(odd_names["text"])
    assert "labels" in lines["two\\x0alines\\x1b[31m.png"]
    plain = {"file", "labels", "indices", "probabilities", "provider", "model", "model_file", "model_sha256"}
    plain |= {"engine", "device", "precision", "fallback_reason"}  # what ran
    assert set(lines["zz.png"]) == plain  # no hex for a plain name


@POSIX_ONLY
def test_non_utf8_names_in_strict_utf8_table(models: Path, odd_names: dict[str, Path]) -> None:
    folder = odd_names["plain"].parent
    proc = run_cli("classify", folder, "--top-k", "1", "--provider", "cpu", models=models, env=STRICT_UTF8)
    assert proc.returncode == 1
    out, err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    assert f"{folder}/caf\\xe9.png\n  1. " in out
    assert f"{folder}/two\\x0alines\\x1b[31m.png\n  1. " in out and "\x1b" not in out  # one line, no ESC
    assert f"error: {folder}/bad\\xff.jpg: not an image (the file contains text)" in err
    assert "3 of 4 images classified, 1 failed" in err and "Traceback" not in err
    named = run_cli("classify", odd_names["text"], "--provider", "cpu", models=models, env=STRICT_UTF8)
    assert named.returncode == 1 and f"{folder}/bad\\xff.jpg: not an image" in named.stderr.decode("utf-8")


@POSIX_ONLY
def test_profile_with_non_utf8_names(models: Path, odd_names: dict[str, Path], tmp_path: Path) -> None:
    args = ("--runs", "1", "--warmup", "1", "--provider", "cpu")
    proc = run_cli("profile", odd_names["latin1"], "--json", *args, models=models, env=STRICT_UTF8)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    report = json.loads(proc.stdout.decode("utf-8"), parse_constant=refuse_constant)
    assert report["runs"] == 1 and report["rows"]
    proc = run_cli("profile", odd_names["text"], *args, models=models, env=STRICT_UTF8)
    assert proc.returncode == 1
    assert f"error: {odd_names['text'].parent}/bad\\xff.jpg: not an image" in proc.stderr.decode("utf-8")
    csv = os.fsencode(tmp_path) + b"/gone\xe9/t.csv"
    proc = run_cli("profile", odd_names["plain"], "--csv", csv, *args, models=models, env=STRICT_UTF8)
    assert proc.returncode == 2
    assert f"{tmp_path}/gone\\xe9/t.csv: cannot write CSV" in proc.stderr.decode("utf-8")


def test_labels_in_an_ascii_locale(nan_models: Path, tmp_path: Path) -> None:
    """Non-ASCII labels: JSON escapes them (valid JSON, same labels); the table writes them as \\xNN."""
    white = image(tmp_path / "white.png", "white")
    ascii_env = {"PYTHONIOENCODING": "ascii:strict"}
    proc = run_cli("classify", white, "--json", "--top-k", "10", models=nan_models, env=ascii_env)
    assert proc.returncode == 0, proc.stderr.decode()
    proc.stdout.decode("ascii")
    (line,) = strict_json_lines(proc.stdout)
    assert set(line["labels"]) == set(NAN_LABELS)
    proc = run_cli("classify", white, "--top-k", "10", models=nan_models, env=ascii_env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "caf\\xe9" in proc.stdout.decode("ascii") and "Traceback" not in proc.stderr.decode("ascii")


# ---------------------------------------------------------------- point 4: never NaN in the output


def test_nan_logits_are_an_error_line_never_nan_in_json(nan_models: Path, tmp_path: Path) -> None:
    white, black = image(tmp_path / "white.png", "white"), image(tmp_path / "black.png", "black")
    white2 = image(tmp_path / "white2.png", "white")
    proc = run_cli("classify", white, black, white2, "--json", "--provider", "cpu", models=nan_models)
    assert proc.returncode == 1, proc.stderr.decode()
    first, second, third = strict_json_lines(proc.stdout)  # a bare NaN or Infinity would fail here
    assert first["labels"][0] == "café" and third["labels"] == first["labels"]  # same batch, still classified
    assert all(0 < p <= 1 for p in first["probabilities"])
    assert second == {
        "file": str(black),
        "error": f"{black}: model gave non-finite output (NaN or infinity), no prediction",
    }
    table = run_cli("classify", black, white, "--provider", "cpu", models=nan_models)
    assert table.returncode == 1
    assert b"nan%" not in table.stdout.lower() and str(white).encode() in table.stdout
    assert f"error: {black}: model gave non-finite output".encode() in table.stderr
    assert b"1 of 2 images classified, 1 failed" in table.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bind mounts in a private mount namespace")
def test_a_folder_bind_mounted_inside_itself_is_searched_once(models: Path, tmp_path: Path) -> None:
    root = tmp_path / "album"
    good = image(root / "a.png")
    (root / "again").mkdir()
    unshare = shutil.which("unshare")
    probe = [unshare, "-m", "true"] if unshare else None
    if os.geteuid() != 0 or probe is None or subprocess.run(probe, capture_output=True, check=False).returncode:
        pytest.skip("needs root and unshare for a private mount namespace")
    command = 'mount --bind "$1" "$1/again" && exec "$2" -m desktop_app classify "$1" --json --provider cpu'
    proc = subprocess.run(
        [unshare, "-m", "sh", "-c", command, "sh", str(root), sys.executable],
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "CNN_WORKBENCH_MODELS": str(models)},
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr.decode()
    first, second = strict_json_lines(proc.stdout)
    assert first == {
        "file": str(root / "again"),
        "error": f"{root / 'again'}: the same folder as one already searched (a bind mount?), not searched again",
    }
    assert second["file"] == str(good) and "labels" in second
