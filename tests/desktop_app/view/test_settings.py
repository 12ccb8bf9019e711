"""Settings a user (or a bad editor) wrote by hand never stop the window: each value is validated, with a default.

``[timing] runs=2147483648`` in desktop.conf used to raise OverflowError in ``QSpinBox.setValue`` and
the app never started; a list, a word or an unknown provider fell through in other ways.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_settings.py -q
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.view import app as app_module
from desktop_app.view.main_window import MainWindow
from desktop_app.view.settings import ENV_VAR, AppSettings

BAD_RUNS = ["2147483648", "-5", "0", "1001", "ten", "2.5", "1e3", '"1, 2"', "@ByteArray(\\x01)", "99999999999999999999"]


def _write_conf(path: Path, text: str) -> AppSettings:
    path.write_text(text, encoding="utf-8")
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


@pytest.mark.parametrize("runs", BAD_RUNS)
def test_bad_runs_fall_back_to_the_default_and_say_so(make_window, model_bank, tmp_path: Path, runs: str) -> None:
    conf = tmp_path / "desktop.conf"
    settings = _write_conf(conf, f"[timing]\nruns={runs}\n")
    window = make_window(model_bank["tiny"], app_settings=settings)
    assert window.timing_panel.runs.value() == 10
    text = window.message_label.text()
    assert str(conf) in text and "[timing] runs" in text and "using 10" in text, text


def test_every_bad_value_at_once_still_starts_with_defaults(make_window, model_bank, tmp_path: Path) -> None:
    conf = tmp_path / "desktop.conf"
    settings = _write_conf(
        conf,
        "[model]\nlast=a, b\nprovider=quantum\n"
        "[files]\nlast_folder=@ByteArray(\\x00\\x01)\n"
        "[window]\ngeometry=not bytes\n"
        "[timing]\nruns=2147483648\n",
    )
    window = make_window(model_bank["tiny"], app_settings=settings)
    assert window.provider() == "auto"
    assert window.timing_panel.runs.value() == 10
    assert window.loaded.model.entry.path.name == model_bank["tiny"].name
    problems = settings.problems
    for where in ("[model] last", "[model] provider", "[files] last_folder", "[window] geometry", "[timing] runs"):
        assert sum(where in p for p in problems) == 1, (where, problems)
    assert all(p.startswith(f"{conf}: ") for p in problems)
    window.close()  # what the window writes at close (model, geometry, runs) replaces the bad values
    again = AppSettings(QSettings(str(conf), QSettings.Format.IniFormat))
    left = again.check()
    assert not any(where in p for p in left for where in ("[model] last", "[window] geometry", "[timing] runs")), left
    assert again.profile_runs == 10 and again.geometry is not None
    assert again.last_model == model_bank["tiny"].name


def test_good_values_are_kept(make_window, model_bank, tmp_path: Path) -> None:
    settings = _write_conf(tmp_path / "desktop.conf", "[timing]\nruns= 250\n[model]\nprovider=CPU\n")
    window = make_window(model_bank["tiny"], app_settings=settings)
    assert window.timing_panel.runs.value() == 250
    assert window.provider() == "cpu"
    assert settings.problems == []


def test_the_app_starts_with_an_out_of_range_conf(model_bank, models_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """What ``python -m desktop_app`` runs, with the desktop.conf of the issue."""
    import shutil

    conf = tmp_path / "desktop.conf"
    conf.write_text("[timing]\nruns=2147483648\n", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(conf))
    shutil.copy(model_bank["tiny"], models_dir)
    seen: list[int] = []

    def close() -> None:
        (window,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen.append(window.timing_panel.runs.value())
        window.close()

    QTimer.singleShot(0, close)
    assert app_module.main(["--models-dir", str(models_dir)]) == 0
    assert seen == [10]
