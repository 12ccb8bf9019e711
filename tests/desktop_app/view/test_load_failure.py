"""A model that ONNX Runtime refuses never costs the working one: the window goes back to it and says why.

Before, picking such a model unloaded the working one: every row said "no model loaded" while the
result panel still showed the old top-5.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_load_failure.py -q
"""

from __future__ import annotations

from pathlib import Path

import onnx

from tests.desktop_app.view.helpers import drop_paths


def _refused_copy(source: Path, target: Path) -> Path:
    """``source`` with an operator ONNX Runtime does not know: it scans as usable, then fails to load."""
    model = onnx.load(str(source))
    model.graph.node[0].op_type = "NoSuchOperator"
    onnx.save(model, str(target))
    return target


def test_refused_model_keeps_the_working_one_and_its_results(
    make_window, model_bank, models_dir: Path, photos, qtbot
) -> None:
    _refused_copy(model_bank["tiny"], models_dir / "zz-refused.onnx")
    window = make_window(model_bank["trained"])
    working = window.loaded
    assert working.model.entry.path.name == model_bank["trained"].name
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"].parent])
    rows_before = window.image_list.row_texts()
    top5_before = window.result_panel.rows()
    refused = next(i for i, e in enumerate(window.entries) if e.path.name == "zz-refused.onnx")
    assert window.entries[refused].usable  # nothing tells it apart before ONNX Runtime tries it
    with qtbot.waitSignal(window.modelFailed, timeout=15000) as failed:
        window.model_combo.activated.emit(refused)  # what a user's pick in the dropdown emits
    reason = failed.args[0]
    assert "zz-refused.onnx" in reason and "NoSuchOperator" in reason
    assert window.loaded is working  # the same session: nothing was reloaded
    assert window.current_entry().path.name == model_bank["trained"].name  # the dropdown is back on it
    assert window.settings.last_model == model_bank["trained"].name
    assert window.image_list.row_texts() == rows_before  # the results stay, no "no model loaded"
    assert all("no model loaded" not in t for t in window.image_list.row_texts())
    assert window.result_panel.rows() == top5_before
    assert window.provider_label.text().startswith("Ran on: ")
    message = window.message_label.text()
    assert message.startswith("Not loaded, kept the working model: zz-refused.onnx: "), message
    assert "NoSuchOperator" in message
    assert not window.model_combo.model().item(refused).isEnabled()
    assert "unavailable" in window.model_combo.itemText(refused)
    assert "trainednet" in window.info_panel.text()  # the model tab shows the working model again
    assert window.windowTitle() == f"{working.model.entry.name} — CNN Workbench"


def test_images_dropped_while_the_refused_model_loads_are_classified_by_the_kept_one(
    make_window, model_bank, models_dir: Path, photos, qtbot
) -> None:
    _refused_copy(model_bank["tiny"], models_dir / "zz-refused.onnx")
    window = make_window(model_bank["trained"])
    refused = next(i for i, e in enumerate(window.entries) if e.path.name == "zz-refused.onnx")
    window.model_combo.activated.emit(refused)
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        drop_paths(window, [photos["chelsea"]])  # listed while no model is loaded
    assert window.loaded.model.entry.path.name == model_bank["trained"].name
    (record,) = window.image_list.records.values()
    assert record.scores and record.scores[0][0].startswith("thing")
    assert len(window.result_panel.rows()) == 5


def test_refused_first_model_says_no_model_everywhere(make_window, model_bank, models_dir: Path, photos, qtbot) -> None:
    """With nothing to go back to, the rows and the result panel agree: no model."""
    _refused_copy(model_bank["tiny"], models_dir / "only-refused.onnx")
    window = make_window(wait_loaded=False)
    qtbot.waitUntil(lambda: "unavailable" in window.model_combo.itemText(0), timeout=15000)
    drop_paths(window, [photos["chelsea"]])
    qtbot.waitUntil(lambda: window.image_list.count() == 1, timeout=10000)
    assert "no model loaded" in window.image_list.row_texts()[0]
    assert window.result_panel.rows() == []
    assert "Could not load the model" in window.provider_label.text()
