"""The torch hub cache: downloads land in ``$TORCH_HOME/hub/checkpoints`` only when their hash matches.

Downloads go through ``file://`` URLs (urllib reads them like any URL), so nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.errors import ExporterError
from exporter.hub import cached_checkpoint, checkpoint_dir, fetch_checkpoint


def _source(tmp_path: Path) -> tuple[str, str]:
    payload = bytes(range(256)) * 4096
    digest = hashlib.sha256(payload).hexdigest()
    path = tmp_path / "served" / f"tiny-{digest[:8]}.pth"
    path.parent.mkdir()
    path.write_bytes(payload)
    return path.as_uri(), digest


def test_download_is_hash_checked_and_cached(tmp_path: Path, torch_home: Path, capsys) -> None:
    url, digest = _source(tmp_path)
    assert checkpoint_dir() == torch_home / "hub" / "checkpoints"
    assert cached_checkpoint(url) is None
    path, sha, official = fetch_checkpoint(url, digest[:8], progress=True)
    assert path == torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    assert sha == digest and official
    assert "MiB" in capsys.readouterr().err  # the progress bar
    assert cached_checkpoint(url) == path
    assert fetch_checkpoint(url, digest[:8], progress=False) == (path, digest, True)  # from the cache


def test_download_with_wrong_hash_is_discarded(tmp_path: Path, torch_home: Path) -> None:
    url, _ = _source(tmp_path)
    with pytest.raises(ExporterError, match="does not match the expected prefix 00000000"):
        fetch_checkpoint(url, "00000000", progress=False)
    assert list((torch_home / "hub" / "checkpoints").iterdir()) == []


def test_cached_file_with_other_hash_is_used_and_reported(tmp_path: Path, torch_home: Path) -> None:
    url, digest = _source(tmp_path)
    cached = torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    cached.write_bytes(b"locally made weights")
    path, sha, official = fetch_checkpoint(url, digest[:8], progress=False)
    assert path == cached and not official and sha == hashlib.sha256(b"locally made weights").hexdigest()


def test_parts_of_killed_downloads_of_that_file_are_removed(tmp_path: Path, torch_home: Path, capsys) -> None:
    url, digest = _source(tmp_path)
    folder, name = torch_home / "hub" / "checkpoints", url.rsplit("/", 1)[-1]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]
    stale = [folder / f"{name}.{dead.pid}@{host}.abcd1234.part", folder / f"{name}.efgh5678.part"]
    kept = [folder / f"{name}.{os.getpid()}@{host}.ijkl9012.part", folder / "other.pth.mnop3456.part"]
    for path in stale + kept:
        path.write_bytes(b"half a download")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (stale[1], kept[1]):  # the old naming, two days old; one of them another file's
        os.utime(path, (two_days_ago, two_days_ago))
    path, _, _ = fetch_checkpoint(url, digest[:8], progress=False)
    assert "removed 2 stale temporary file(s)" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, kept[0].name, kept[1].name])
