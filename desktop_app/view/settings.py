"""Persistent GUI settings (last model, provider and engine, window geometry and split, tab, last folder) via QSettings.

The store is the platform's per-user QSettings for ``cnn-workbench/desktop`` (``desktop.conf``), unless
``$CNN_WORKBENCH_SETTINGS`` names an INI file (used by tests and scripts so that the user's
real settings are never touched), or a ``QSettings`` is passed in explicitly.

The file is the user's to edit, so every value is read through a validator with a default: a wrong
type, an out-of-range number (``[timing] runs=2147483648``) or an unknown choice never stops the app;
the default is used and :attr:`AppSettings.problems` holds one line naming the file, the key and the
problem (the window shows them in its status bar).

Example::

    CNN_WORKBENCH_SETTINGS=/tmp/wb.ini python -m desktop_app
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QByteArray, QSettings

from desktop_app.core.profiling import DEFAULT_RUNS  # the GUI's default run count is the CLI's

log = logging.getLogger(__name__)

ENV_VAR = "CNN_WORKBENCH_SETTINGS"
ORGANISATION = "cnn-workbench"
APPLICATION = "desktop"
DISPLAY_NAME = "CNN Workbench"  # QApplication.applicationDisplayName: Qt ends window titles with it
PROVIDERS = ("auto", "cuda", "cpu")
#: The Engine choices (desktop_app.view.backend.ENGINE_CHOICES); "" = not chosen yet (the provider decides).
ENGINES = ("auto", "cpu", "cuda", "openvino", "openvino-bf16", "openvino-gpu", "openvino-npu")
RUNS_RANGE = (1, 1000)  # the Timing tab's spin box
#: The Timing tab's groupings: -2 provider, -1 op type, 0 single nodes, 1.. module depth (timing_panel's values)
GROUPING_RANGE = (-2, 64)
MAX_TEXT = 4096  # a file name or folder longer than any file system allows is not one
MAX_GEOMETRY_BYTES = 64 * 1024  # saveGeometry() writes ~70 bytes
# the window's tabs, lower-cased
TABS = ("prediction", "explain", "compare", "timing", "evaluate", "inspect", "model info")
MAX_PANE = 100_000  # pixels: wider than any screen
MAX_RECENT = 10  # File > Recent Models

T = TypeVar("T")


class SettingError(ValueError):
    """A stored value that cannot be used; the message says why (without the key)."""


def open_settings() -> QSettings:
    """The QSettings to use: ``$CNN_WORKBENCH_SETTINGS`` (INI file) if set, else the user's store."""
    path = os.environ.get(ENV_VAR)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


def text_value(value: object) -> str:
    """A single line of text (QSettings reads ``a, b`` in an INI file as a list: refused)."""
    if not isinstance(value, str):
        raise SettingError(f"expected text, got {_kind(value)}")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise SettingError("not a usable name (too long, or a NUL character in it)")
    return value


def _whole_number(value: object) -> int:
    """An int, or its text (INI files store numbers as text); bools, lists and other text are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SettingError(f"expected a whole number, got {_kind(value)}")
    try:
        return int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        raise SettingError(f"{value!r} is not a whole number") from None


def runs_value(value: object) -> int:
    """A whole number of profile runs within :data:`RUNS_RANGE` (INI files store it as text)."""
    number = _whole_number(value)
    low, high = RUNS_RANGE
    if not low <= number <= high:
        raise SettingError(f"{number} is outside {low}..{high}")
    return number


def grouping_value(value: object) -> int:
    """The Timing tab's grouping: a module depth 1..64, 0 (single nodes), -1 (op type), -2 (provider)."""
    number = _whole_number(value)
    if not GROUPING_RANGE[0] <= number <= GROUPING_RANGE[1]:
        raise SettingError(f"{number} is not a grouping ({GROUPING_RANGE[0]}..{GROUPING_RANGE[1]})")
    return number


def provider_value(value: object) -> str:
    text = text_value(value).strip().lower()
    if text not in PROVIDERS:
        raise SettingError(f"{text!r} is not one of {', '.join(PROVIDERS)}")
    return text


def engine_value(value: object) -> str:
    """One of :data:`ENGINES` (any case), or ``""`` when none was stored."""
    text = text_value(value).strip().lower()
    if text and text not in ENGINES:
        raise SettingError(f"{text!r} is not one of {', '.join(ENGINES)}")
    return text


def geometry_value(value: object) -> QByteArray | None:
    """Bytes from ``saveGeometry`` (``restoreGeometry`` itself rejects malformed content)."""
    if not isinstance(value, QByteArray):
        raise SettingError(f"expected saved window geometry (@ByteArray), got {_kind(value)}")
    if value.size() > MAX_GEOMETRY_BYTES:
        raise SettingError(f"{value.size()} bytes is not a window geometry")
    return value if not value.isEmpty() else None


def tab_value(value: object) -> str:
    """One of the window's tabs by name (:data:`TABS`, any case)."""
    text = text_value(value).strip().lower()
    if text not in TABS:
        raise SettingError(f"{text!r} is not one of the tabs ({', '.join(TABS)})")
    return text


