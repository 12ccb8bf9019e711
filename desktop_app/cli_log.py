"""Levels for the headless commands' messages on stderr: ``-v`` (debug detail), default (notes), ``-q`` (quiet).

Results go to stdout and errors to stderr whatever the level. Notes (``note: ...``: assumed preprocessing,
fallbacks, remembered overrides, summaries) are INFO; warnings (``warning: ...``: a golden-test mismatch,
CUDA that did not start) are WARNING; ``-v`` adds DEBUG lines (what was opened, where, in how long; the
preprocessing in use) and lets ONNX Runtime's own warnings through, which are kept to errors otherwise.
``-q`` keeps warnings and errors only, and no progress bars. The exporter has the same two flags
(:mod:`exporter.cliutil`); this is the app's copy, as the app never imports the exporter.

Example::

    python -m desktop_app classify cat.jpg -q          # the top-5 only
    python -m desktop_app profile cat.jpg -v           # and what was opened, on what, in how long
"""

from __future__ import annotations

import argparse
import logging
from typing import TextIO

import onnxruntime as ort

__all__ = ["LOGGER", "add_verbosity", "log", "quiet", "setup_logging"]

LOGGER = "desktop_app.cli"
_LEVELS = {1: logging.DEBUG, 0: logging.INFO, -1: logging.WARNING}
_MARK = "_desktop_app_cli"


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` and ``-q/--quiet`` (dest ``verbosity``: 1, 0 or -1)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const=1,
        default=0,
        help="more detail on stderr: what was opened, on what, in how long (and ONNX Runtime's warnings)",
    )
    group.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=-1, help="only warnings and errors on stderr"
    )


def setup_logging(verbosity: int, stream: TextIO) -> logging.Logger:
    """The commands' logger: plain lines on ``stream`` at the level ``verbosity`` asks for."""
    verbosity = max(-1, min(1, verbosity))
    logger = logging.getLogger(LOGGER)
    logger.handlers = [h for h in logger.handlers if not getattr(h, _MARK, False)]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    setattr(handler, _MARK, True)
    logger.addHandler(handler)
    logger.setLevel(_LEVELS[verbosity])
    logger.propagate = False
    ort.set_default_logger_severity(2 if verbosity > 0 else 3)  # 2: warnings, 3: errors
    return logger


def log() -> logging.Logger:
    """The commands' logger (configured by :func:`setup_logging` in ``main``)."""
    return logging.getLogger(LOGGER)


def quiet() -> bool:
    """``-q`` was given: no notes, no progress bars."""
    return not log().isEnabledFor(logging.INFO)
