"""The "Preprocessing and labels" dialog: assumed values shown, overrides returned, bad input explained with OK off.

Run: ``QT_QPA_PLATFORM=offscreen pytest tests/desktop_app/view/test_overrides_dialog.py -q -n 0``
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox

from desktop_app.core.catalog import ModelEntry, inspect_model
from desktop_app.core.overrides import PreprocessOverrides
from desktop_app.view.overrides_dialog import OverridesDialog
from tests.desktop_app.overrides_helpers import channel_model, labels_file

HALF = (0.5, 0.5, 0.5)


@pytest.fixture
def foreign(tmp_path: Path) -> ModelEntry:
    return inspect_model(channel_model(tmp_path / "foreign.onnx"))


def _dialog(qtbot, entry: ModelEntry, current: PreprocessOverrides | None = None) -> OverridesDialog:
    dialog = OverridesDialog(entry, current)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _ok(dialog: OverridesDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_shows_what_was_assumed(qtbot, foreign: ModelEntry) -> None:
    dialog = _dialog(qtbot, foreign)
    assert dialog.windowTitle() == "Preprocessing and labels — foreign"
    assert dialog.mean_edit.placeholderText() == "0.485, 0.456, 0.406" and dialog.mean_edit.text() == ""
    assert dialog.resize_edit.placeholderText() == "18"
    assert dialog.interpolation_combo.currentText() == "assumed (bilinear)"
    assert dialog.labels_edit.placeholderText() == "class numbers (3)"
    assert dialog.in_use()["mean"] == "0.485, 0.456, 0.406" and dialog.in_use()["labels"] == "class numbers (3)"
    assert not dialog.size_edit.isEnabled()  # the graph fixes 16x16
    assert dialog.problem is None and _ok(dialog).isEnabled() and not dialog.error_label.isVisible()
    assert dialog.overrides() == PreprocessOverrides()


def test_edits_become_overrides_and_in_use(qtbot, foreign: ModelEntry, tmp_path: Path) -> None:
    names = labels_file(tmp_path / "mine.txt", ["a", "b", "c"])
    dialog = _dialog(qtbot, foreign)
    dialog.mean_edit.setText("0.5, 0.5, 0.5")
    dialog.resize_edit.setText("24")
    dialog.interpolation_combo.setCurrentIndex(dialog.interpolation_combo.findData("bicubic"))
    dialog.range_combo.setCurrentIndex(dialog.range_combo.findData("0-255"))
    dialog.channel_combo.setCurrentIndex(dialog.channel_combo.findData("BGR"))
    dialog.labels_edit.setText(str(names))
    expected = PreprocessOverrides(
        resize=24, interpolation="bicubic", mean=HALF, channel_order="BGR", value_range=(0.0, 255.0), labels_file=names
    )
    assert dialog.overrides() == expected
    used = dialog.in_use()
    assert used["mean"] == "0.5, 0.5, 0.5" and used["resize"] == "24 px" and used["labels"] == "mine.txt (3)"
    assert used["value range"] == "0-255" and used["std"] == "0.229, 0.224, 0.225"
    assert dialog.in_use_labels["mean"].font().bold() and not dialog.in_use_labels["std"].font().bold()
    qtbot.mouseClick(_ok(dialog), Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted and dialog.overrides() == expected


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("std_edit", "0, 1, 1", "std: every value must be > 0"),
        ("std_edit", "1e-7, 1, 1", "std: 1e-07 (channel R) is too small"),
        ("mean_edit", "0.5, 0.5", "mean: expected 3 numbers"),
        ("resize_edit", "-4", "resize: expected a whole number"),
    ],
)
def test_bad_input_is_explained_and_keeps_ok_off(
    qtbot, foreign: ModelEntry, field: str, text: str, message: str
) -> None:
    dialog = _dialog(qtbot, foreign)
    getattr(dialog, field).setText(text)
    assert dialog.problem is not None and dialog.problem.startswith(message)
    assert dialog.error_label.isVisible() and dialog.error_label.text().startswith(message)
    assert not _ok(dialog).isEnabled()
    row = {"std_edit": "std", "mean_edit": "mean", "resize_edit": "resize"}[field]
    assert dialog.in_use()[row] == "not valid"
    getattr(dialog, field).setText("")
    assert dialog.problem is None and _ok(dialog).isEnabled() and not dialog.error_label.isVisible()


def test_a_labels_file_with_the_wrong_count_is_refused(qtbot, foreign: ModelEntry, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, foreign)
    dialog.mean_edit.setText("0.5 0.5 0.5")
    dialog.labels_edit.setText(str(labels_file(tmp_path / "two.txt", ["a", "b"])))
    assert dialog.problem is not None and "two.txt has 2 names but the model has 3 outputs" in dialog.problem
    assert dialog.in_use()["labels"] == "not valid" and dialog.in_use()["mean"] == "0.5, 0.5, 0.5"
    assert not _ok(dialog).isEnabled()


def test_reset_and_prefilled(qtbot, foreign: ModelEntry) -> None:
    current = PreprocessOverrides(std=HALF, interpolation="nearest", value_range=(-1.0, 1.0))
    dialog = _dialog(qtbot, foreign, current)
    assert dialog.std_edit.text() == "0.5, 0.5, 0.5" and dialog.interpolation_combo.currentData() == "nearest"
    assert dialog.range_combo.currentText() == "-1,1" and dialog.overrides() == current  # a range not offered by name
    qtbot.mouseClick(dialog.reset_button, Qt.MouseButton.LeftButton)
    assert dialog.overrides() == PreprocessOverrides() and dialog.std_edit.text() == ""
    assert dialog.in_use()["std"] == "0.229, 0.224, 0.225"


def test_a_dynamic_graph_with_metadata_takes_another_size(qtbot, tmp_path: Path) -> None:
    entry = inspect_model(channel_model(tmp_path / "dyn.onnx", dims=("N", 3, "H", "W"), card=True))
    dialog = _dialog(qtbot, entry)
    assert (
        dialog.size_edit.isEnabled() and "workbench metadata" in dialog.findChildren(type(dialog.error_label))[0].text()
    )
    assert dialog.interpolation_combo.currentText() == "file (bilinear)"
    dialog.size_edit.setText("24x32")
    assert dialog.problem is None and dialog.in_use()["size"] == "24x32" and dialog.in_use()["resize"] == "30 px"
    assert dialog.overrides() == PreprocessOverrides(size=(24, 32))


def test_model_text_is_plain(qtbot, tmp_path: Path) -> None:
    entry = inspect_model(channel_model(tmp_path / "<b>bold<img src=x>.onnx"))
    dialog = _dialog(qtbot, entry)
    assert dialog.windowTitle() == "Preprocessing and labels — <b>bold<img src=x>"
    intro = dialog.findChildren(type(dialog.error_label))[0]
    assert intro.textFormat() == Qt.TextFormat.PlainText and intro.text().startswith("<b>bold<img src=x>.onnx has")


def test_cancel_returns_nothing(qtbot, foreign: ModelEntry) -> None:
    dialog = _dialog(qtbot, foreign)
    dialog.mean_edit.setText("0.5,0.5,0.5")
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_ask_returns_the_overrides_or_none(foreign: ModelEntry, monkeypatch: pytest.MonkeyPatch) -> None:
    def accept(self: OverridesDialog) -> QDialog.DialogCode:
        self.mean_edit.setText("0.5,0.5,0.5")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(OverridesDialog, "exec", accept)
    assert OverridesDialog.ask(foreign) == PreprocessOverrides(mean=HALF)
    monkeypatch.setattr(OverridesDialog, "exec", lambda self: QDialog.DialogCode.Rejected)
    assert OverridesDialog.ask(foreign, PreprocessOverrides(resize=30)) is None
