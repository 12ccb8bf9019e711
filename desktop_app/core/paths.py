"""Where exported models live: one per-user folder, shared by the exporter and the app.

Order of precedence: an explicit ``--models-dir`` flag, then ``$CNN_WORKBENCH_MODELS``, then the
platform's per-user data folder (``$XDG_DATA_HOME/cnn-workbench/models`` or
``~/.local/share/cnn-workbench/models`` on Linux, ``~/Library/Application Support/cnn-workbench/models``
on macOS, ``%LOCALAPPDATA%\\cnn-workbench\\models`` on Windows).

Example::

    python -c "from desktop_app.core.paths import models_dir; print(models_dir())"
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "CNN_WORKBENCH_MODELS"
APP_DIR = "cnn-workbench"


def default_models_dir() -> Path:
    """The platform-convention per-user models folder (not created)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_DIR / "models"


def models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The models folder to use: ``override``, else ``$CNN_WORKBENCH_MODELS``, else the default."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else default_models_dir()
