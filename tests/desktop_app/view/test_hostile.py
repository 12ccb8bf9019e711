"""Markup in labels, model names and file names is shown as text: the window never renders it as Qt rich text.

A label ``<img src=/any/local/file>`` made the window read and draw that file, and ``<img src=FIFO>``
froze it for ever. Here a model whose labels and display name hold HTML, a foreign model and a broken
file whose *file names* hold HTML, and an image whose file name holds HTML go through every view
(real drop, prediction, timing, model info, tooltips). Checked: every QLabel showing such text is
plain text (or our own markup with the text escaped) and reads ``<b>`` literally; no tooltip holds raw
markup; no green pixel of the referenced image is drawn; and, in a subprocess, a FIFO as ``src``
does not block the window.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_hostile.py -q
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from tests.desktop_app.view.helpers import drop_paths
from tests.desktop_app.view.hostile import (
    every_tooltip,
    green_image,
    green_pixels,
    hostile_files,
    show_every_tooltip,
    visit_every_tab,
)
from tests.helpers import REPO


def test_markup_from_files_is_shown_literally_and_never_rendered(
    make_window, tmp_path: Path, monkeypatch, qtbot
) -> None:
    green = green_image(tmp_path / "green.png")
    monkeypatch.chdir(tmp_path)  # where a relative src in a file name would be looked up
    models, image = hostile_files(tmp_path / "hostile", str(green), green.name)
    window = make_window(folder=models, wait_loaded=False)
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=15000)
    assert window.loaded.model.entry.path.name == "<b>foreign<img src=green.png>.onnx"  # sorted first
    hostile = next(i for i, e in enumerate(window.entries) if e.path.name == "hostile.onnx")
    with qtbot.waitSignal(window.modelLoaded, timeout=15000):
        window.model_combo.activated.emit(hostile)
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        assert drop_paths(window, [image])
    with qtbot.waitSignal(window.timing.profiled, timeout=30000):
        window.timing.profile(2)

    combo_texts = [window.model_combo.itemText(i) for i in range(window.model_combo.count())]
    assert "<b>bold</b> net · tiny-10 · imagenet · fp32" in combo_texts
    assert any(t.startswith("⚠ <i>broken<img src=green.png>.onnx — unavailable") for t in combo_texts)
    assert window.windowTitle() == "<b>bold</b> net · tiny-10 · imagenet · fp32 — CNN Workbench"
    assert window.image_list.row_texts()[0].startswith(f"{image.name}\n<b>bold ")
    assert window.result_panel.title.text() == image.name
    names = [label for label, _ in window.result_panel.rows()]
    assert len(names) == 5 and all(n.startswith("<b>bold ") and "<img src=" in n for n in names)
    assert "<b>bold</b> net" in window.info_panel.text()  # the model tab's HTML escapes it
    assert window.info_panel.label_list.item(0).text().startswith("0: <b>bold 0</b><img src=")
    summary = window.timing_panel.summary
    assert summary.textFormat() == Qt.TextFormat.RichText and "&lt;b&gt;cat&lt;img" in summary.text()

    for label in window.findChildren(QLabel):
        text = label.text()
        if label.textFormat() == Qt.TextFormat.PlainText:
            continue
        assert label.textFormat() == Qt.TextFormat.RichText, (label.objectName(), text)  # never AutoText
        assert "<img" not in text and "<b>bold" not in text and "<b>cat" not in text, text
    literal = [label for label in window.findChildren(QLabel) if "<b>bold" in label.text() or "<b>cat" in label.text()]
    assert len(literal) >= 6  # result title and five label rows at least
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in literal)

    tips = every_tooltip(window)
    assert any("&lt;b&gt;bold" in tip for _, tip in tips)  # the label rows' tooltips, escaped
    assert all("<img" not in tip for _, tip in tips), [tip for _, tip in tips if "<img" in tip]
    assert show_every_tooltip(window) == len(tips)
    shots = visit_every_tab(window)
    assert [green_pixels(shot) for shot in shots] == [0] * len(shots)


def test_a_fifo_as_image_source_does_not_block_the_window(tmp_path: Path) -> None:
    """``<img src=FIFO>`` in any text the window shows would block it for ever: run it where it can time out."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from PySide6.QtCore import QEventLoop, QSettings, QTimer
        from PySide6.QtWidgets import QApplication
        sys.path.insert(0, {str(REPO)!r})
        app = QApplication(["hostile"])
        from desktop_app.view.main_window import MainWindow
        from desktop_app.view.settings import AppSettings
        from tests.desktop_app.view.helpers import drop_paths
        from tests.desktop_app.view.hostile import hostile_files, show_every_tooltip, visit_every_tab

        def wait(signal, what):
            loop, fired = QEventLoop(), []
            signal.connect(lambda *_: (fired.append(1), loop.quit()))
            QTimer.singleShot(30000, loop.quit)
            loop.exec()
            if not fired:
                raise SystemExit("timed out waiting for " + what)

        root = Path({str(tmp_path)!r})
        models, image = hostile_files(root / "hostile", {str(fifo)!r}, {fifo.name!r})
        settings = AppSettings(QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat))
        settings.last_model = "hostile.onnx"
        window = MainWindow(models_dir=models, settings=settings)
        window.show()
        wait(window.modelLoaded, "the model")
        drop_paths(window, [image])
        wait(window.batchFinished, "the classification")
        window.timing.profile(2)
        wait(window.timing.profiled, "the profile")
        tips = show_every_tooltip(window)
        shots = visit_every_tab(window)
        print("rows", len(window.result_panel.rows()), "tooltips", tips, "shots", len(shots), flush=True)
        window.close()
        """
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the window blocked for 120 s (reading the FIFO named in rich text?): {exc.stdout!r}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("rows 5 tooltips "), done.stdout
