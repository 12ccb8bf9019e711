"""Models from anywhere: File > Open Model…, ``.onnx`` files dropped on the window, File > Recent Models.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_open_model.py -q -n 0
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QFileDialog

from desktop_app.view.intake import hint_text, release_text, split_models
from desktop_app.view.model_files import FOLDER_CHARS, recent_text
from desktop_app.view.settings import MAX_RECENT, AppSettings
from tests.desktop_app.view.helpers import drop_paths


def _outside(model_bank, tmp_path: Path, key: str) -> Path:
    """A copy of a bank model in a folder of its own, away from the window's models folder."""
    folder = tmp_path / "elsewhere"
    folder.mkdir(exist_ok=True)
    return Path(shutil.copy(model_bank[key], folder / model_bank[key].name))


def _recent_texts(window) -> list[str]:
    """The Recent Models items as shown: each file's path (from the item), then Clear, or the placeholder."""
    window.model_files.recent_menu.aboutToShow.emit()
    actions = [a for a in window.model_files.recent_menu.actions() if not a.isSeparator()]
    for action in actions:
        if action.data():
            assert action.text() == recent_text(action.data())
    return [action.data() or action.text() for action in actions]


def test_a_dropped_onnx_file_opens_that_model_and_joins_the_dropdown(
    make_window, model_bank, photos, tmp_path: Path, settings: AppSettings, qtbot
) -> None:
    window = make_window(model_bank["tiny"])
    outside = _outside(model_bank, tmp_path, "trained")
    with qtbot.waitSignal(window.modelLoaded, timeout=15000) as loaded, qtbot.waitSignal(window.batchFinished):
        assert drop_paths(window, [outside, photos["chelsea"]])
    assert loaded.args[0].model.entry.path == outside
    assert [e.path for e in window.entries] == [window.models_dir / model_bank["tiny"].name, outside]
    assert window.model_combo.currentIndex() == 1 and "trainednet" in window.model_combo.currentText()
    assert [r.title for r in window.image_list.records.values()] == ["chelsea.png"]  # the model is no image row
    assert all(r.scores for r in window.image_list.records.values())
    assert settings.recent_models == [str(outside)]
    assert not window.grab().isNull()  # what a user sees renders
    with qtbot.waitSignal(window.modelsScanned, timeout=15000):
        window.rescan()
    assert [e.path for e in window.entries][1:] == [outside]  # still listed after a rescan
    assert window.loaded.model.entry.path == outside
    assert [e.path for e in window.compare.entries] == [e.path for e in window.entries]  # Compare offers it too


def test_open_model_dialog_and_the_recent_list_across_windows(
    make_window, model_bank, tmp_path: Path, settings: AppSettings, monkeypatch, qtbot
) -> None:
    window = make_window(model_bank["tiny"])
    outside = _outside(model_bank, tmp_path, "trained")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args: (str(outside), "ONNX models (*.onnx)"))
    with qtbot.waitSignal(window.modelLoaded, timeout=15000):
        window.model_files.action.trigger()
    assert window.loaded.model.entry.path == outside
    window.close()
    again = make_window()
    assert again.loaded.model.entry.path.name == model_bank["tiny"].name  # opened models are for the session
    assert _recent_texts(again) == [str(outside), "&Clear Recent Models"]
    recent = again.model_files.recent_menu.actions()[0]
    assert recent.text().startswith(f"{outside.name} — ") and str(outside) in recent.toolTip()
    again.model_files.recent_menu.adjustSize()
    assert not again.model_files.recent_menu.grab().isNull()  # what a user sees renders
    with qtbot.waitSignal(again.modelLoaded, timeout=15000):
        recent.trigger()
    assert again.loaded.model.entry.path == outside


def test_a_vanished_recent_model_is_said_so_and_dropped(make_window, model_bank, tmp_path: Path, settings) -> None:
    gone = tmp_path / "gone" / "model.onnx"
    kept = _outside(model_bank, tmp_path, "trained")
    settings.recent_models = [str(gone), str(kept)]
    window = make_window(model_bank["tiny"])
    assert _recent_texts(window)[:2] == [str(gone), str(kept)]
    window.model_files.recent_menu.actions()[0].trigger()
    assert window.message_label.text() == f"{gone}: the file is gone; removed from Recent Models"
    assert settings.recent_models == [str(kept)]
    assert _recent_texts(window) == [str(kept), "&Clear Recent Models"]
    window.model_files.recent_menu.actions()[-1].trigger()
    assert settings.recent_models == [] and _recent_texts(window) == ["No recent models"]


