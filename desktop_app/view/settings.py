"""Persistent GUI settings (last model, provider, window geometry, last folder) via QSettings.

The store is the platform's per-user QSettings for ``cnn-workbench/desktop``, unless
``$CNN_WORKBENCH_SETTINGS`` names an INI file (used by tests and scripts so that the user's
real settings are never touched), or a ``QSettings`` is passed in explicitly.

Example::

    CNN_WORKBENCH_SETTINGS=/tmp/wb.ini python -m desktop_app
"""

from __future__ import annotations

import os

from PySide6.QtCore import QByteArray, QSettings

ENV_VAR = "CNN_WORKBENCH_SETTINGS"
ORGANISATION = "cnn-workbench"
APPLICATION = "desktop"
PROVIDERS = ("auto", "cuda", "cpu")


def open_settings() -> QSettings:
    """The QSettings to use: ``$CNN_WORKBENCH_SETTINGS`` (INI file) if set, else the user's store."""
    path = os.environ.get(ENV_VAR)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORGANISATION, APPLICATION)


class AppSettings:
    """Typed accessors over one QSettings object."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else open_settings()

    def _text(self, key: str, default: str = "") -> str:
        value = self.store.value(key, default)
        return str(value) if value is not None else default

    @property
    def last_model(self) -> str:
        """File name of the model used last (names survive a moved models folder)."""
        return self._text("model/last")

    @last_model.setter
    def last_model(self, name: str) -> None:
        self.store.setValue("model/last", name)

    @property
    def provider(self) -> str:
        value = self._text("model/provider", "auto")
        return value if value in PROVIDERS else "auto"

    @provider.setter
    def provider(self, value: str) -> None:
        self.store.setValue("model/provider", value)

    @property
    def last_folder(self) -> str:
        return self._text("files/last_folder")

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.store.setValue("files/last_folder", folder)

    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def profile_runs(self) -> int:
        try:
            return max(1, int(self._text("timing/runs", "10")))
        except ValueError:
            return 10

    @profile_runs.setter
    def profile_runs(self, value: int) -> None:
        self.store.setValue("timing/runs", int(value))

    def sync(self) -> None:
        self.store.sync()
