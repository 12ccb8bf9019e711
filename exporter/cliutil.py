"""What every exporter subcommand shares: its name and version, model-name checking, help defaults, logging.

* :func:`prog_name` is how the user started us (``cnn-export`` or ``python -m exporter``), for usage lines.
* :class:`ModelName` checks ``--model`` while the command line is parsed, so a typo is the first (and only)
  complaint: ``cnn-export bench: error: unknown model 'resnet5'; did you mean resnet50?``, exit 2.
* :class:`DefaultsFormatter` shows each option's default in ``--help`` (except empty ones).
* :func:`add_verbosity` / :func:`setup_logging`: ``-v``/``-q`` and the ``exporter`` logger on stderr; ONNX
  Runtime's own log is kept to errors (:func:`quiet_onnxruntime`).

Example::

    cnn-export --version
    cnn-export bench --model resnet5     # -> cnn-export bench: error: unknown model 'resnet5'; did you mean resnet50?
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from models.registry import UnknownModelError, check_model_name
from workbench import version

LOGGER = "exporter"
WEIGHTS_HELP = (
    "imagenet: the official weights, from the torch hub cache (downloaded once when online); "
    "a path to a .pth state dict or training checkpoint; or random (untrained, only when asked for)"
)


def prog_name(argv0: str | None = None) -> str:
    """``cnn-export`` when started by the console script, else ``python -m exporter``."""
    return version.prog_name("python -m exporter", argv0)


class ModelName(argparse.Action):
    """``--model NAME``: an unknown name is a usage error at once, with the registry's suggestion."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        try:
            setattr(namespace, self.dest, check_model_name(str(values)))
        except UnknownModelError as exc:
            parser.error(str(exc))


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already names its default or it has none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        empty = default is None or default is False or default is argparse.SUPPRESS or default == ""
        if empty or "default" in text or not action.option_strings:
            return text
        return text + " (default: %(default)s)"


def add_verbosity(parser: argparse.ArgumentParser, quiet_help: str = "only warnings and errors") -> None:
    """``-v/--verbose`` and ``-q/--quiet`` (dest ``verbosity``: -1, 0 or 1)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=1, default=0, help="more detail (debug)"
    )
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1, help=quiet_help)


def setup_logging(verbosity: int) -> logging.Logger:
    """The ``exporter`` logger: plain lines on stderr, INFO by default, DEBUG with -v, WARNING with -q."""
    level = {1: logging.DEBUG, 0: logging.INFO, -1: logging.WARNING}[max(-1, min(1, verbosity))]
    logger = logging.getLogger(LOGGER)
    logger.handlers = [handler for handler in logger.handlers if not getattr(handler, "_exporter", False)]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if verbosity < 1 else "%(levelname)s %(name)s: %(message)s"))
    handler._exporter = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    quiet_onnxruntime(verbose=verbosity > 0)
    return logger


def quiet_onnxruntime(verbose: bool = False) -> None:
    """Keep ONNX Runtime's own (coloured) log to errors (warnings too with -v) in this process's sessions.

    Sessions whose options leave ``log_severity_level`` at its default follow this; its quantization tools
    warn through Python's root logger, which :func:`exporter.quant.workspace.quiet` silences around them.
    """
    import onnxruntime as ort

    ort.set_default_logger_severity(2 if verbose else 3)


def log() -> logging.Logger:
    """The exporter's logger (configured by :func:`setup_logging`)."""
    return logging.getLogger(LOGGER)