def splitter_value(value: object) -> list[int]:
    """The widths of the image list and of the tabs, in pixels (the INI file has ``300, 860``)."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, (list, tuple)) or len(parts) != 2:
        raise SettingError(f"expected two widths like 300, 860, got {_kind(value)}")
    sizes = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (int, str)):
            raise SettingError(f"expected two whole numbers, got {_kind(part)}")
        try:
            sizes.append(int(part.strip()) if isinstance(part, str) else part)
        except ValueError:
            raise SettingError(f"{part!r} is not a whole number") from None
    if not all(0 <= size <= MAX_PANE for size in sizes) or not any(sizes):
        raise SettingError(f"{sizes[0]}, {sizes[1]} are not two widths within 0..{MAX_PANE} (not both 0)")
    return sizes


def paths_value(value: object) -> list[str]:
    """A list of file names (an INI file holds one as plain text, several as ``"a", "b"``)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise SettingError(f"expected a list of files, got {_kind(value)}")
    paths = [text_value(item) for item in items]
    return [path for path in paths if path][:MAX_RECENT]


def _kind(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} values"
    return type(value).__name__


class AppSettings:
    """Validated accessors over one QSettings object; see the module docstring."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else open_settings()
        self.problems: list[str] = []  # one line per unusable stored value, in the order found
        status = self.store.status()
        if status != QSettings.Status.NoError:
            reason = "cannot be read" if status == QSettings.Status.AccessError else "is not a valid settings file"
            self._problem(f"{self.store.fileName()}: {reason}; using the defaults")

    def _problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)
            log.warning("%s", message)

    def _read(self, key: str, validate: Callable[[object], T], default: T) -> T:
        """The stored ``key`` through ``validate``; ``default`` when absent or unusable (noted in problems)."""
        if not self.store.contains(key):
            return default
        try:
            return validate(self.store.value(key))
        except SettingError as exc:
            section, _, name = key.rpartition("/")
            where = f"[{section}] {name}" if section else name
            instead = f"using {default!r}" if default not in ("", None, []) else "ignored"
            self._problem(f"{self.store.fileName()}: {where}: {exc}; {instead}")
            return default

    def check(self) -> list[str]:
        """Read every setting once, so that :attr:`problems` lists every unusable value; returns it."""
        names = ("last_model", "provider", "engine", "last_folder", "geometry", "profile_runs", "timing_grouping")
        for name in (*names, "splitter", "tab", "recent_models"):
            getattr(self, name)
        return list(self.problems)

    @property
    def last_model(self) -> str:
        """File name of the model used last (names survive a moved models folder)."""
        return self._read("model/last", text_value, "")

    @last_model.setter
    def last_model(self, name: str) -> None:
        self.store.setValue("model/last", name)

    @property
    def provider(self) -> str:
        return self._read("model/provider", provider_value, "auto")

    @provider.setter
    def provider(self, value: str) -> None:
        self.store.setValue("model/provider", value)

    @property
    def engine(self) -> str:
        """The window's Engine choice; ``""`` until one is made (then :attr:`provider` picks the item)."""
        return self._read("model/engine", engine_value, "")

    @engine.setter
    def engine(self, value: str) -> None:
        self.store.setValue("model/engine", value)

    @property
    def engine_choice(self) -> str:
        """The Engine item to show: the stored engine, else the stored provider (settings from before engines)."""
        return self.engine or self.provider

    def remember_engine(self, choice: str) -> None:
        """Store an Engine choice; an ONNX Runtime one (auto, cuda, cpu) is the provider as well."""
        self.engine = choice
        if choice in PROVIDERS:
            self.provider = choice

    @property
    def last_folder(self) -> str:
        return self._read("files/last_folder", text_value, "")

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.store.setValue("files/last_folder", folder)

    @property
    def geometry(self) -> QByteArray | None:
        return self._read("window/geometry", geometry_value, None)

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def profile_runs(self) -> int:
        return self._read("timing/runs", runs_value, DEFAULT_RUNS)

    @profile_runs.setter
    def profile_runs(self, value: int) -> None:
        self.store.setValue("timing/runs", runs_value(value))

    @property
    def timing_grouping(self) -> int:
        """The Timing tab's grouping last chosen (0: single nodes, the default)."""
        return self._read("timing/grouping", grouping_value, 0)

    @timing_grouping.setter
    def timing_grouping(self, value: int) -> None:
        self.store.setValue("timing/grouping", grouping_value(value))

    @property
    def splitter(self) -> list[int] | None:
        """The image list's and the tabs' widths; None: the window's default split."""
        return self._read("window/splitter", splitter_value, None)

    @splitter.setter
    def splitter(self, sizes: list[int]) -> None:
        self.store.setValue("window/splitter", splitter_value(list(sizes)))

    @property
    def tab(self) -> str:
        """The tab shown last, by its lower-cased name (see :data:`TABS`)."""
        return self._read("window/tab", tab_value, TABS[0])

    @tab.setter
    def tab(self, name: str) -> None:
        self.store.setValue("window/tab", tab_value(name))

    @property
    def recent_models(self) -> list[str]:
        """Model files opened from anywhere (File > Open Model…, drops), newest first, at most MAX_RECENT."""
        return self._read("model/recent", paths_value, [])

    @recent_models.setter
    def recent_models(self, paths: list[str]) -> None:
        kept = list(dict.fromkeys(paths_value(list(paths))))  # no duplicates, newest first
        if kept:
            self.store.setValue("model/recent", kept)
        else:
            self.store.remove("model/recent")

    def sync(self) -> None:
        self.store.sync()
