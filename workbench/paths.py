"""The per-user folders of the workbench, in one place: models (shared by the exporter and the app) and caches.

Models: an explicit ``--models-dir`` flag, then ``$CNN_WORKBENCH_MODELS``, then the platform's per-user
data folder (``$XDG_DATA_HOME/cnn-workbench/models``, i.e. ``~/.local/share/cnn-workbench/models`` on
Linux; ``~/Library/Application Support/cnn-workbench/models`` on macOS;
``%LOCALAPPDATA%\\cnn-workbench\\models`` on Windows).

Caches live in the platform's per-user cache folder (``$XDG_CACHE_HOME/cnn-workbench``, i.e.
``~/.cache/cnn-workbench`` on Linux; ``~/Library/Caches/cnn-workbench`` on macOS;
``%LOCALAPPDATA%\\cnn-workbench\\Cache`` on Windows): the app's optimized-model cache ``optimized/``
(with the inspection records in ``optimized/inspected/``; ``$CNN_WORKBENCH_CACHE`` names another
folder for it, ``off`` disables it) and the training feature cache ``features/``. The platform rules
are platformdirs', the library pip and virtualenv use, rather than a copy of them here.

:func:`dir_problem` says in words why a folder cannot be used (a dangling symlink, a file in the way),
where ``mkdir`` would only say "File exists".

Example::

    python -c "from workbench.paths import models_dir, cache_dir; print(models_dir(), cache_dir())"
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import platformdirs

ENV_VAR = "CNN_WORKBENCH_MODELS"
CACHE_ENV_VAR = "CNN_WORKBENCH_CACHE"
APP_DIR = "cnn-workbench"
_OFF = ("", "0", "off", "no", "false")


def default_models_dir() -> Path:
    """The platform-convention per-user models folder (not created)."""
    return platformdirs.user_data_path(APP_DIR, appauthor=False) / "models"


def models_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The models folder to use: ``override``, else ``$CNN_WORKBENCH_MODELS``, else the default."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else default_models_dir()


def cache_dir() -> Path:
    """The platform's per-user cache folder of the workbench (not created)."""
    return platformdirs.user_cache_path(APP_DIR, appauthor=False)


def optimized_cache_dir() -> Path | None:
    """The app's optimized-model cache: ``$CNN_WORKBENCH_CACHE`` (``None`` when set to ``off``), else ``optimized/``."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env is not None and env.strip().lower() in _OFF:
        return None
    if env:
        return Path(env).expanduser()
    return cache_dir() / "optimized"


def feature_cache_dir() -> Path:
    """Where ``train --freeze-backbone`` keeps backbone features (``--cache-dir`` overrides it)."""
    return cache_dir() / "features"


def dir_problem(folder: str | os.PathLike[str]) -> str | None:
    """Why ``folder`` (or one of its parents) cannot be a folder, as a sentence naming the path; ``None`` if it can.

    Says ``<path> is a symlink to <target>, which does not exist``, ``<path> is a symlink loop`` or
    ``<path> is a file, not a folder``; permissions are not judged here (the caller's write attempt tells).
    """
    folder = Path(os.path.abspath(folder))
    for path in (*reversed(folder.parents), folder):
        try:
            info = os.stat(path)
        except FileNotFoundError:
            if path.is_symlink():
                return f"{path} is a symlink to {os.readlink(path)}, which does not exist"
            return None  # this one and the rest can be created
        except OSError as exc:
            return f"{path} is a symlink loop" if exc.errno == errno.ELOOP else None
        if not stat.S_ISDIR(info.st_mode):
            return f"{path} is a file, not a folder" if stat.S_ISREG(info.st_mode) else f"{path} is not a folder"
    return None
