"""The window with a real exporter-written resnet18 (64 px, random weights): names, timing rows, depth.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_resnet.py -q
"""

from __future__ import annotations

from pathlib import Path

from tests.desktop_app.view.helpers import drop_paths


def test_resnet18_export_end_to_end(make_window, resnet18_64: Path, photos, qtbot) -> None:
    window = make_window(resnet18_64)
    assert "resnet18" in window.model_combo.currentText()
    assert "UNTRAINED" in window.model_combo.currentText()
    assert window.golden_label.text() == "golden ✓"
    with qtbot.waitSignal(window.batchFinished, timeout=30000):
        drop_paths(window, [photos["chelsea"]])
    assert len(window.result_panel.rows()) == 5
    panel = window.timing_panel
    panel.runs.setValue(2)
    with qtbot.waitSignal(window.timing.profiled, timeout=60000):
        panel.profile_button.click()
    nodes = [r[0] for r in panel.table_rows()]
    assert any(n.startswith("layer3.1.conv") for n in nodes), nodes
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(1))
    blocks = {r[0] for r in panel.table_rows()}
    assert {"layer1", "layer2", "layer3", "layer4", "fc"} <= blocks, blocks
    panel.depth_combo.setCurrentIndex(panel.depth_combo.findData(2))
    assert "layer3.1" in {r[0] for r in panel.table_rows()}
    shares = sum(float(r[4].rstrip("%")) for r in panel.table_rows())
    assert abs(shares - 100.0) < 1.0
