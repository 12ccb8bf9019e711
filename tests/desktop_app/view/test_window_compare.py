"""The Compare tab inside the real window: Ctrl+Shift+C compares the ticked models on the selected image.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest -q tests/desktop_app/view/test_window_compare.py
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence

from tests.desktop_app.view.helpers import drop_paths


def test_compare_action_shows_the_ticked_models_side_by_side_and_follows_the_selection(
    make_window, model_bank, photos, qtbot
) -> None:
    window = make_window(model_bank["tiny"], model_bank["trained"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"], photos["coffee"]])
    assert window.compare.action.shortcut() == QKeySequence("Ctrl+Shift+C")
    window.compare_panel.set_checked([str(entry.path) for entry in window.entries])
    with qtbot.waitSignal(window.compare.finished, timeout=30000) as first:
        window.compare.action.trigger()
    assert window.tabs.currentWidget() is window.compare_panel
    columns = window.compare_panel.columns()
    assert len(columns) == 2 and all(len(column.rows()) == 5 for column in columns)
    assert [c.name for c in first.args[0].columns] == [e.name for e in window.entries]
    with qtbot.waitSignal(window.compare.finished, timeout=30000) as second:
        window.image_list.setCurrentRow(1)  # another image: the comparison follows it
    assert second.args[0] is not first.args[0]
    assert "coffee.png" in window.compare_panel.image_label.text()
