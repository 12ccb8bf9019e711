"""The window's Evaluate tab: a labelled folder, ticked models, a worker with progress and Cancel, results, export.

Real widgets, real ONNX Runtime sessions of the colour model of ``tests/desktop_app/evaluate_helpers.py``
(whose answers are known by hand) and real Pillow-written image folders.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_evaluate_view.py -q
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from desktop_app.core.report import REPORT_FILES
from desktop_app.core.runtime import ran_text
from desktop_app.view.evaluate_panel import EvaluatePanel
from desktop_app.view.main_window import MainWindow
from tests.desktop_app.evaluate_helpers import colour_model, image_folder, write_image
from tests.desktop_app.test_evaluate import COUNTS
from tests.desktop_app.view.helpers import drag_enter_event

SWAPPED = np.eye(3, dtype=np.float32)[[1, 0, 2]] * 4  # red <-> green: wrong on purpose


@pytest.fixture
def colour_models(tmp_path: Path) -> dict[str, Path]:
    bank = tmp_path / "bank"
    bank.mkdir()
    return {"good": colour_model(bank / "a-good.onnx"), "bad": colour_model(bank / "b-bad.onnx", SWAPPED)}


@pytest.fixture
def window(make_window, colour_models: dict[str, Path], qtbot) -> MainWindow:
    win = make_window(colour_models["good"], colour_models["bad"])
    win.evaluate.action.trigger()  # Model > Evaluate on Labelled Images… (Ctrl+E)
    assert win.evaluate_panel.isVisible()
    qtbot.waitUntil(lambda: win.evaluate_panel.models.count() == 2, timeout=5000)
    return win


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return image_folder(tmp_path / "data", COUNTS)


def _open(window: MainWindow, qtbot, folder: Path) -> None:
    with qtbot.waitSignal(window.evaluate.labelledRead, timeout=10000):
        window.evaluate.open_labelled(str(folder))


def _evaluate_both(window: MainWindow, qtbot, data: Path) -> list[tuple[int, int, int, int]]:
    _open(window, qtbot, data)
    panel = window.evaluate_panel
    panel.set_checked([str(window.models_dir / "a-good.onnx"), str(window.models_dir / "b-bad.onnx")])
    seen: list[tuple[int, int, int, int]] = []
    window.evaluate.progressed.connect(lambda *args: seen.append(args))
    with qtbot.waitSignal(window.evaluate.evaluated, timeout=30000):
        panel.evaluate_button.click()
    return seen


def test_the_empty_page_names_ctrl_e(window) -> None:
    page = window.empty_state
    assert "Ctrl+E" in page.evaluate_hint.text() and "Evaluate" in page.evaluate_hint.text()
    assert "Ctrl+O" in page.sub.text()  # beside the existing hints
    assert window.evaluate.action.shortcut().toString() == "Ctrl+E"  # the hint tells the truth


def test_the_current_model_is_ticked_and_the_data_line_describes_the_folder(window, data, qtbot) -> None:
    panel = window.evaluate_panel
    assert panel.checked_keys() == [str(window.current_entry().path)]
    assert not panel.evaluate_button.isEnabled()  # no data yet
    _open(window, qtbot, data)
    text = panel.data_label.text()
    assert "data" in text and "imagefolder" in text and "9 images" in text and "4 classes" in text, text
    assert panel.evaluate_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_two_models_fill_the_table_with_the_figures_known_by_hand(window, data, qtbot) -> None:
    seen = _evaluate_both(window, qtbot, data)
    rows = window.evaluate_panel.table_rows()
    assert [r[0].split(" · ")[0] for r in rows] == ["a-good", "b-bad"]
    assert [r[4] for r in rows] == ["87.50%", "25.00%"]  # 7 of 8 known images; 2 of 8 with red/green swapped
    ran = [ran_text(e.model) for e in window.evaluate.evaluations]  # the window's Engine choice: Auto
    assert [(r[1], r[2], r[3], r[5]) for r in rows] == [(ran[0], "8", "0", "—"), (ran[1], "8", "0", "—")]  # no top-5
    assert all(r[1].endswith("CPU, fp32") for r in rows), rows  # e.g. "ONNX Runtime CPU, fp32"
    assert all(float(r[6]) > 0 and float(r[7]) > 0 for r in rows)
    assert seen[-1] == (9, 9, 1, 2) and (9, 9, 0, 2) in seen
    assert window.evaluate_panel.export_button.isEnabled()
    assert "purple" in window.evaluate_panel.message.text()  # the class the models do not know is said
    chart = window.evaluate_panel.tradeoff
    assert chart.placed() == [0, 1] and 0 in chart.front()  # the good model: no other is more accurate
    assert chart.hover_text(1).startswith("b-bad") and "top-1: 25.00%" in chart.hover_text(1)


def test_the_heatmap_shows_the_selected_models_confusion_matrix(window, data, qtbot) -> None:
    _evaluate_both(window, qtbot, data)
    panel = window.evaluate_panel
    heatmap = panel.heatmap
    # data-set classes in order (Blue, green, red; purple is unknown), columns + "(other)"
    assert heatmap.labels() == (("blue", "green", "red"), ("blue", "green", "red", "(other)"))
    assert heatmap.matrix().tolist() == [[2, 0, 0, 0], [1, 2, 0, 0], [0, 0, 3, 0]]
    assert heatmap.matrix().tolist() == window.evaluate.evaluations[0].metrics.confusion.tolist()
    panel.table.selectRow(1)
    assert heatmap.matrix().tolist() == [[2, 0, 0, 0], [1, 0, 2, 0], [0, 3, 0, 0]]
    assert panel.pairs.item(0).text() == "red → green: 3"
    assert "true: green" in heatmap.cell_tooltip(1, 2) and "count: 2" in heatmap.cell_tooltip(1, 2)
    assert heatmap.grab().width() > 0


def test_clicking_a_cell_lists_its_images(window, data, qtbot) -> None:
    _evaluate_both(window, qtbot, data)
    panel = window.evaluate_panel
    rect = panel.heatmap.cell_rect(1, 0)  # true green, predicted blue: the blue image in green/
    qtbot.mouseClick(panel.heatmap, Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.heatmap.selected() == (1, 0)
    (line,) = panel.cell_image_lines()
    assert line.startswith("green/2.png — blue ") and line.endswith("%")
    assert "1 images of green predicted blue" in panel.cell_title.text()
    qtbot.waitUntil(lambda: panel.cell_thumbnails() == 1, timeout=10000)  # loaded in a job
    panel.table.selectRow(1)
    panel.pairs.itemClicked.emit(panel.pairs.item(0))  # red -> green, the worst pair of the swapped model
    assert panel.heatmap.selected() == (2, 1)
    assert sorted(line.split(" — ")[0] for line in panel.cell_image_lines()) == [f"red/{i}.png" for i in range(3)]
    qtbot.waitUntil(lambda: panel.cell_thumbnails() == 3, timeout=10000)


def test_an_image_that_cannot_be_read_gets_no_thumbnail_and_says_why(window, data, qtbot) -> None:
    _evaluate_both(window, qtbot, data)
    panel = window.evaluate_panel
    (data / "green" / "2.png").write_bytes(b"gone bad after the evaluation")
    panel.heatmap.select(1, 0)
    qtbot.waitUntil(lambda: "cannot be shown" in panel.cell_images.item(0).toolTip(), timeout=10000)
    assert panel.cell_thumbnails() == 0


def test_cancel_mid_run_stops_and_shows_nothing(window, tmp_path: Path, qtbot) -> None:
    many = tmp_path / "many"
    for i in range(2000):
        write_image(many / ("red" if i % 2 else "green") / f"{i}.png", "red" if i % 3 else "green", size=8)
    _open(window, qtbot, many)
    panel = window.evaluate_panel
    with qtbot.waitSignal(window.evaluate.progressed, timeout=20000) as blocker:  # arrives while it runs
        panel.evaluate_button.click()
    done, total, _index, _count = blocker.args
    assert total == 2000 and done < total
    assert panel.cancel_button.isEnabled() and not panel.evaluate_button.isEnabled()
    assert "of 2,000 images · model 1 of 1" in panel.progress.format()
    with qtbot.waitSignal(window.evaluate.evaluationCancelled, timeout=5000):
        panel.cancel_button.click()
    assert window.evaluate.pool.waitForDone(10000)  # the worker stopped after its current image
    qtbot.wait(200)  # whatever it still sent is delivered, and dropped
    assert panel.table.rowCount() == 0 and panel.heatmap.matrix().size == 0
    assert window.evaluate.evaluations == [] and not panel.export_button.isEnabled()
    assert "cancelled" in panel.message.text() and not panel.progress.isVisible()
    assert panel.evaluate_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_a_folder_without_class_folders_is_an_error_naming_it(window, tmp_path: Path, qtbot) -> None:
    flat = tmp_path / "flat photos"
    write_image(flat / "a.png", "red")
    with qtbot.waitSignal(window.evaluate.labelledFailed, timeout=10000) as blocker:
        window.evaluate.open_labelled(str(flat))
    assert str(flat) in blocker.args[0] and "no class subfolders" in blocker.args[0]
    panel = window.evaluate_panel
    assert str(flat) in panel.message.text() and panel.message.isVisible()
    assert not panel.evaluate_button.isEnabled()


def test_dropping_a_folder_on_the_tab_reads_it(window, data, qtbot) -> None:
    panel = window.evaluate_panel
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(data))])
    enter = drag_enter_event(QPoint(10, 10), mime)
    QApplication.sendEvent(panel, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    with qtbot.waitSignal(window.evaluate.labelledRead, timeout=10000) as blocker:
        QApplication.sendEvent(panel, drop)
    assert blocker.args[0].root == data


def test_an_image_dropped_on_the_tab_is_left_to_the_window(tmp_path: Path, qtbot) -> None:
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(write_image(tmp_path / "photo.png", "red")))])
    enter = drag_enter_event(QPoint(10, 10), mime)
    QApplication.sendEvent(panel, enter)
    assert not enter.isAccepted()


def test_export_writes_the_three_files(window, data, tmp_path: Path, qtbot, monkeypatch) -> None:
    _evaluate_both(window, qtbot, data)
    out = tmp_path / "report"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args, **kwargs: str(out))
    with qtbot.waitSignal(window.evaluate.reportWritten, timeout=30000) as blocker:
        window.evaluate_panel.export_button.click()
    assert [p.name for p in blocker.args[0]] == list(REPORT_FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    report = json.loads((out / "report.json").read_text())
    assert [m["name"].split(" · ")[0] for m in report["models"]] == ["a-good", "b-bad"]
    assert "Report written" in window.evaluate_panel.message.text()


def test_an_unwritable_export_folder_is_a_clear_message(window, data, tmp_path: Path, qtbot) -> None:
    _evaluate_both(window, qtbot, data)
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    with qtbot.waitSignal(window.evaluate.reportFailed, timeout=30000) as blocker:
        window.evaluate.export(blocked)
    assert str(blocked) in blocker.args[0] and "Could not write the report" in blocker.args[0]
    assert window.evaluate_panel.export_button.isEnabled()  # the results stay, a retry is possible


def test_a_model_that_does_not_load_is_a_message_naming_it(window, data, qtbot) -> None:
    _open(window, qtbot, data)
    panel = window.evaluate_panel
    bad = window.models_dir / "b-bad.onnx"
    panel.set_checked([str(window.models_dir / "a-good.onnx"), str(bad)])
    bad.unlink()  # gone between the scan and the run
    with qtbot.waitSignal(window.evaluate.evaluationFailed, timeout=30000) as blocker:
        panel.evaluate_button.click()
    assert blocker.args[0].startswith("A model did not load") and "b-bad.onnx" in blocker.args[0], blocker.args[0]
    assert panel.table.rowCount() == 0 and panel.message.text() == blocker.args[0]
    assert panel.evaluate_button.isEnabled() and not panel.cancel_button.isEnabled()


# ---- a 1000-class matrix: zoom, click, tooltips (the panel alone, fed a synthetic matrix) -----------------------
CLASSES = 1000


@pytest.fixture
def big_panel(qtbot) -> EvaluatePanel:
    rng = np.random.default_rng(0)
    matrix = np.diag(rng.integers(20, 50, CLASSES)).astype(np.int64)
    np.add.at(matrix, (rng.integers(0, CLASSES, 3000), rng.integers(0, CLASSES, 3000)), 1)
    matrix = np.concatenate([matrix, np.zeros((CLASSES, 1), np.int64)], axis=1)
    matrix[500, 480] = 5  # one known confusion
    names = [f"class_{i:04d}" for i in range(CLASSES)]
    panel = EvaluatePanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 760)
    panel.show()
    qtbot.waitExposed(panel)
    panel.heatmap.set_matrix(matrix, names, [*names, "(other)"])
    return panel


def test_a_1000_class_matrix_fits_and_paints_fast(big_panel: EvaluatePanel) -> None:
    view, heatmap = big_panel.heatmap_view, big_panel.heatmap
    assert heatmap.cell_size() < 1  # Fit: the whole matrix in the view
    viewport = view.area.viewport().size()
    assert heatmap.width() <= viewport.width() and heatmap.height() <= viewport.height()
    start = time.perf_counter()
    for cell in (heatmap.cell_size(), 1.0, 4.0, 20.0, 64.0):
        view._apply(cell)
        assert not view.grab().isNull()  # what shows (a grab of the whole heatmap would paint it all)
    assert time.perf_counter() - start < 2.0  # only the visible cells are painted
    assert "px per cell" in view.zoom_label.text()


def test_zoom_keeps_the_point_under_the_cursor_and_a_click_selects_that_cell(big_panel: EvaluatePanel, qtbot) -> None:
    view, heatmap = big_panel.heatmap_view, big_panel.heatmap
    viewport = view.area.viewport()
    view._apply(0.5)  # below a pixel, a pixel holds several cells: click at 2 px per cell, then zoom in
    view._apply(2.0)
    target = heatmap.cell_rect(500, 480).center()  # the cell of the known confusion
    view.area.ensureVisible(target.x(), target.y())
    on_screen = heatmap.mapTo(viewport, target)
    assert heatmap.cell_at(target) == (500, 480)
    for _ in range(12):  # Ctrl+wheel steps, around the cursor
        wheel = QWheelEvent(
            QPointF(heatmap.mapFrom(viewport, on_screen)),
            QPointF(heatmap.mapToGlobal(heatmap.mapFrom(viewport, on_screen))),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.ControlModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(heatmap, wheel)
    assert heatmap.cell_size() > 20  # readable now, with the names
    assert viewport.rect().contains(on_screen)
    under = heatmap.cell_at(heatmap.mapFrom(viewport, on_screen))
    assert under is not None and abs(under[0] - 500) <= 1 and abs(under[1] - 480) <= 1
    clicked = []
    for row, column in ((500, 480), (501, 481), (499, 479), (500, 481)):  # exactly the clicked cell
        rect = heatmap.cell_rect(row, column)
        if viewport.rect().contains(heatmap.mapTo(viewport, rect.center())):
            qtbot.mouseClick(heatmap, Qt.MouseButton.LeftButton, pos=rect.center())
            assert heatmap.selected() == (row, column)
            clicked.append((row, column))
    assert len(clicked) >= 3, clicked
    tip = heatmap.cell_tooltip(500, 480)
    assert tip.startswith("true: class_0500\npredicted: class_0480\ncount: 5"), tip


def test_zoom_buttons_and_a_plain_wheel(big_panel: EvaluatePanel) -> None:
    view, heatmap = big_panel.heatmap_view, big_panel.heatmap
    fit = heatmap.cell_size()
    view.zoom_in_button.click()
    assert heatmap.cell_size() == pytest.approx(fit * 1.25)
    view.zoom_out_button.click()
    view.zoom_out_button.click()
    assert heatmap.cell_size() == pytest.approx(fit)  # never below Fit
    for _ in range(40):
        view.zoom_in_button.click()
    assert heatmap.cell_size() == 64  # at most
    assert heatmap.cell_at(QPoint(2, 2)) is None  # the names painted over the cells are not cells
    view.fit_button.click()
    assert heatmap.cell_size() == pytest.approx(fit)
    plain = QWheelEvent(
        QPointF(50, 50),
        QPointF(50, 50),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(heatmap, plain)
    assert heatmap.cell_size() == pytest.approx(fit)  # a plain wheel scrolls, it does not zoom


def test_selecting_a_cell_at_a_high_zoom_scrolls_it_into_view(big_panel: EvaluatePanel) -> None:
    view, heatmap = big_panel.heatmap_view, big_panel.heatmap
    view._apply(40.0)
    heatmap.select(900, 950)  # as the most-confused list does
    centre = heatmap.mapTo(view.area.viewport(), heatmap.cell_rect(900, 950).center())
    assert view.area.viewport().rect().contains(centre)


# ---- options: top-k, split folders, a mapping file ---------------------------------------------------------------
def test_the_top_k_spin_box_sets_the_top_k_column(window, data, qtbot) -> None:
    _evaluate_both(window, qtbot, data)
    panel = window.evaluate_panel
    assert panel.top_k.value() == 5 and [r[5] for r in panel.table_rows()] == ["—", "—"]  # 3 labels: no top-5
    panel.table.selectRow(1)
    panel.top_k.setValue(3)
    assert [r[5] for r in panel.table_rows()] == ["100.00%", "100.00%"]  # all 3 labels: always in the top 3
    assert panel.table.horizontalHeaderItem(5).text() == "Top-3"
    panel.top_k.setValue(1)
    assert [r[5] for r in panel.table_rows()] == [r[4] for r in panel.table_rows()]  # top-1 twice
    assert panel.selected_row() == 1  # the selection stays
    assert (panel.top_k.minimum(), panel.top_k.maximum()) == (1, 10)


def test_a_folder_with_split_folders_offers_the_split(window, tmp_path: Path, qtbot) -> None:
    root = tmp_path / "splits"
    image_folder(root / "train", {"red": {"red": 2}, "green": {"green": 2}})
    image_folder(root / "test", {"red": {"red": 1}, "blue": {"blue": 1}})
    panel = window.evaluate_panel
    assert not panel.split.isVisibleTo(panel)  # hidden until a folder with splits is read
    _open(window, qtbot, root)
    assert panel.split.isVisibleTo(panel)
    assert [panel.split.itemText(i) for i in range(panel.split.count())] == ["test, else val", "train", "test"]
    assert window.evaluate.labelled is not None and window.evaluate.labelled.split == "test"
    with qtbot.waitSignal(window.evaluate.labelledRead, timeout=10000) as blocker:
        panel.split.setCurrentIndex(1)
    assert blocker.args[0].split == "train" and len(blocker.args[0].items) == 4
    assert "split train" in panel.data_label.text() and panel.split.currentText() == "train"


def test_a_train_only_folder_can_still_be_read_by_choosing_train(window, tmp_path: Path, qtbot) -> None:
    root = tmp_path / "train only"
    image_folder(root / "train", {"red": {"red": 2}})
    with qtbot.waitSignal(window.evaluate.labelledFailed, timeout=10000) as blocker:
        window.evaluate.open_labelled(str(root))
    assert "train" in blocker.args[0]
    panel = window.evaluate_panel
    assert panel.split.isVisibleTo(panel)
    with qtbot.waitSignal(window.evaluate.labelledRead, timeout=10000):
        panel.split.setCurrentIndex(panel.split.findText("train"))
    assert panel.evaluate_button.isEnabled()


def test_a_mapping_file_matches_class_folders_to_labels(window, tmp_path: Path, qtbot, monkeypatch) -> None:
    root = image_folder(tmp_path / "french", {"rouge": {"red": 2}, "vert": {"green": 2}, "bleu": {"blue": 1}})
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("class,label\nrouge,red\nvert,green\nbleu,blue\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *args, **kwargs: (str(mapping), ""))
    panel = window.evaluate_panel
    assert not panel.clear_mapping_button.isVisibleTo(panel)
    with qtbot.waitSignal(window.evaluate.mappingRead, timeout=10000):
        panel.mapping_button.click()
    assert "mapping.csv" in panel.mapping_label.text() and "3 classes" in panel.mapping_label.text()
    assert panel.clear_mapping_button.isVisibleTo(panel)
    _open(window, qtbot, root)
    panel.set_checked([str(window.models_dir / "a-good.onnx")])
    with qtbot.waitSignal(window.evaluate.evaluated, timeout=30000):
        panel.evaluate_button.click()
    assert [r[4] for r in panel.table_rows()] == ["100.00%"]  # every class matched through the file
    panel.clear_mapping_button.click()
    assert window.evaluate.mapping is None and "no mapping file" in panel.mapping_label.text()


def test_a_bad_mapping_file_is_a_message_naming_it(window, tmp_path: Path, qtbot) -> None:
    bad = tmp_path / "bad mapping.csv"
    bad.write_text("rouge,red,extra\n")
    with qtbot.waitSignal(window.evaluate.mappingFailed, timeout=10000) as blocker:
        window.evaluate.load_mapping(str(bad))
    assert str(bad) in blocker.args[0] and "class,label" in blocker.args[0]
    assert window.evaluate.mapping is None and blocker.args[0] in window.evaluate_panel.message.text()
