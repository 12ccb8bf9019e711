"""Write a file so that readers see the old content or the new one, never half of it.

The content goes to a temporary file beside the target, is flushed to disk, then renamed over the
target (``os.replace`` is atomic on one file system); on any failure the temporary file is removed
and the error propagates. Used for timing exports, the inspection cache, training logs and training
checkpoints.

Example::

    python -c "from pathlib import Path; from desktop_app.core.atomic import write_text_atomic; \
write_text_atomic(Path('/tmp/x.txt'), 'hello\\n')"
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write`` on a binary temporary file next to ``path``, then rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) atomically to ``path``."""
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))