def test_an_unusable_dropped_model_is_said_so_and_not_remembered(
    make_window, model_bank, tmp_path: Path, settings, qtbot
) -> None:
    window = make_window(model_bank["tiny"])
    garbage = _outside(model_bank, tmp_path, "garbage")
    assert drop_paths(window, [garbage])
    qtbot.waitUntil(lambda: window.message_label.text().startswith("Cannot open the model: "), timeout=15000)
    assert "garbage.onnx" in window.message_label.text()
    assert window.image_list.records == {}
    assert len(window.entries) == 1 and window.loaded.model.entry.path.name == model_bank["tiny"].name
    assert settings.recent_models == []


def test_opening_a_model_of_the_models_folder_selects_it_once(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["tiny"], model_bank["trained"])
    inside = window.models_dir / model_bank["trained"].name
    other = next(i for i, e in enumerate(window.entries) if e.path == inside)
    if window.model_combo.currentIndex() == other:
        with qtbot.waitSignal(window.modelLoaded, timeout=15000):
            window.model_combo.activated.emit(1 - other)
    with qtbot.waitSignal(window.modelLoaded, timeout=15000):
        window.model_files.open_paths([str(window.models_dir / ".." / "models" / inside.name)])
    assert len(window.entries) == 2 and window.loaded.model.entry.path == inside


def test_the_recent_list_is_validated_and_kept_short(tmp_path: Path) -> None:
    ini = tmp_path / "edited.ini"
    ini.write_text("[model]\nrecent=@ByteArray(abc)\n")
    bad = AppSettings(QSettings(str(ini), QSettings.Format.IniFormat))
    assert bad.recent_models == []
    assert bad.problems == [f"{ini}: [model] recent: expected a list of files, got QByteArray; ignored"]
    good = AppSettings(QSettings(str(tmp_path / "good.ini"), QSettings.Format.IniFormat))
    good.recent_models = [f"/m/{i}.onnx" for i in range(MAX_RECENT + 3)] + ["/m/0.onnx"]
    good.sync()
    again = AppSettings(QSettings(str(tmp_path / "good.ini"), QSettings.Format.IniFormat))
    assert again.recent_models == [f"/m/{i}.onnx" for i in range(MAX_RECENT)]
    again.recent_models = ["/only, one.onnx"]
    again.sync()
    assert AppSettings(QSettings(str(tmp_path / "good.ini"), QSettings.Format.IniFormat)).recent_models == [
        "/only, one.onnx"
    ]


def test_recent_items_shorten_long_folders_and_keep_ampersands() -> None:
    assert recent_text("/models/a&b.onnx") == "a&&b.onnx — /models"
    long = "/" + "x" * 100 + "/net.onnx"
    text = recent_text(long)
    assert text.startswith("net.onnx — /xxx") and "…" in text and len(text) == len("net.onnx — ") + FOLDER_CHARS


def test_drops_split_models_from_images_and_say_what_release_does(tmp_path: Path) -> None:
    folder = tmp_path / "looks.onnx"
    folder.mkdir()  # a folder is searched for images, whatever its name
    files = ["/m/a.ONNX", "/p/cat.png", str(folder), "/m/b.onnx"]
    assert split_models(files) == (["/m/a.ONNX", "/m/b.onnx"], ["/p/cat.png", str(folder)])
    assert release_text(2, 0) == "Release to open 2 models"
    assert release_text(1, 3) == "Release to open 1 model and classify 3 items"
    assert release_text(0, 1) == "Release to classify 1 item"
    assert (hint_text(0, 4), hint_text(1, 0), hint_text(2, 0)) == (
        "Release to classify",
        "Release to open the model",
        "Release to open 2 models",
    )
    assert hint_text(1, 2) == "Release to open the model and classify"
