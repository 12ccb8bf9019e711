"""Tests for the Qt-free desktop_app.core modules (image loading and preprocessing)."""
