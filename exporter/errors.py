"""The exporter's error types: one clear line for the user and the CLI exit code to use.

Example::

    python -m exporter export --model resnet51 --weights random   # -> error: unknown model 'resnet51'; ...
"""

from __future__ import annotations


class ExporterError(Exception):
    """A failure the user can act on; ``str()`` is the whole message, naming the file or value at fault."""

    exit_code = 2


class VerificationError(ExporterError):
    """The export ran but does not match PyTorch; nothing was kept."""

    exit_code = 1
