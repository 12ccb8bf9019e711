"""Write a file so that readers see the old content or the new one, never half of it; clean up after killed writers.

The content goes to a temporary file beside the target, is flushed to disk, then renamed over the
target (``os.replace`` is atomic on one file system); on any failure the temporary file is removed
and the error propagates. Used for timing exports, the inspection cache, training logs and training
checkpoints.

A process killed mid-write (SIGKILL, power loss) cannot remove its temporary file, so every temporary
name carries its owner, ``.<name>.<pid>@<host>.<random>.tmp``: :func:`remove_stale_temps` deletes those
of our patterns whose process is gone (same host) or that are older than a day, and nothing else.

Example::

    python -c "from pathlib import Path; from workbench.atomic import write_text_atomic; \
write_text_atomic(Path('/tmp/x.txt'), 'hello\\n')"
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

STALE_AFTER_S = 24 * 3600
# tempfile's random part: 8 characters of [a-z0-9_].
_RANDOM = r"[a-z0-9_]{8}"
_OWNER = r"(?:(?P<pid>\d{1,10})@(?P<host>[A-Za-z0-9-]{0,40})\.)?"


def host_tag() -> str:
    """This machine's name as it appears in temporary names (letters, digits and ``-`` only)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def owner_tag() -> str:
    """``<pid>@<host>``: who owns a temporary file, so a later run can tell whether its writer is gone."""
    return f"{os.getpid()}@{host_tag()}"


def temp_pattern(lead: str, suffix: str) -> re.Pattern[str]:
    """Names ``tempfile`` makes with ``prefix=lead + owner_tag() + "."`` and ``suffix`` (and older ones, ownerless).

    ``lead`` is a regular expression (e.g. ``re.escape("cnn-quant-")``); ``suffix`` is literal.
    """
    return re.compile(f"^{lead}{_OWNER}{_RANDOM}{re.escape(suffix)}$")


# write_atomic's temporary files: .<target name>.<pid>@<host>.<random>.tmp
ATOMIC_TEMP = temp_pattern(r"\.(?P<name>.+?)\.", ".tmp")


def write_atomic(path: Path, write: Callable[[BinaryIO], object], *, durable: bool = True) -> None:
    """Call ``write`` on a binary temporary file next to ``path``, then rename it over ``path``.

    ``durable=False`` skips the fsync, for caches whose records are worthless after a crash anyway
    (a torn record reads as damaged and is rebuilt); the rename is still atomic.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{owner_tag()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; the file gets the mode a plain open() gives
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The permission bits for ``path``: those of the file it replaces, else 0666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass  # not Linux (or an old kernel): the value read at import below
    return _UMASK_AT_IMPORT


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK_AT_IMPORT = _read_umask()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) atomically to ``path``."""
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


@dataclass(frozen=True)
class Cleanup:
    """What :func:`remove_stale_temps` removed (paths and bytes) and what it could not remove (messages)."""

    removed: tuple[Path, ...] = ()
    freed: int = 0
    failed: tuple[str, ...] = ()
    kind: str = "file"

    def notes(self) -> list[str]:
        """One line for the removed ones (if any), one per failure."""
        lines = []
        if self.removed:
            names = ", ".join(str(p) for p in self.removed[:3]) + (", ..." if len(self.removed) > 3 else "")
            lines.append(
                f"note: removed {len(self.removed)} stale temporary {self.kind}(s) of interrupted runs "
                f"({self.freed / 2**20:.1f} MiB): {names}"
            )
        lines.extend(f"note: {message}" for message in self.failed)
        return lines


def remove_stale_temps(folder: Path, pattern: re.Pattern[str], *, directories: bool = False) -> Cleanup:
    """Delete the entries of ``folder`` named by ``pattern`` that are stale (see :func:`is_stale`).

    Only plain files (or, with ``directories``, real folders, removed with their content) owned by this
    user are touched; a symlink or another user's entry with a matching name is left alone. A missing
    or unreadable ``folder`` is nothing to clean.
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return Cleanup()
    removed: list[Path] = []
    failed: list[str] = []
    freed = 0
    now = time.time()
    for name in names:
        match = pattern.match(name)
        if match is None:
            continue
        path = folder / name
        try:
            info = path.lstat()
        except OSError:
            continue  # gone meanwhile
        kind_ok = stat.S_ISDIR(info.st_mode) if directories else stat.S_ISREG(info.st_mode)
        if not kind_ok or not _ours(info) or not is_stale(match, info.st_mtime, now):
            continue
        size = _tree_size(path) if directories else info.st_size
        try:
            shutil.rmtree(path) if directories else path.unlink()
        except OSError as exc:
            failed.append(f"{path}: stale temporary entry not removed ({exc.strerror})")
            continue
        removed.append(path)
        freed += size
    return Cleanup(tuple(removed), freed, tuple(failed), "folder" if directories else "file")


def is_stale(match: re.Match[str], mtime: float, now: float) -> bool:
    """Whether a temporary entry is abandoned: its process (on this host) is gone, or it is over a day old."""
    pid, host = match.group("pid"), match.group("host")
    if pid is not None and int(pid) == os.getpid() and host == host_tag():
        return False  # ours, maybe being written by another thread right now
    if now - mtime > STALE_AFTER_S:
        return True
    return pid is not None and host == host_tag() and not process_exists(int(pid))


def process_exists(pid: int) -> bool:
    """Whether a process with this id runs on this machine (Windows: always assumed, age decides there)."""
    if sys.platform == "win32" or pid <= 0:
        return True  # os.kill(pid, 0) would deliver CTRL_C_EVENT on Windows, not probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # PermissionError: it exists, under another user
    return True


def _ours(info: os.stat_result) -> bool:
    return not hasattr(os, "getuid") or info.st_uid == os.getuid()


def _tree_size(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # gone meanwhile; the size is only reported
    return total
