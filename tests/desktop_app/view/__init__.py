"""Tests for the PySide6 window, ``desktop_app.view``, driven by pytest-qt offscreen."""
