"""Remember preprocessing/label overrides per model file, by the file's sha256, in one JSON file.

The store is ``$CNN_WORKBENCH_OVERRIDES`` when set (tests and scripts use it so the user's own store is
never touched), else ``overrides.json`` in the platform's per-user config folder of the workbench,
beside the app's QSettings (``~/.config/cnn-workbench/overrides.json`` on Linux,
``~/Library/Application Support/cnn-workbench/overrides.json`` on macOS,
``%LOCALAPPDATA%\\cnn-workbench\\overrides.json`` on Windows; platformdirs' rules).

The file::

    {"version": 1, "models": {"<sha256>": {"file": "model.onnx", "overrides": {"mean": [0.5, 0.5, 0.5]}}}}

Every write is atomic (:mod:`workbench.atomic`). A store file that cannot be read or parsed raises
:class:`OverrideStoreError` naming the file, for reading and writing alike: it is never overwritten
behind the user's back; :meth:`OverrideStore.set_aside` moves it away (and says where) when the
caller decides to start afresh. Keying by content means a renamed or copied file keeps its overrides
and a changed file (new weights) loses them.

Example::

    CNN_WORKBENCH_OVERRIDES=/tmp/o.json python -c "from desktop_app.core.overrides import OverrideStore, \\
PreprocessOverrides; s = OverrideStore(); s.put('ab' * 32, PreprocessOverrides(resize=300)); print(s.get('ab' * 32))"
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from workbench.atomic import write_text_atomic
from workbench.names import display_path
from workbench.paths import APP_DIR

if TYPE_CHECKING:
    from desktop_app.core.overrides import PreprocessOverrides

__all__ = ["ENV_VAR", "OverrideStore", "OverrideStoreError", "default_store_path", "file_sha256"]

ENV_VAR = "CNN_WORKBENCH_OVERRIDES"
STORE_VERSION = 1
MAX_STORE_BYTES = 16 * 2**20
_SHA256 = re.compile(r"[0-9a-f]{64}")
_HASHED: OrderedDict[tuple[str, int, int], str] = OrderedDict()
_HASHED_LOCK = threading.Lock()
_HASHED_MAX = 1024


class OverrideStoreError(ValueError):
    """The store file cannot be read, parsed or written; the message names the file and the problem."""


def default_store_path() -> Path:
    """``$CNN_WORKBENCH_OVERRIDES``, else ``overrides.json`` in the per-user config folder (not created)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_config_path(APP_DIR, appauthor=False) / "overrides.json"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The file's sha256 in hex (streamed), cached per (absolute path, size, mtime).

    Raises:
        OSError: the file cannot be read.
    """
    file = Path(path)
    stat = file.stat()
    key = (str(file.absolute()), stat.st_size, stat.st_mtime_ns)
    with _HASHED_LOCK:
        cached = _HASHED.get(key)
        if cached is not None:
            _HASHED.move_to_end(key)
            return cached
    hasher = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    digest = hasher.hexdigest()
    with _HASHED_LOCK:
        _HASHED[key] = digest
        while len(_HASHED) > _HASHED_MAX:
            _HASHED.popitem(last=False)
    return digest


class OverrideStore:
    """Overrides by model sha256 in one JSON file (read afresh on every call, so two windows agree)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        self._lock = threading.Lock()

    def get(self, sha256: str) -> PreprocessOverrides | None:
        """The overrides remembered for the file with this sha256, or ``None`` when there are none.

        Raises:
            OverrideStoreError: the store file is unreadable or damaged (also when the record is).
        """
        from desktop_app.core.overrides import PreprocessOverrides

        record = self._read().get(_checked_sha(sha256))
        if record is None:
            return None
        try:
            return PreprocessOverrides.from_dict(record.get("overrides", {}))
        except ValueError as exc:
            raise OverrideStoreError(f"{display_path(self.path)}: record {sha256[:12]}…: {exc}") from exc

    def put(self, sha256: str, overrides: PreprocessOverrides, file_name: str = "") -> None:
        """Remember ``overrides`` for the file (``file_name`` is kept for a human reading the store).

        Empty overrides remove the record. Raises :class:`OverrideStoreError` (store damaged or unwritable).
        """
        if overrides.empty:
            self.remove(sha256)
            return
        key = _checked_sha(sha256)
        with self._lock:
            models = self._read()
            models[key] = {"file": file_name, "overrides": overrides.to_dict()}
            self._write(models)

    def remove(self, sha256: str) -> bool:
        """Forget the file's overrides; True when there were some. Raises :class:`OverrideStoreError`."""
        key = _checked_sha(sha256)
        with self._lock:
            models = self._read()
            if key not in models:
                return False
            del models[key]
            self._write(models)
            return True

    def set_aside(self) -> Path | None:
        """Rename a damaged store to ``overrides.json.damaged-<time>`` and return that name (None: no file)."""
        if not self.path.exists():
            return None
        target = self.path.with_name(f"{self.path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, target)
        except OSError as exc:
            raise OverrideStoreError(
                f"{display_path(self.path)}: cannot move it aside ({exc.strerror or exc})"
            ) from exc
        return target

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            size = self.path.stat().st_size
            if size > MAX_STORE_BYTES:
                raise OverrideStoreError(
                    f"{display_path(self.path)}: {size / 2**20:.0f} MiB is too large for the store"
                )
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise OverrideStoreError(f"{display_path(self.path)}: cannot read the overrides store ({reason})") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OverrideStoreError(
                f"{display_path(self.path)}: damaged overrides store (not JSON: {exc.msg} at line {exc.lineno})"
            ) from exc
        return self._models(data)

    def _models(self, data: object) -> dict[str, dict[str, Any]]:
        where = display_path(self.path)
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise OverrideStoreError(f'{where}: damaged overrides store (expected an object with "models")')
        if data.get("version") != STORE_VERSION:
            raise OverrideStoreError(f"{where}: overrides store version {data.get('version')!r:.20}, expected 1")
        models: dict[str, dict[str, Any]] = {}
        for key, record in data["models"].items():
            if not isinstance(key, str) or not _SHA256.fullmatch(key) or not isinstance(record, dict):
                raise OverrideStoreError(f"{where}: damaged overrides store (bad record {str(key)[:20]!r})")
            models[key] = record
        return models

    def _write(self, models: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"version": STORE_VERSION, "models": models}, indent=1, ensure_ascii=True) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, text)
        except OSError as exc:
            raise OverrideStoreError(
                f"{display_path(self.path)}: cannot write the overrides store ({exc.strerror or exc})"
            ) from exc


def _checked_sha(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"sha256: expected 64 lower-case hex digits, got {sha256!r:.80}")
    return sha256
