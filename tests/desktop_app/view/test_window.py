"""The main window driven offscreen: empty states, real drag-and-drop, results, bad files, models, providers.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_window.py -q
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QUrl
from PySide6.QtGui import QGuiApplication, QImage

from tests.desktop_app.view.helpers import drop_paths
from tests.helpers import DATA

PERCENT = re.compile(r"^\d{1,3}\.\d%$")


def test_no_model_shows_the_create_command(make_window, models_dir: Path) -> None:
    window = make_window(wait_loaded=False)
    assert window.stack.currentWidget() is window.empty_state
    assert not window.empty_state.no_model.isHidden()
    command = window.empty_state.command.text()
    assert command.startswith("python -m exporter export --default")
    assert str(models_dir) in command  # a non-default folder is named in the command
    assert window.model_combo.count() == 0
    assert "No usable model" in window.provider_label.text()


def test_model_appearing_later_is_picked_up_by_the_watcher(make_window, models_dir: Path, model_bank, qtbot) -> None:
    window = make_window(wait_loaded=False)
    (models_dir / "tiny.onnx").write_bytes(model_bank["tiny"].read_bytes())
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=15000)
    assert window.empty_state.no_model.isHidden()
    assert window.model_combo.count() == 1


def test_drop_files_and_a_folder_classifies_each(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["trained"])
    folder = photos["chelsea"].parent
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        assert drop_paths(window, [folder])
    texts = window.image_list.row_texts()
    assert [t.splitlines()[0] for t in texts] == ["chelsea.png", "coffee.png"]  # recursive, .txt skipped
    for text in texts:
        assert re.search(r"thing \d — \d{1,3}\.\d%$", text), text
    rows = window.result_panel.rows()
    assert len(rows) == 5
    assert all(PERCENT.match(pct) for _, pct in rows)
    assert window.result_panel.title.text() == "chelsea.png"
    window.image_list.setCurrentRow(1)
    assert window.result_panel.title.text() == "coffee.png"
    assert len(window.result_panel.rows()) == 5


def test_bad_files_get_a_message_and_the_others_still_classify(
    make_window, model_bank, photos, bad_images, qtbot
) -> None:
    window = make_window(model_bank["tiny"])
    paths = [photos["chelsea"], *bad_images.values()]
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, paths)
    records = list(window.image_list.records.values())
    assert records[0].scores and records[0].error is None
    errors = {r.title: r.error for r in records[1:]}
    assert all(errors.values()), errors
    assert "empty" in errors["empty.png"]
    assert "not an image" in errors["text.jpg"]
    assert "truncated" in errors["truncated.png"] or "corrupt" in errors["truncated.png"]
    assert "SVG" in errors["drawing.svg"]
    assert "too large" in errors["bomb.png"]
    assert "not found" in errors["vanished.png"]
    window.image_list.setCurrentRow(4)
    assert window.result_panel.message.text() == errors["drawing.svg"]
    assert window.result_panel.rows() == []


def test_switching_model_reclassifies(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["tiny"], model_bank["trained"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"]])
    before = window.image_list.records[window.image_list.current_key()].scores
    other = 1 - window.model_combo.currentIndex()
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        window.model_combo.activated.emit(other)  # what a user's pick in the dropdown emits
    assert window.loaded.model.entry == window.entries[other]
    after = window.image_list.records[window.image_list.current_key()].scores
    assert after and after != before
    assert window.settings.last_model == window.entries[other].path.name


def test_model_names_untrained_and_unavailable_files(make_window, model_bank) -> None:
    window = make_window(model_bank["tiny"], model_bank["trained"], model_bank["empty"], model_bank["garbage"])
    combo = window.model_combo
    texts = [combo.itemText(i) for i in range(combo.count())]
    assert "tinynet · tiny-10 · UNTRAINED random weights · fp32" in texts
    assert "trainednet · tiny-10 · imagenet · fp32" in texts
    bad = [i for i in range(combo.count()) if "unavailable" in combo.itemText(i)]
    assert len(bad) == 2
    for i in bad:
        assert not combo.model().item(i).isEnabled()
        assert combo.itemData(i, 3)  # ToolTipRole carries the full reason
    assert any("empty" in combo.itemText(i) for i in bad)


def test_cuda_request_shows_the_provider_that_ran_and_why(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    assert "CPUExecutionProvider" in window.provider_label.text()
    with qtbot.waitSignal(window.modelLoaded, timeout=30000):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData("cuda"))
    text = window.provider_label.text()
    ran = window.loaded.model.providers[0]
    assert text.startswith(f"Ran on: {ran}")  # what session.get_providers() says, never what was asked for
    if ran != "CUDAExecutionProvider":  # always the case on machines without a working CUDA setup
        assert "CUDA requested, fell back:" in text
        assert window.loaded.model.fallback_reason in text
    assert window.settings.provider == "cuda"
    with qtbot.waitSignal(window.modelLoaded, timeout=30000):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData("cpu"))
    assert "fell back" not in window.provider_label.text()
    assert len(window.cache) == 3  # one session per (model, provider): auto, cuda, cpu


def test_golden_mismatch_is_a_visible_warning(make_window, model_bank) -> None:
    window = make_window(model_bank["mismatch"])
    assert "MISMATCH" in window.golden_label.text()
    assert "FAILED" in window.info_panel.text()


def test_foreign_model_shows_its_assumptions(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["foreign"])
    assert window.model_combo.currentText() == "foreign"
    info = window.info_panel.text()
    assert "assumed ImageNet mean/std" in info
    assert "class numbers" in info
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"]])
    assert window.result_panel.rows()[0][0].startswith("class ")


def test_model_info_shows_metadata_and_untrained_warning(make_window, model_bank) -> None:
    window = make_window(model_bank["tiny"])
    info = window.info_panel.text()
    for expected in ("tinynet", "UNTRAINED", "resize: 37", "golden self-test passed", "CPUExecutionProvider"):
        assert expected in info, expected
    assert window.info_panel.labels_title.text() == "Labels (10)"
    assert window.info_panel.label_list.count() == 10
    assert window.golden_label.text() == "golden ✓"


def test_paste_image_and_file_urls(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    QGuiApplication.clipboard().setImage(QImage(str(DATA / "coffee.png")))
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        window.paste_action.trigger()
    assert window.image_list.row_texts()[0].startswith("<clipboard>")
    assert len(window.result_panel.rows()) == 5
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photos["coffee"]))])
    QGuiApplication.clipboard().setMimeData(mime)  # the clipboard owns it from now on
    del mime
    try:
        with qtbot.waitSignal(window.batchFinished, timeout=15000):
            window.paste_action.trigger()
    finally:
        QGuiApplication.clipboard().clear()  # no clipboard data may outlive the test (crash at exit)
    assert [row.splitlines()[0] for row in window.image_list.row_texts()] == ["<clipboard>", "coffee.png"]  # appended


def test_drag_without_files_is_refused(make_window, model_bank) -> None:
    window = make_window(model_bank["tiny"])
    assert drop_paths(window, []) is False


def test_settings_persist_across_windows(make_window, model_bank, settings, qtbot, models_dir: Path) -> None:
    window = make_window(model_bank["tiny"], model_bank["trained"])
    second = 1 - window.model_combo.currentIndex()
    with qtbot.waitSignal(window.modelLoaded, timeout=15000):
        window.model_combo.activated.emit(second)
    with qtbot.waitSignal(window.modelLoaded, timeout=30000):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData("cpu"))
    window.resize(900, 640)
    chosen = window.entries[second].path.name
    window.close()
    again = make_window()
    assert again.loaded.model.entry.path.name == chosen
    assert again.provider() == "cpu"
    assert settings.geometry is not None


@pytest.mark.parametrize("bad", ["empty", "garbage"])
def test_only_bad_models_means_no_model_state(make_window, model_bank, bad: str) -> None:
    window = make_window(model_bank[bad], wait_loaded=False)
    assert window.loaded is None
    assert not window.empty_state.no_model.isHidden()
    assert "unavailable" in window.model_combo.itemText(0)


def test_models_folder_created_later_is_noticed(make_window, model_bank, tmp_path: Path, qtbot) -> None:
    later = tmp_path / "not-yet" / "models"
    later.parent.mkdir()
    window = make_window(folder=later, wait_loaded=False)
    assert "No usable model" in window.provider_label.text()
    later.mkdir()
    qtbot.waitUntil(lambda: window.scan_count >= 2, timeout=10000)
    (later / "m.onnx").write_bytes(model_bank["tiny"].read_bytes())
    qtbot.waitUntil(lambda: window.loaded is not None, timeout=15000)


def test_model_that_onnx_runtime_refuses_becomes_unavailable(make_window, model_bank, models_dir: Path, qtbot) -> None:
    import onnx

    model = onnx.load(str(model_bank["tiny"]))
    model.graph.node[0].op_type = "NoSuchOperator"
    onnx.save(model, str(models_dir / "a-refused.onnx"))
    window = make_window(model_bank["tiny"], wait_loaded=False)
    qtbot.waitUntil(lambda: "unavailable" in window.model_combo.itemText(0), timeout=15000)
    assert not window.model_combo.model().item(0).isEnabled()
    assert "a-refused.onnx" in window.model_combo.itemData(0, 3)
    with qtbot.waitSignal(window.modelLoaded, timeout=15000):
        window.model_combo.activated.emit(1)
    assert window.loaded.model.entry.path.name == model_bank["tiny"].name


def test_previews_beyond_the_cache_are_decoded_again(
    make_window, model_bank, photos, tmp_path: Path, qtbot, monkeypatch
) -> None:
    from desktop_app.view import image_list

    monkeypatch.setattr(image_list, "PREVIEW_CACHE", 2)
    window = make_window(model_bank["tiny"])
    folder = tmp_path / "five"
    folder.mkdir()
    for i in range(5):
        (folder / f"p{i}.png").write_bytes(photos["coffee"].read_bytes())
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [folder])
    records = list(window.image_list.records.values())
    assert [r.preview is not None for r in records] == [True, False, False, False, False]  # only the one on show
    for row in (3, 4):  # selecting a row decodes its preview; the cache keeps two, and always the current one
        window.image_list.setCurrentRow(row)
        qtbot.waitUntil(lambda row=row: records[row].preview is not None, timeout=10000)
    assert records[0].preview is None  # evicted
    window.image_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: records[0].preview is not None, timeout=10000)
    assert not window.result_panel.preview.pixmap().isNull()


def test_folder_without_images_and_empty_clipboard_say_so(make_window, model_bank, tmp_path: Path, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    empty = tmp_path / "nothing-here"
    empty.mkdir()
    (empty / "readme.txt").write_text("no photos")
    drop_paths(window, [empty])
    qtbot.waitUntil(lambda: "No images found" in window.message_label.text(), timeout=10000)
    assert window.stack.currentWidget() is window.empty_state
    assert window.provider_label.text().startswith("Ran on: ")  # the provider stays visible beside messages
    QGuiApplication.clipboard().clear()
    window.paste_action.trigger()
    assert "no image" in window.message_label.text()


def test_drag_over_highlights_the_drop_hint(make_window, model_bank, photos) -> None:
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QDragLeaveEvent
    from PySide6.QtWidgets import QApplication

    from tests.desktop_app.view.helpers import drag_enter_event

    window = make_window(model_bank["tiny"])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photos["chelsea"]))])
    enter = drag_enter_event(QPoint(10, 10), mime)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    assert window.empty_state.hint.text() == "Release to classify"
    assert "1 item" in window.message_label.text()
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert window.empty_state.hint.text() == "Drop photos or a folder here"
    mime.setUrls([QUrl.fromLocalFile(str(model_bank["tiny"]))])  # a model, not a photo: the page says so
    QApplication.sendEvent(window, drag_enter_event(QPoint(10, 10), mime))
    assert window.empty_state.hint.text() == "Release to open the model"
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert window.image_list.count() == 0  # nothing was dropped


def test_switching_back_reuses_the_cached_session(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["tiny"], model_bank["trained"])
    first = window.loaded.model
    assert window.load_label.text().startswith("loaded in ")
    for index in (1 - window.model_combo.currentIndex(), window.model_combo.currentIndex()):
        with qtbot.waitSignal(window.modelLoaded, timeout=15000):
            window.model_combo.activated.emit(index)
    assert window.loaded.model is first
    assert window.load_label.text() == "session from cache"


def test_images_dropped_during_a_model_switch_are_kept(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["tiny"], model_bank["trained"])
    other = 1 - window.model_combo.currentIndex()
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"]])
        window.model_combo.activated.emit(other)  # before the dropped folder was even listed
    assert window.loaded.model.entry == window.entries[other]
    assert window.image_list.row_texts()[0].startswith("chelsea.png\nthing")


def test_results_of_a_cancelled_pass_are_not_shown(make_window, model_bank, photos, tmp_path: Path, qtbot) -> None:
    window = make_window(model_bank["slow"], model_bank["tiny"])
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):  # batches of 8 on the slow model: the pass is still running at the switch
        (folder / f"c{i}.png").write_bytes(photos["chelsea"].read_bytes())
    finished: list[str] = []
    window.batchFinished.connect(lambda: finished.append(window.loaded.model.entry.path.name))
    with qtbot.waitSignal(window.imageClassified, timeout=30000):
        drop_paths(window, [folder])
    slow_name = window.loaded.model.entry.path.name
    with qtbot.waitSignal(window.batchFinished, timeout=30000):
        window.model_combo.activated.emit(1 - window.model_combo.currentIndex())
    assert finished == [window.loaded.model.entry.path.name] and finished[0] != slow_name
    assert all(r.scores and r.scores[0][0].startswith("thing") for r in window.image_list.records.values())
