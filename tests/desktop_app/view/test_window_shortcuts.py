"""Shortcuts and menus of the window: Copy (Ctrl+C), the image list's context menu, the models folder, tab
switching, and the split and tab remembered with the settings.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_window_shortcuts.py -q -n 0
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QTableWidget

from desktop_app.view.batch import EMPTY_PAGE
from desktop_app.view.settings import TABS, AppSettings
from desktop_app.view.window_actions import result_text
from tests.desktop_app.view.convention_helpers import caught_urls
from tests.desktop_app.view.helpers import drop_paths
from tests.helpers import DATA


def _classified(window, qtbot, paths: list[Path]) -> None:
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        assert drop_paths(window, paths)


def _press(window, qtbot, keys: str) -> None:
    """Type ``keys`` (``Ctrl+2``) to the active window, as a user would."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)
    combination = QKeySequence(keys)[0]
    qtbot.keyClick(window, combination.key(), combination.keyboardModifiers())


def test_ctrl_c_copies_the_selected_images_top5_as_text(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["trained"])
    _classified(window, qtbot, [photos["chelsea"], photos["coffee"]])
    window.image_list.setCurrentRow(1)
    record = window.image_list.current_record()
    QGuiApplication.clipboard().clear()
    window.image_list.setFocus()
    _press(window, qtbot, "Ctrl+C")
    text = QGuiApplication.clipboard().text()
    lines = text.splitlines()
    assert lines[0] == f"coffee.png — {window.loaded.model.entry.name}"
    assert len(lines) == 6
    for rank, (line, (label, prob)) in enumerate(zip(lines[1:], record.scores[:5], strict=True), 1):
        assert line == f"{rank}. {label} — {100 * prob:.2f}%"
    assert text == result_text(record, window.loaded.model.entry.name)
    assert not QGuiApplication.clipboard().mimeData().hasHtml()
    QGuiApplication.clipboard().clear()
    window.result_panel.setFocus()
    _press(window, qtbot, "Ctrl+C")  # on the Prediction tab too
    assert QGuiApplication.clipboard().text() == text
    window.tabs.setCurrentWidget(window.timing_panel)
    table = window.timing_panel.findChild(QTableWidget)
    table.setFocus()
    assert QApplication.focusWidget() is table
    QGuiApplication.clipboard().clear()
    _press(window, qtbot, "Ctrl+C")  # the Timing tab's table keeps Ctrl+C for its own cells
    assert QGuiApplication.clipboard().text() == ""


