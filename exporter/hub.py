"""The torch hub checkpoint cache: find, download (``torch.hub.download_url_to_file``) and hash-check weights.

Files live where ``torch.hub`` keeps them: ``$TORCH_HOME/hub/checkpoints/<file name>`` (default
``~/.cache/torch``). torchvision's file names end in the first hex digits of the file's sha256.
As in ``torch.hub``, a download whose hash does not start with them is rejected; a file already in
the cache is used as it is, and whether its hash matches the official one is recorded. A download
goes to ``<file name>.<pid>@<host>.<random>.part`` first (torch.hub writes it through its own
``.partial`` file beside it); the parts of killed downloads of that file are removed when it is downloaded again.

Example::

    TORCH_HOME=/tmp/th python -m exporter export --model resnet50 --weights imagenet
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import sys
import tempfile
import urllib.error
from pathlib import Path

import torch

from exporter.cliutil import log
from exporter.errors import ExporterError
from workbench.atomic import owner_tag, remove_stale_temps, temp_pattern

_CHUNK = 1 << 20
TIMEOUT_S = 30.0


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
    """``torch.hub.download_url_to_file`` into a temporary name next to ``target``; renamed once the hash matches.

    Its tqdm bar shows on a terminal; off one, a line before and after. ``progress=False``: neither.
    """
    hint = f"download {url} on a machine with internet access and put it at {target}"
    lead = re.escape(target.name) + r"\."
    ours = temp_pattern(lead, ".part")
    theirs = re.compile(ours.pattern[:-1] + r"\.[0-9a-f]{32}\.partial$")  # torch's own partial file of one of ours
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for pattern in (ours, theirs):
            for note in remove_stale_temps(target.parent, pattern).notes():
                print(note, file=sys.stderr)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f"{target.name}.{owner_tag()}.", suffix=".part")
        os.close(fd)
    except OSError as exc:
        raise ExporterError(f"{target.parent}: cannot write to the checkpoint cache ({exc.strerror})") from exc
    tmp = Path(tmp_name)
    bar = progress and sys.stderr.isatty()
    if progress and not bar:
        log().info(f"downloading {url} to {target} ...")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(TIMEOUT_S)  # urlopen in torch.hub has no timeout of its own
    try:
        torch.hub.download_url_to_file(url, str(tmp), hash_prefix=None, progress=bar)
        check_hash(tmp, prefix)
        os.replace(tmp, target)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ExporterError(f"cannot download the weights (no network? {reason}); {hint}") from exc
    except OSError as exc:
        raise ExporterError(f"{target.parent}: cannot write the download ({exc.strerror or exc}); {hint}") from exc
    finally:
        socket.setdefaulttimeout(previous)
        tmp.unlink(missing_ok=True)
    if progress and not bar:
        log().info(f"downloaded {target.name} ({target.stat().st_size / 2**20:.1f} MiB)")
