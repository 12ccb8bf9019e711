"""A dropped folder with a symbolic-link loop or a FIFO: each is one listed row with its reason, the rest classify.

Before, a symlink loop refused the whole folder (0 of 2 good images) and a FIFO named like an image
vanished without a word. The window now shows what ``imageio.find_image_files`` reports.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_folder_problems.py -q
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.desktop_app.view.helpers import drop_paths
from tests.helpers import DATA


def test_loop_and_fifo_are_listed_and_the_good_images_classify(make_window, model_bank, tmp_path: Path, qtbot) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(DATA / "chelsea.png", folder / "a-chelsea.png")
    shutil.copy(DATA / "coffee.png", folder / "b-coffee.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")  # a link to itself: ELOOP
    os.mkfifo(folder / "pipe.jpg")  # opening it for reading would block for ever
    window = make_window(model_bank["tiny"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        assert drop_paths(window, [folder])
    records = list(window.image_list.records.values())
    assert [r.title for r in records] == ["a-chelsea.png", "b-coffee.png", "loop.png", "pipe.jpg"]
    assert all(r.scores and r.error is None for r in records[:2])
    loop, pipe = records[2:]
    assert "symbolic link loop" in loop.error and "loop.png" in loop.error
    assert "not a regular file" in pipe.error and "pipe.jpg" in pipe.error
    texts = window.image_list.row_texts()
    assert texts[2] == "loop.png\n⚠ symbolic link loop, not followed"
    assert texts[3].startswith("pipe.jpg\n⚠ not a regular file")
    assert "2 item(s) skipped" in window.message_label.text()
    window.image_list.setCurrentRow(3)
    assert window.result_panel.message.text() == pipe.error
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        window.model_combo.activated.emit(0)  # a reload reclassifies the images, never the skipped paths
    assert window.image_list.row_texts()[2:] == texts[2:]