def test_the_context_menu_copies_the_path_shows_the_folder_and_removes(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    _classified(window, qtbot, [photos["chelsea"], photos["coffee"]])
    window.image_list.setCurrentRow(0)
    actions = window.list_actions
    menu = actions.menu()
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == ["&Copy Result", "Copy &Path", "Open Containing &Folder", "&Remove from List", "&Clear Images"]
    assert all(a.isEnabled() for a in menu.actions())
    assert not menu.grab().isNull()  # what a user sees renders
    actions.copy_path_action.trigger()
    assert QGuiApplication.clipboard().text() == str(photos["chelsea"].absolute())
    QGuiApplication.clipboard().clear()
    with caught_urls() as urls:
        actions.show_folder_action.trigger()
    assert [u.toLocalFile() for u in urls] == [str(photos["chelsea"].parent)]
    actions.remove_action.trigger()
    assert [r.splitlines()[0] for r in window.image_list.row_texts()] == ["coffee.png"]
    assert window.result_panel.title.text() == "coffee.png"  # the next row is shown
    window.image_list.setFocus()
    _press(window, qtbot, "Del")
    assert window.image_list.records == {}
    assert window.stack.currentIndex() == EMPTY_PAGE


def test_a_pasted_image_has_no_path_to_copy(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    QGuiApplication.clipboard().setImage(QImage(str(DATA / "coffee.png")))
    try:
        with qtbot.waitSignal(window.batchFinished, timeout=15000):
            window.paste_action.trigger()
    finally:
        QGuiApplication.clipboard().clear()
    window.image_list.setCurrentRow(0)
    menu = window.list_actions.menu()
    enabled = {a.text(): a.isEnabled() for a in menu.actions() if not a.isSeparator()}
    assert enabled["&Copy Result"] and not enabled["Copy &Path"] and not enabled["Open Containing &Folder"]
    menu.aboutToHide.emit()  # the menu closes: the shortcuts work again
    window.list_actions.copy_path_action.trigger()
    assert window.message_label.text() == "<clipboard> was pasted: it has no file"


def test_removing_a_row_while_classifying_finishes_the_others(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["slow"])
    with qtbot.waitSignal(window.batchFinished, timeout=30000):
        assert drop_paths(window, [photos["chelsea"], photos["coffee"]])
        qtbot.waitUntil(lambda: len(window.image_list.records) == 2, timeout=10000)
        window.list_actions.remove(next(iter(window.image_list.records)))
    records = list(window.image_list.records.values())
    assert [r.title for r in records] == ["coffee.png"] and records[0].scores


def test_removing_the_last_row_waiting_ends_the_pass(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["slow"])
    _classified(window, qtbot, [photos["chelsea"]])
    assert drop_paths(window, [photos["coffee"]])
    qtbot.waitUntil(lambda: window.batch.pending == 1, timeout=10000)
    waiting = next(key for key, r in window.image_list.records.items() if r.title == "coffee.png")
    with qtbot.waitSignal(window.batchFinished, timeout=5000):
        window.list_actions.remove(waiting)
    assert window.batch.pending == 0
    assert window.batch_progress.text() == "1 classified, 0 failed" and not window.batch_progress.running()


def test_open_models_folder_creates_and_shows_it(make_window, tmp_path: Path) -> None:
    window = make_window(folder=tmp_path / "models", wait_loaded=False)
    window.models_dir = tmp_path / "not-yet" / "models"
    with caught_urls() as urls:
        window.models_folder_action.trigger()
    assert window.models_dir.is_dir()
    assert [u.toLocalFile() for u in urls] == [str(window.models_dir)]


def test_ctrl_number_and_ctrl_tab_switch_tabs(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    _classified(window, qtbot, [DATA / "chelsea.png"])
    _press(window, qtbot, "Ctrl+4")  # Prediction, Explain, Compare, Timing, Evaluate, Inspect, Model info
    assert window.tabs.currentWidget() is window.timing_panel
    _press(window, qtbot, "Ctrl+7")
    assert window.tabs.currentWidget() is window.info_panel
    _press(window, qtbot, "Ctrl+PgDown")
    assert window.tabs.currentIndex() == 0  # wraps around
    _press(window, qtbot, "Ctrl+PgUp")
    assert window.tabs.currentIndex() == window.tabs.count() - 1
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    shortcuts = [a.shortcut().toString() for a in view.actions()][: window.tabs.count()]
    assert shortcuts == [f"Ctrl+{i}" for i in range(1, window.tabs.count() + 1)]


def test_the_split_and_the_tab_are_remembered(make_window, model_bank, settings: AppSettings, tmp_path: Path) -> None:
    window = make_window(model_bank["tiny"])
    assert [window.tabs.tabText(i).lower() for i in range(window.tabs.count())] == list(TABS)
    window.splitter.setSizes([420, 700])
    sizes = window.splitter.sizes()
    window.tabs.setCurrentWidget(window.timing_panel)
    window.close()
    stored = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert stored.value("window/tab") == "timing"
    again = make_window()
    assert again.tabs.currentWidget() is again.timing_panel
    assert again.splitter.sizes() == sizes


def test_bad_split_and_tab_settings_are_reported_and_ignored(make_window, model_bank, tmp_path: Path) -> None:
    ini = tmp_path / "edited.ini"
    ini.write_text("[window]\nsplitter=wide, narrow\ntab=Hidden\n")
    window = make_window(model_bank["tiny"], app_settings=AppSettings(QSettings(str(ini), QSettings.Format.IniFormat)))
    problems = window.settings.problems
    assert f"{ini}: [window] splitter: 'wide' is not a whole number; ignored" in problems
    assert any(p.startswith(f"{ini}: [window] tab: 'hidden' is not one of the tabs") for p in problems), problems
    assert window.tabs.currentIndex() == 0
    assert window.splitter.sizes()[0] > 0


def test_the_empty_page_names_both_open_shortcuts(make_window) -> None:
    window = make_window(wait_loaded=False)
    window.resize(1180, 760)
    assert "Ctrl+O" in window.empty_state.sub.text() and "Ctrl+Shift+O" in window.empty_state.sub.text()
    assert not window.grab().isNull()  # what a user sees renders
    assert window.empty_state.sub.sizeHint().width() <= window.empty_state.width()
