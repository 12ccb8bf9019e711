"""The Timing tab: profiling in a worker, module-named rows, depth aggregation, chart, CSV/JSON export.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_timing.py -q
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QFileDialog

from tests.desktop_app.view.helpers import drop_paths


def _share_total(rows: list[tuple[str, ...]]) -> float:
    return sum(float(r[4].rstrip("%")) for r in rows)


@pytest.fixture
def profiled(make_window, model_bank, photos, qtbot):
    window = make_window(model_bank["tiny"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"]])
    panel = window.timing_panel
    panel.runs.setValue(3)
    with qtbot.waitSignal(window.timing.profiled, timeout=30000):
        panel.profile_button.click()
    return window


def test_rows_are_module_names_sorted_with_shares(profiled) -> None:
    panel = profiled.timing_panel
    assert profiled.tabs.currentWidget() is panel
    rows = panel.table_rows()
    names = [r[0] for r in rows]
    assert any(n.startswith("layer1.0") for n in names), names
    assert any(n.startswith("stem") for n in names), names
    assert not any(n.startswith("/") for n in names)  # no raw ONNX node names
    times = [float(r[3]) for r in rows]
    assert times == sorted(times, reverse=True)
    assert abs(_share_total(rows) - 100.0) < 1.0
    assert {r[2] for r in rows} == {"CPU"}
    summary = panel.summary.text()
    assert "Sum of layer times" in summary and "measured wall time" in summary and "first run" in summary
    assert [b[0] for b in panel.chart.bars()] == names  # the painted chart shows the same rows
    assert panel.chart.grab().width() > 0


def test_depth_aggregates_to_blocks(profiled) -> None:
    panel = profiled.timing_panel
    nodes = panel.table_rows()
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(1))
    blocks = panel.table_rows()
    names = {r[0] for r in blocks}
    assert "layer1" in names and "stem" in names and "fc" in names
    assert len(blocks) < len(nodes)
    assert abs(_share_total(blocks) - 100.0) < 1.0
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(2))
    assert {"layer1.0", "layer1.1"} <= {r[0] for r in panel.table_rows()}


def test_export_csv_and_json_atomically(profiled, tmp_path: Path, monkeypatch) -> None:
    panel = profiled.timing_panel
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(1))
    target = tmp_path / "out"
    target.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target / "t.csv"), ""))
    panel.csv_button.click()
    rows = list(csv.DictReader(io.StringIO((target / "t.csv").read_text())))
    assert {r["module"] for r in rows} == {r[0] for r in panel.table_rows()}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target / "t.json"), ""))
    panel.json_button.click()
    data = json.loads((target / "t.json").read_text())
    assert data["runs"] == 3 and data["rows"] and "wall_median_ms" in data
    assert sorted(p.name for p in target.iterdir()) == ["t.csv", "t.json"]  # no temp files left behind


def test_export_failure_is_reported_not_raised(profiled, tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "no-such-folder" / "t.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(missing), ""))
    profiled.timing_panel.csv_button.click()
    assert "Export failed" in profiled.timing_panel.summary.text()
    assert not missing.exists()


def test_switching_model_drops_the_report(profiled, qtbot) -> None:
    window = profiled
    window.timing_panel.runs.setValue(2)
    window.profile_action.trigger()  # a profile that the switch below makes stale
    with qtbot.waitSignal(window.modelLoaded, timeout=15000):
        window.provider_combo.setCurrentIndex(window.provider_combo.findData("cpu"))
    window.runner.wait(30000)
    QApplication.processEvents()  # deliver the queued (stale) signals; they must be ignored
    assert window.timing.report is None
    assert window.timing_panel.table.rowCount() == 0
    assert not window.timing_panel.csv_button.isEnabled()


def test_profile_without_an_image_uses_a_synthetic_input(make_window, model_bank, qtbot) -> None:
    window = make_window(model_bank["foreign"])
    window.timing_panel.runs.setValue(2)
    with qtbot.waitSignal(window.timing.profiled, timeout=30000):
        window.profile_action.trigger()
    names = [r[0] for r in window.timing_panel.table_rows()]
    assert names and all(n.startswith("(graph)/") for n in names)  # foreign file: no node map


def test_selecting_another_image_marks_the_report(make_window, model_bank, photos, qtbot) -> None:
    window = make_window(model_bank["tiny"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"].parent])
    window.timing_panel.runs.setValue(2)
    with qtbot.waitSignal(window.timing.profiled, timeout=30000):
        window.profile_action.trigger()
    window.image_list.setCurrentRow(1)
    assert "another image is selected now" in window.timing_panel.summary.text()
    window.image_list.setCurrentRow(0)
    assert "another image" not in window.timing_panel.summary.text()


def test_a_long_profile_shows_progress_and_can_be_cancelled(profiled, qtbot) -> None:
    window, panel = profiled, profiled.timing_panel
    before = panel.table_rows()
    panel.runs.setValue(1000)
    panel.profile_button.click()
    assert panel.profile_button.text() == "Cancel" and not window.profile_action.isEnabled()
    assert not panel.runs.isEnabled()
    qtbot.waitUntil(lambda: " of 1003 done" in panel.summary.text(), timeout=30000)
    with qtbot.waitSignal(window.timing.profileCancelled, timeout=5000):
        panel.profile_button.click()
    assert panel.profile_button.text() == "Profile" and panel.runs.isEnabled()
    assert window.profile_action.isEnabled()
    assert window.runner.wait(30000)  # the worker stops at its next run
    QApplication.processEvents()  # its late "cancelled" error must not show
    assert "failed" not in panel.summary.text()
    assert panel.table_rows() == before  # the previous report stays
    panel.runs.setValue(2)
    with qtbot.waitSignal(window.timing.profiled, timeout=30000):
        panel.profile_button.click()
    assert window.timing.report.runs == 2
