"""The torch hub cache: downloads land in ``$TORCH_HOME/hub/checkpoints`` only when their hash matches.

Downloads go through ``file://`` URLs (urllib reads them like any URL), so nothing leaves the machine.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from exporter.cliutil import setup_logging
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
    logger = logging.getLogger("exporter")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    setup_logging(0)  # what the command line does
    try:
        path, sha, official = fetch_checkpoint(url, digest[:8], progress=True)
    finally:
        logger.handlers, logger.level, logger.propagate = saved
    assert path == torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    assert sha == digest and official
    said = capsys.readouterr().err.splitlines()  # off a terminal: a line before and one after, no bar
    assert said == [f"downloading {url} to {path} ...", f"downloaded {path.name} (1.0 MiB)"]
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
    stale = [
        folder / f"{name}.{dead.pid}@{host}.abcd1234.part",
        folder / f"{name}.efgh5678.part",
        folder / f"{name}.{dead.pid}@{host}.abcd1234.part.{'0f' * 16}.partial",  # torch.hub's own part of it
    ]
    kept = [folder / f"{name}.{os.getpid()}@{host}.ijkl9012.part", folder / "other.pth.mnop3456.part"]
    for path in stale + kept:
        path.write_bytes(b"half a download")
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (stale[1], kept[1]):  # the old naming, two days old; one of them another file's
        os.utime(path, (two_days_ago, two_days_ago))
    path, _, _ = fetch_checkpoint(url, digest[:8], progress=False)
    err = capsys.readouterr().err
    assert "removed 2 stale temporary file(s)" in err and "removed 1 stale temporary file(s)" in err
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, kept[0].name, kept[1].name])


def test_download_over_http_from_a_local_server(tmp_path: Path, torch_home: Path) -> None:
    url, digest = _source(tmp_path)
    served = Path(url.removeprefix("file://"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        http_url = f"http://127.0.0.1:{server.server_port}/{served.name}"
        path, sha, official = fetch_checkpoint(http_url, digest[:8], progress=False)
        with pytest.raises(ExporterError, match="cannot download the weights"):
            fetch_checkpoint(http_url.replace(served.name, "missing-1234abcd.pth"), "1234abcd", progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert path.read_bytes() == served.read_bytes() and sha == digest and official
    assert sorted(p.name for p in path.parent.iterdir()) == [served.name]  # no part files left behind
