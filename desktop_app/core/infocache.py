"""What :func:`read_graph_info` found in a model file, kept on disk so the next start need not read it again.

Reading a model file means opening it and walking its protobuf; after a restart that was a good part of
scanning a models folder. The result (a small JSON record: input and output names and shapes,
layout, and only the ``workbench.*`` metadata values a consumer reads, each bounded by
``contract.MAX_METADATA_CHARS``) is stored in the ``inspected`` subfolder of the app's cache
(:func:`workbench.paths.optimized_cache_dir`), one record per model path (its name hashes the
absolute path). The record holds the path, size and mtime it describes; a changed file is read again
and its record replaced, so the folder holds one record per model file ever seen. Only when it holds
more than ``MAX_RECORDS`` are the least recently written ones removed. Files with external data are
never cached (their data files can change on their own), nor are unusable files. A damaged record
is ignored and rewritten.

Example::

    python -c "from desktop_app.core.infocache import cached_graph_info; print(cached_graph_info('m.onnx'))"
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from pathlib import Path

from workbench.atomic import ATOMIC_TEMP, remove_stale_temps, write_atomic
from workbench.modelfile import GraphInfo, read_graph_info
from workbench.paths import optimized_cache_dir

VERSION = 2
MAX_RECORDS = 10_000  # one per model file; a few KB each
PRUNE_EVERY = 500  # records written between two counts of the folder (the first write of a process counts)
_FIELDS = {f.name for f in dataclasses.fields(GraphInfo)}
_WRITES = itertools.count()


@dataclasses.dataclass(frozen=True)
class _Key:
    record: Path
    path: str
    size: int
    mtime_ns: int


def cache_path(path: Path) -> Path | None:
    """Where the record for ``path`` lives (None when caching is off or the file is unreadable)."""
    key = _key(path)
    return key.record if key is not None else None


def cached_graph_info(path: str | os.PathLike[str]) -> GraphInfo:
    """:func:`read_graph_info`, answered from the disk cache when the file has not changed."""
    file = Path(path)
    key = _key(file)
    if key is not None:
        info = _read(key)
        if info is not None:
            return info
    info = read_graph_info(file)
    if key is not None and not info.external_data:
        _write(key, info)
    return info


def _key(path: Path) -> _Key | None:
    folder = optimized_cache_dir()
    if folder is None:
        return None
    file = path.absolute()
    try:
        stat = file.stat()
    except OSError:
        return None
    name = hashlib.sha256(f"{VERSION}|{file}".encode(errors="surrogateescape")).hexdigest()[:24]
    return _Key(folder / "inspected" / f"{name}.json", os.fsdecode(file), stat.st_size, stat.st_mtime_ns)


def _read(key: _Key) -> GraphInfo | None:
    try:
        data = json.loads(key.record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or damaged: read the model again
    if not isinstance(data, dict) or data.get("file") != [key.path, key.size, key.mtime_ns]:
        return None  # another version of the file (or a damaged record)
    info = data.get("info")
    if not isinstance(info, dict) or set(info) != _FIELDS or not isinstance(info.get("metadata"), dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in info["metadata"].items()):
        return None
    try:
        return GraphInfo(**info)
    except TypeError:
        return None


def _write(key: _Key, info: GraphInfo) -> None:
    """Atomically. A cache that cannot be written is not used: the file is read again next time."""
    record = {"file": [key.path, key.size, key.mtime_ns], "info": dataclasses.asdict(info)}
    try:
        key.record.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(record).encode("ascii")  # a non-UTF-8 file name survives as \udcxx
        write_atomic(key.record, lambda handle: handle.write(data), durable=False)
        if next(_WRITES) % PRUNE_EVERY == 0:
            _prune(key.record.parent)
            remove_stale_temps(key.record.parent, ATOMIC_TEMP)
    except OSError:
        return


def _prune(folder: Path) -> None:
    """Remove the least recently written records while there are more than ``MAX_RECORDS``."""
    names = [name for name in os.listdir(folder) if name.endswith(".json")]
    if len(names) <= MAX_RECORDS:
        return
    records = sorted((folder / name for name in names), key=_mtime, reverse=True)
    for old in records[MAX_RECORDS:]:
        old.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
