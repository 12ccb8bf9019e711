"""The torch hub checkpoint cache: find, download (with progress) and hash-check official weights.

Files live where ``torch.hub`` keeps them: ``$TORCH_HOME/hub/checkpoints/<file name>`` (default
``~/.cache/torch``). torchvision's file names end in the first hex digits of the file's sha256.
As in ``torch.hub``, a download whose hash does not start with them is rejected; a file already in
the cache is used as it is, and whether its hash matches the official one is recorded. A download
goes to ``<file name>.<pid>@<host>.<random>.part`` first; the parts of killed downloads of that file
are removed when it is downloaded again.

Example::

    TORCH_HOME=/tmp/th python -m exporter export --model resnet50 --weights imagenet
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import torch

from exporter.errors import ExporterError
from workbench.atomic import owner_tag, remove_stale_temps, temp_pattern

_CHUNK = 1 << 20


def checkpoint_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints`` (torch's own rule for the cache location)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def cached_checkpoint(url: str) -> Path | None:
    """The cached file for ``url`` if present."""
    path = checkpoint_dir() / url.rsplit("/", 1)[-1]
    return path if path.is_file() else None


def check_hash(path: Path, prefix: str | None) -> str:
    """The file's sha256; raises when it does not start with torchvision's ``prefix``."""
    digest = sha256_of(path)
    if prefix and not digest.startswith(prefix):
        raise ExporterError(
            f"{path}: sha256 {digest[:12]}... does not match the expected prefix {prefix} "
            "(a corrupted or different file; delete it and download again)"
        )
    return digest


def fetch_checkpoint(url: str, prefix: str | None, *, progress: bool = True) -> tuple[Path, str, bool]:
    """Path, sha256 and "matches the official hash" of the file, downloading it into the cache if needed."""
    target = checkpoint_dir() / url.rsplit("/", 1)[-1]
    if target.is_file():
        digest = sha256_of(target)
        return target, digest, bool(prefix) and digest.startswith(prefix or "")
    _download(url, target, prefix, progress)
    return target, sha256_of(target), True


def _download(url: str, target: Path, prefix: str | None, progress: bool) -> None:
    hint = f"download {url} on a machine with internet access and put it at {target}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for note in remove_stale_temps(target.parent, temp_pattern(re.escape(target.name) + r"\.", ".part")).notes():
            print(note, file=sys.stderr)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.{owner_tag()}.", suffix=".part")
    except OSError as exc:
        raise ExporterError(f"{target.parent}: cannot write to the checkpoint cache ({exc.strerror})") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress:
                    _progress(target.name, done, total)
        if progress:
            print(file=sys.stderr)
        check_hash(tmp, prefix)
        os.replace(tmp, target)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ExporterError(f"cannot download the weights (no network? {reason}); {hint}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _progress(name: str, done: int, total: int) -> None:
    if total:
        filled = int(30 * done / total)
        bar = "#" * filled + "-" * (30 - filled)
        print(f"\r{name} [{bar}] {done / 2**20:.1f}/{total / 2**20:.1f} MiB", end="", file=sys.stderr, flush=True)
    else:
        print(f"\r{name} {done / 2**20:.1f} MiB", end="", file=sys.stderr, flush=True)
