"""The workbench's version and the name a command was started by, for ``--version`` and usage lines.

Both command lines use it: ``cnn-export --version`` and ``cnn-workbench --version`` print the installed
distribution's version (the source tree's ``pyproject.toml`` version when running from a checkout), and
their usage lines name the command as the user typed it (``cnn-export`` or ``python -m exporter``).

Example::

    python -c "from workbench.version import package_version; print(package_version())"
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["DIST", "package_version", "prog_name"]

DIST = "cnn-workbench"
_PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def package_version() -> str:
    """The installed distribution's version; the source tree's ``pyproject.toml`` version when not installed."""
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:
        pass
    try:
        text = _PYPROJECT.read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else "unknown"


def prog_name(module_form: str, argv0: str | None = None) -> str:
    """The console script's name (``cnn-export``) when started by it, else ``module_form`` (``python -m exporter``)."""
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    if not name or name.endswith(".py") or name.startswith("python") or name == "-c":
        return module_form
    return name
