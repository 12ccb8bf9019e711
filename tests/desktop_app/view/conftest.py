"""Fixtures for the Qt view tests: tiny ONNX models, bad files, isolated settings, a window factory.

pytest finds them here for every test in this folder; the model builder and the drag-and-drop helpers
are in ``tests/desktop_app/view/helpers.py``. ``photos`` here (a folder of two photos) overrides the
session fixture of ``tests/desktop_app/conftest.py`` for these tests.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_window.py -q
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from desktop_app.view.main_window import MainWindow
from desktop_app.view.settings import AppSettings
from tests.desktop_app.view.helpers import build_model, png_header
from tests.helpers import DATA


@pytest.fixture(scope="session")
def model_bank(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Built once per session; copy them into a test's models folder."""
    root = tmp_path_factory.mktemp("model_bank")
    bank = {
        "tiny": build_model(root / "tinynet-tiny10-random-fp32.onnx"),
        "trained": build_model(
            root / "tinynet-tiny10-imagenet-fp32.onnx", trained=True, seed=1, architecture="trainednet"
        ),
        "mismatch": build_model(root / "mismatch-golden.onnx", golden="wrong", seed=2, architecture="mismatchnet"),
        "foreign": build_model(root / "foreign.onnx", card=False, seed=3),
        "slow": build_model(root / "slow-foreign.onnx", card=False, size=384, channels=48, blocks=4, seed=4),
    }
    (root / "empty.onnx").write_bytes(b"")
    (root / "garbage.onnx").write_text("this is not an onnx file\n")
    bank["empty"] = root / "empty.onnx"
    bank["garbage"] = root / "garbage.onnx"
    return bank


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> AppSettings:
    """Isolated settings (an INI file in the test's temp folder), never the user's real ones."""
    return AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, settings: AppSettings, models_dir: Path) -> Iterator[Callable[..., MainWindow]]:
    """``make_window(*model_keys_or_paths)``: copies models in, opens the window, waits for the scan."""
    windows: list[MainWindow] = []

    def make(
        *models: Path, folder: Path | None = None, wait_loaded: bool = True, app_settings: AppSettings | None = None
    ) -> MainWindow:
        target = folder or models_dir
        for model in models:
            shutil.copy(model, target / model.name)
        window = MainWindow(models_dir=target, settings=app_settings or settings)
        qtbot.addWidget(window)
        windows.append(window)
        if wait_loaded:
            qtbot.waitUntil(lambda: window.loaded is not None, timeout=15000)
        else:
            qtbot.waitUntil(lambda: window.scan_count >= 1, timeout=15000)
        window.show()
        return window

    yield make
    for window in windows:
        window.shutdown()


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    out = {"chelsea": folder / "chelsea.png", "coffee": folder / "sub" / "coffee.png"}
    shutil.copy(DATA / "chelsea.png", out["chelsea"])
    shutil.copy(DATA / "coffee.png", out["coffee"])
    (folder / "notes.txt").write_text("ignored: not an image suffix")
    return out


@pytest.fixture
def bad_images(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    png = (DATA / "chelsea.png").read_bytes()
    files = {
        "empty": folder / "empty.png",
        "text": folder / "text.jpg",
        "truncated": folder / "truncated.png",
        "svg": folder / "drawing.svg",
        "bomb": folder / "bomb.png",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("definitely not a JPEG")
    files["truncated"].write_bytes(png[: len(png) // 3])
    files["svg"].write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>')
    files["bomb"].write_bytes(png_header(60000, 60000))
    files["vanished"] = folder / "vanished.png"  # never created: "file not found"
    return files
