"""The Prediction view's "Where?" buttons: one click per top-5 class shows that class's map in the Explain tab.

``QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_prediction_where.py -q -n 0``
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

TIMEOUT = 20000


def test_where_shows_the_rows_class_in_the_explain_tab(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    window.add_paths([str(photos["chelsea"])])
    qtbot.waitUntil(lambda: any(r.scores for r in window.image_list.records.values()), timeout=TIMEOUT)
    window.image_list.setCurrentRow(0)
    panel = window.result_panel
    rows = panel.rows()
    assert len(rows) == 5
    third = panel.findChild(QToolButton, "whereButton2")
    assert third is not None and third.isVisibleTo(panel) and rows[2][0] in third.toolTip()
    with qtbot.waitSignal(window.explain.mapShown, timeout=TIMEOUT) as shown:
        qtbot.mouseClick(third, Qt.MouseButton.LeftButton)
    explanation = shown.args[0]
    labels = window.loaded.model.entry.labels
    assert explanation.result.class_index == labels.index(rows[2][0]) and explanation.result.label == rows[2][0]
    assert window.tabs.currentWidget() is window.explain_panel
    assert window.explain_panel.checked_class() == explanation.result.class_index


def test_where_for_a_label_the_model_lacks_is_said(make_window, model_bank) -> None:
    window = make_window(model_bank["tiny"])
    window.image_tabs.explain_label("no such class")
    assert "No class named 'no such class'" in window.message_label.text()
    panel = window.result_panel
    panel.clear()
    assert not panel.findChild(QToolButton, "whereButton0").isVisibleTo(panel)  # no scores, no buttons
