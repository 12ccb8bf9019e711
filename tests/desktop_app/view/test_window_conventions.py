"""What a new user expects of the window: the title, Help > About, shortcuts and menus, models from anywhere.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_window_conventions.py -q -n 0
"""

from __future__ import annotations

import platform
from pathlib import Path

import onnxruntime as ort
import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from desktop_app.view import about
from desktop_app.view.about import AboutDialog, about_text, openvino_version
from tests.desktop_app.view.convention_helpers import display_name, title_bar
from workbench.cpu import cpu_info
from workbench.version import package_version


def test_the_title_bar_names_the_app_once_after_the_model(make_window, model_bank) -> None:
    with display_name():
        window = make_window(model_bank["trained"])
        shown = title_bar(window.windowHandle().title(), QApplication.applicationDisplayName())
    name = window.loaded.model.entry.name
    assert window.windowTitle() == f"{name} — CNN Workbench"
    assert shown == f"{name} — CNN Workbench"
    assert shown.count("CNN Workbench") == 1


def test_the_title_without_a_model_is_the_app_name(make_window) -> None:
    with display_name() as name:
        window = make_window(wait_loaded=False)
        assert title_bar(window.windowHandle().title(), name) == "CNN Workbench"


def test_about_shows_versions_cpu_folders_and_copies_them_as_plain_text(
    make_window, model_bank, settings, tmp_path: Path
) -> None:
    window = make_window(model_bank["tiny"])
    window.about_action.trigger()
    dialog = next(d for d in window.findChildren(AboutDialog) if d.isVisible())
    text = dialog.text.toPlainText()
    lines = dict(line.split(": ", 1) for line in text.splitlines()[2:])
    assert text.splitlines()[0] == f"CNN Workbench {package_version()}"
    assert lines["ONNX Runtime"].startswith(f"{ort.__version__} (") and "CPUExecutionProvider" in lines["ONNX Runtime"]
    assert lines["OpenVINO"] == openvino_version()
    assert lines["Qt"] == f"{qVersion()} (PySide6 {PySide6.__version__})"
    assert lines["Python"].startswith(platform.python_version())
    cpu, features = cpu_info()
    assert lines["CPU"].startswith(cpu)
    for feature in features:
        assert feature in lines["CPU instruction sets"]
    assert lines["Models folder"] == str(window.models_dir)
    assert lines["Settings file"] == str(tmp_path / "settings.ini") == settings.store.fileName()
    QGuiApplication.clipboard().clear()
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == text
    assert not QGuiApplication.clipboard().mimeData().hasHtml()
    assert not dialog.grab().isNull()  # what a user sees renders
    dialog.close()


def test_about_shows_a_folder_with_markup_as_typed(tmp_path: Path, qtbot) -> None:
    folder = tmp_path / "<b>models<img src=x.png>"
    dialog = AboutDialog(about_text(folder, "/tmp/wb.ini"))
    qtbot.addWidget(dialog)
    assert f"Models folder: {folder}" in dialog.text.toPlainText().splitlines()


def test_openvino_version_when_missing_and_present(monkeypatch) -> None:
    monkeypatch.setattr(about.importlib.util, "find_spec", lambda name: None)
    assert openvino_version() == "not installed"
    monkeypatch.setattr(about.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(about.metadata, "version", lambda dist: "2025.4.0")
    assert openvino_version() == "2025.4.0"
