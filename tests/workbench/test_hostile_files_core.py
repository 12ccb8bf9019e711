"""Hostile entries for the Qt-free image core: symlink loops, FIFOs, devices, odd names (``find_image_files``,
``load_image``, ``display_path``), in-process on real files in ``tmp_path``.

Run: ``pytest tests/workbench/test_hostile_files_core.py -q``
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.processes import without_dac_override
from workbench import imageio
from workbench.imageio import ImageLoadError, iter_image_files, load_image


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def load_error(source: Path) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_image(source)
    assert info.value.path == str(source) and str(info.value) == f"{source}: {info.value.reason}"
    return info.value


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and symlinks are POSIX")
def test_find_image_files_lists_loops_and_special_files_and_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "root"
    good = [touch(root / "a.jpg"), touch(root / "sub" / "b.png")]
    (root / "loop.png").symlink_to("loop.png")
    os.mkfifo(root / "fifo.jpg")
    (root / "null.jpg").symlink_to(os.devnull)
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere")
    (root / "gone-notes").symlink_to(tmp_path / "nowhere")  # not named like an image: nothing to say
    (root / "to-sub").symlink_to(root / "sub", target_is_directory=True)  # not followed
    found = imageio.find_image_files([root])
    assert found.files == tuple(good)
    assert [(p.path.name, p.reason) for p in found.problems] == [
        ("fifo.jpg", "not a regular file (FIFO, named pipe), skipped"),
        ("gone.jpg", "broken symbolic link"),
        ("loop.png", "symbolic link loop, not followed"),
        ("null.jpg", "not a regular file (character device), skipped"),
    ]
    assert str(found.problems[0]) == f"{root / 'fifo.jpg'}: not a regular file (FIFO, named pipe), skipped"
    assert iter_image_files([root]) == list(good)  # the old function: same files, problems left out, no OSError


def test_find_image_files_missing_folder_and_explicit_files(tmp_path: Path) -> None:
    missing = tmp_path / "gone.jpg"
    found = imageio.find_image_files([missing, missing])
    assert found.files == (missing,) and found.problems == ()  # explicit: load_image says "file not found"


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_load_image_refuses_special_files_by_kind(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # opening it for reading would block: the stat says FIFO first
    assert load_error(fifo).reason == "not a regular file (FIFO, named pipe)"
    assert load_error(Path(os.devnull)).reason == "not a regular file (character device)"
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop.name)
    assert load_error(loop).reason == "symbolic link loop"
    with pytest.raises(ImageLoadError, match=r"a\\x00b.jpg: invalid file name"):
        load_image("a\x00b.jpg")


def test_display_path_escapes_undecodable_bytes_and_controls() -> None:
    assert imageio.display_path(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"
    assert imageio.display_path(b"caf\xe9.jpg") == "caf\\xe9.jpg"
    assert imageio.display_path(Path("plain/café-日本.jpg")) == "plain/café-日本.jpg"  # valid names unchanged
    assert imageio.printable("a\nb\x1b[1m\x7f\u202e\u0085\ud800") == "a\\x0ab\\x1b[1m\\x7f\\u202e\\u0085\\ud800"
    err = ImageLoadError(os.fsdecode(b"/x/bad\xff.jpg"), "not\nan image")
    assert str(err) == "/x/bad\\xff.jpg: not an image" and err.path == os.fsdecode(b"/x/bad\xff.jpg")


@pytest.mark.skipif(sys.platform == "win32", reason="permission bits are POSIX")
def test_iter_image_files_still_raises_for_a_folder_it_cannot_list(tmp_path: Path) -> None:
    """The old function keeps its contract (OSError) for callers that cannot show problems yet."""
    root = tmp_path / "root"
    touch(root / "a.jpg")
    locked = root / "locked"
    touch(locked / "b.jpg")
    code = """
import sys
from workbench.imageio import find_image_files, iter_image_files
found = find_image_files([sys.argv[1]])
print([p.name for p in found.files], [str(p) for p in found.problems])
try:
    iter_image_files([sys.argv[1]])
except PermissionError as exc:
    print("OSError", exc.filename)
"""
    prefix = without_dac_override()
    locked.chmod(0)
    try:
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", code, str(root)],
            capture_output=True,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            timeout=60,
            check=False,
        )
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"['a.jpg'] ['{locked}: cannot list folder (permission denied)']",
        f"OSError {locked}",
    ]
