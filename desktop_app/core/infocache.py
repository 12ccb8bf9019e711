"""What :func:`read_graph_info` found in a model file, kept on disk so the next start need not parse it again.

Reading the metadata of a 100 MB ResNet-50 file means parsing the whole protobuf (~130 ms); after a
restart that was half of opening an already-seen model. The result (a small JSON record: input and
output names and shapes, layout, the metadata strings) is stored in the ``inspected`` subfolder of
the app's cache (:func:`desktop_app.core.providers.optimized_cache_dir`), under a name that hashes
the absolute path, mtime and size of the file, so a changed file is parsed again. Files with
external data are never cached (their data files can change on their own), nor are unusable files.
A damaged record is ignored and rewritten.

Example::

    python -c "from desktop_app.core.infocache import cached_graph_info; print(cached_graph_info('m.onnx'))"
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from desktop_app.core.atomic import write_text_atomic
from desktop_app.core.modelfile import GraphInfo, read_graph_info
from desktop_app.core.providers import optimized_cache_dir

VERSION = 1
MAX_RECORDS = 256  # the oldest go first; records are ~2 KB
_FIELDS = {f.name for f in dataclasses.fields(GraphInfo)}


def cache_path(path: Path) -> Path | None:
    """Where the record for ``path`` as it is now lives (None when caching is off or the file is unreadable)."""
    folder = optimized_cache_dir()
    if folder is None:
        return None
    file = path.absolute()
    try:
        stat = file.stat()
    except OSError:
        return None
    key = f"{VERSION}|{file}|{stat.st_mtime_ns}|{stat.st_size}"
    return folder / "inspected" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def cached_graph_info(path: str | os.PathLike[str]) -> GraphInfo:
    """:func:`read_graph_info`, answered from the disk cache when the file has not changed."""
    file = Path(path)
    record = cache_path(file)
    if record is not None:
        info = _read(record)
        if info is not None:
            return info
    info = read_graph_info(file)
    if record is not None and not info.external_data:
        _write(record, info)
    return info


def _read(record: Path) -> GraphInfo | None:
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or damaged: parse the model again
    if not isinstance(data, dict) or set(data) != _FIELDS or not isinstance(data.get("metadata"), dict):
        return None
    try:
        return GraphInfo(**data)
    except TypeError:
        return None


def _write(record: Path, info: GraphInfo) -> None:
    """Atomically. A cache that cannot be written is not used: the file is parsed again next time."""
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(record, json.dumps(dataclasses.asdict(info)))
        records = sorted(record.parent.glob("*.json"), key=lambda r: r.stat().st_mtime, reverse=True)
        for old in records[MAX_RECORDS:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
