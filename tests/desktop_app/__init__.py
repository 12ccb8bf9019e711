"""Tests for desktop_app: the Qt-free core and its CLI here, the PySide6 window in ``view/``."""
