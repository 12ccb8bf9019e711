"""The Timing tab's polish (issue 18): Profile is Ctrl+Shift+P (not Print), one default run count for the GUI and
the command line, grouping by op type and provider, the wall-time gap and load lines, the export's suggested
name and JSON environment, and a table that fits the default window without a horizontal scroll bar.

Real tiny ONNX models (the session's ``model_bank``), a real photo, the real controller and panel.
``QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_timing_polish.py -q``
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QFileDialog

from desktop_app.cli import build_parser
from desktop_app.core.catalog import inspect_model
from desktop_app.core.profiling import DEFAULT_RUNS
from desktop_app.core.runtime import load_model
from desktop_app.view.image_list import ImageRecord
from desktop_app.view.settings import AppSettings
from desktop_app.view.timing import PROFILE_SHORTCUT, TimingController, suggested_name
from desktop_app.view.timing_panel import OP_TYPES, PROVIDERS, TimingPanel, TimingRow, TimingTable
from desktop_app.view.workers import TaskRunner
from tests.helpers import DATA
from workbench.environment import busy_note

PHOTO = DATA / "chelsea.png"


@pytest.fixture
def timing(qtbot, model_bank: dict[str, Path], tmp_path: Path) -> Iterator[TimingController]:
    """A controller and panel with the tiny model loaded on the CPU and chelsea.png selected, profiled once."""
    model = load_model(inspect_model(model_bank["tiny"]), "cpu")
    panel = TimingPanel()
    qtbot.addWidget(panel)
    runner = TaskRunner()
    controller = TimingController(
        panel,
        runner,
        notify=lambda _text, _ms: None,
        current_model=lambda: model,
        current_image=lambda: ImageRecord(key=1, title=PHOTO.name, source=str(PHOTO)),
        show_panel=lambda: None,
        start_folder=lambda: str(tmp_path),
    )
    panel.runs.setValue(3)
    with qtbot.waitSignal(controller.profiled, timeout=30000):
        panel.profile_button.click()
    yield controller
    runner.cancel_all()
    runner.wait(10000)


def _first_header(panel: TimingPanel) -> str:
    item = panel.table.horizontalHeaderItem(0)
    return item.text() if item is not None else ""


def test_profile_shortcut_is_not_print(qtbot) -> None:
    panel = TimingPanel()
    qtbot.addWidget(panel)
    controller = TimingController(
        panel,
        TaskRunner(),
        notify=lambda _t, _m: None,
        current_model=lambda: None,
        current_image=lambda: None,
        show_panel=lambda: None,
        start_folder=lambda: "",
    )
    shortcut = controller.action.shortcut()
    assert shortcut == QKeySequence(PROFILE_SHORTCUT) == QKeySequence("Ctrl+Shift+P")
    assert shortcut not in QKeySequence.keyBindings(QKeySequence.StandardKey.Print)
    assert shortcut != QKeySequence("Ctrl+P")


def test_gui_and_command_line_share_the_default_run_count(qtbot, settings: AppSettings) -> None:
    panel = TimingPanel()
    qtbot.addWidget(panel)
    assert panel.runs.value() == DEFAULT_RUNS
    assert settings.profile_runs == DEFAULT_RUNS  # nothing stored yet: the window starts with the same count
    args = build_parser().parse_args(["profile", str(PHOTO)])
    assert args.runs == DEFAULT_RUNS


def test_group_by_op_type_and_by_provider(timing: TimingController) -> None:
    panel = timing.panel
    nodes = panel.table_rows()
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(OP_TYPES))
    by_op = panel.table_rows()
    assert {r[0] for r in by_op} == {op for r in nodes for op in r[1].split(", ")}  # a row per op type
    assert "Conv" in {r[0] for r in by_op}
    assert _first_header(panel) == "Op type"
    assert abs(sum(float(r[4].rstrip("%")) for r in by_op) - 100.0) < 1.0
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(PROVIDERS))
    by_provider = panel.table_rows()
    assert [r[0] for r in by_provider] == ["CPU"] and by_provider[0][4] == "100.0%"
    assert _first_header(panel) == "Provider"
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(1))
    assert _first_header(panel) == "Module"


def test_summary_explains_the_gap_between_wall_time_and_layer_sum(timing: TimingController) -> None:
    text = timing.panel.summary.text()
    assert "outside the layers" in text and "ONNX Runtime" in text
    report = timing.report
    assert report is not None
    gap_ms = (report.wall_median_us - report.node_sum_us) / 1000
    assert gap_ms > 0 and f"{gap_ms:.3f} ms" in text


def test_load_line_only_when_the_machine_is_busy(qtbot) -> None:
    assert busy_note((0.5, 0.4, 0.3), cores=4) == ""
    busy = busy_note((7.9, 6.0, 5.0), cores=2)
    assert "busy" in busy and "7.9" in busy and "2 logical cores" in busy
    panel = TimingPanel()
    qtbot.addWidget(panel)
    panel.show_table(TimingTable([TimingRow("layer1", "Conv", "CPU", 1.0, 1.0)], 2.0, 1.0, 9.0, 3, "", (busy,)))
    assert "The machine is busy (load 7.9 on 2 logical cores)" in panel.summary.text()


def test_export_suggests_the_model_name_and_json_records_the_environment(
    timing: TimingController, model_bank: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert timing.report is not None
    assert suggested_name(timing.report, "csv") == "tinynet-tiny10-random-fp32-timing.csv"
    offered: list[str] = []
    target = tmp_path / "out.json"

    def save_dialog(_parent: object, _title: str, start: str, _filter: str) -> tuple[str, str]:
        offered.append(start)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    timing.export_dialog("json")
    assert offered == [str(tmp_path / "tinynet-tiny10-random-fp32-timing.json")]
    record = json.loads(target.read_text(encoding="utf-8"))
    assert record["model_file"] == str(model_bank["tiny"])
    assert record["model_sha256"] == hashlib.sha256(model_bank["tiny"].read_bytes()).hexdigest()
    assert record["image"] == str(PHOTO)
    assert record["versions"]["onnxruntime-gpu"] or record["versions"]["onnxruntime"]
    assert record["versions"]["python"] and record["hardware"]["logical_cores"] >= 1 and record["hardware"]["cpu"]
    assert "threads" in record and len(record["load_average_1_5_15"]) == 3
    assert "outside the layers' kernels" in record["outside_kernels"]


def test_table_fits_its_width_without_a_horizontal_scroll_bar(qtbot) -> None:
    """The Timing tab is about 860 px wide in the default 1180x760 window (the image list takes the rest)."""
    panel = TimingPanel()
    qtbot.addWidget(panel)
    panel.resize(860, 600)
    panel.show()
    long_module = "features.denseblock4.denselayer16.conv2." * 3
    rows = [TimingRow(long_module, "Conv, Relu, BatchNormalization, Add, Concat", "CUDA", 1234.567, 0.5, 98765.4)]
    panel.show_table(TimingTable([*rows, TimingRow("fc", "Gemm", "CPU", 0.01, 0.5)], 1240.0, 1234.6, 99999.0, 10))
    qtbot.waitExposed(panel)
    table = panel.table
    header = table.horizontalHeader()
    used = sum(header.sectionSize(c) for c in range(table.columnCount()))
    assert used <= table.viewport().width(), (used, table.viewport().width())
    assert table.horizontalScrollBar().maximum() == 0 or not table.horizontalScrollBar().isVisible()
    for column in range(2, table.columnCount()):  # numbers and provider are never cut
        assert header.sectionSize(column) >= header.sectionSizeHint(column) - 1


def test_the_default_window_shows_every_timing_column_whole(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    assert (window.width(), window.height()) == (1180, 760)
    window.tabs.setCurrentWidget(window.timing_panel)
    panel = window.timing_panel
    panel.show_table(
        TimingTable(
            [TimingRow("features.denseblock4.denselayer16.conv2", "Conv, Relu", "CPU", 1.0, 1.0)], 2.0, 1.0, 9.0, 3
        )
    )
    qtbot.waitUntil(lambda: panel.table.viewport().width() > 500)
    header = panel.table.horizontalHeader()
    used = sum(header.sectionSize(c) for c in range(panel.table.columnCount()))
    assert used <= panel.table.viewport().width()  # no horizontal scrolling
    assert header.sectionSize(0) >= 150  # the module column keeps the room left (elided on the left)
    for column in range(2, panel.table.columnCount()):
        assert header.sectionSize(column) >= header.sectionSizeHint(column) - 1


def test_the_grouping_is_remembered_op_type_and_depth(make_window, model_bank, tmp_path: Path, qtbot) -> None:
    """Op type (-1) and a module depth survive a restart; a depth deeper than the next model's shows its deepest."""
    window = make_window(model_bank["tiny"])
    panel = window.timing_panel
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(OP_TYPES))
    window.close()
    stored = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    assert int(stored.value("timing/grouping")) == OP_TYPES
    again = make_window(model_bank["tiny"])
    assert again.timing_panel.current_depth() == OP_TYPES and again.timing_panel.wanted_grouping == OP_TYPES
    again.timing_panel.set_depths(3)  # a profile of a model with three module levels arrives
    assert again.timing_panel.current_depth() == OP_TYPES
    again.timing_panel.depth_combo.setCurrentIndex(again.timing_panel.depth_combo.findData(3))
    again.timing_panel.set_depths(2)  # the next model is shallower: its deepest level, the wish kept
    assert again.timing_panel.current_depth() == 2 and again.timing_panel.wanted_grouping == 3
    again.close()
    assert int(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat).value("timing/grouping")) == 3


@pytest.mark.parametrize("value", ["-3", "65", "deep", "1.5"])
def test_a_bad_stored_grouping_is_said_and_ignored(make_window, model_bank, tmp_path: Path, value: str) -> None:
    ini = tmp_path / "edited.ini"
    ini.write_text(f"[timing]\ngrouping={value}\n")
    window = make_window(model_bank["tiny"], app_settings=AppSettings(QSettings(str(ini), QSettings.Format.IniFormat)))
    assert any(p.startswith(f"{ini}: [timing] grouping: ") for p in window.settings.problems), window.settings.problems
    assert window.timing_panel.wanted_grouping == 0
