"""``desktop_app.view.app.main``: arguments, the event loop, and settings isolation via the environment.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_app.py -q
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.view import app as app_module
from desktop_app.view.main_window import MainWindow
from desktop_app.view.settings import ENV_VAR
from tests.helpers import REPO


def test_main_runs_the_window_with_models_dir_and_images(
    model_bank, models_dir: Path, photos, tmp_path: Path, monkeypatch, qtbot
) -> None:
    ini = tmp_path / "env-settings.ini"
    monkeypatch.setenv(ENV_VAR, str(ini))
    shutil.copy(model_bank["tiny"], models_dir)
    seen: dict[str, object] = {}

    def check_and_close() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        assert len(windows) == 1
        window = windows[0]
        seen["dir"] = window.models_dir
        records = window.image_list.records
        qtbot.waitUntil(lambda: len(records) == 2 and all(r.scores for r in records.values()), timeout=15000)
        seen["rows"] = window.image_list.row_texts()
        window.close()

    QTimer.singleShot(0, check_and_close)
    assert app_module.main(["--models-dir", str(models_dir), str(photos["chelsea"].parent)]) == 0
    assert seen["dir"] == models_dir
    assert len(seen["rows"]) == 2
    stored = QSettings(str(ini), QSettings.Format.IniFormat)
    assert stored.value("model/last") == model_bank["tiny"].name  # written to the env-var file, not the user's
    assert stored.value("window/geometry") is not None


def test_parse_args_defaults() -> None:
    args = app_module.parse_args([])
    assert args.models_dir is None and args.images == []


def test_screenshot_script_writes_a_png(model_bank, models_dir: Path, tmp_path: Path, qtbot) -> None:
    import importlib.util

    from PySide6.QtGui import QImage

    spec = importlib.util.spec_from_file_location("screenshot", REPO / "scripts" / "screenshot.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    model = shutil.copy(model_bank["trained"], models_dir)
    out = tmp_path / "shot.png"
    assert (
        script.main(["--model", str(model), "--tab", "timing", "--runs", "2", "--size", "900x600", "--out", str(out)])
        == 0
    )
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)
