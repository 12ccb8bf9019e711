"""What every int8/fp16 step shares: the progress callback, ORT's tools kept quiet, a scratch folder.

The quantization tools print to stdout/stderr and log at INFO; :func:`quiet` keeps that out of the
export's own output, and :func:`first_line` turns their bare exceptions into one-line reasons.

Example::

    python -m exporter export --default --precision int8   # intermediate models in $TMPDIR/cnn-quant-*
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from exporter.errors import ExporterError
from workbench.atomic import owner_tag, remove_stale_temps, temp_pattern

SCRATCH_PREFIX = "cnn-quant-"
SCRATCH_TEMP = temp_pattern(SCRATCH_PREFIX, "")
Progress = Callable[[str], None]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    sink = io.StringIO()
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield
    finally:
        logger.setLevel(level)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def scratch_dir(log: Progress | None = None) -> Iterator[str]:
    """A temporary folder for intermediate models (``cnn-quant-<pid>@<host>.<random>``), removed on exit.

    Stale ones that killed exports left behind (their process gone, or a day old) are removed first,
    with a note to ``log``. A full disk while writing there (ENOSPC, EFBIG, EDQUOT) becomes an
    ExporterError naming the folder.
    """
    cleanup = remove_stale_temps(Path(tempfile.gettempdir()), SCRATCH_TEMP, directories=True)
    for note in cleanup.notes():
        (log or print)(note)
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{owner_tag()}.") as folder:
        try:
            yield folder
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
                raise
            raise ExporterError(
                f"{folder}: disk full while writing intermediate models ({exc.strerror}); "
                "TMPDIR can point to a folder with more space"
            ) from exc
