"""Model > Preprocessing and Labels… in the real window (issue 18): overrides change what the model is given,
are remembered per file across a restart, show in Model info, and a damaged store is said, never fatal.

A foreign "channel mean" model (its probabilities follow the normalisation) and a real photo; the dialog's
answer is given by a stand-in for ``OverridesDialog.ask`` (the dialog itself: test_overrides_dialog.py).
``QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_overrides_window.py -q -n 0``
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.overrides import OverrideStore, PreprocessOverrides, file_sha256
from desktop_app.view import backend
from tests.desktop_app.overrides_helpers import channel_model, labels_file
from tests.helpers import PHOTOS

TIMEOUT = 20000


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "overrides.json"
    monkeypatch.setenv("CNN_WORKBENCH_OVERRIDES", str(path))
    return path


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    return channel_model(tmp_path / "zoo-channels.onnx")


def _answer(overrides: PreprocessOverrides, seen: list[tuple[ModelEntry, PreprocessOverrides | None]]):
    def ask(entry: ModelEntry, current: PreprocessOverrides | None, _parent: QWidget) -> PreprocessOverrides:
        seen.append((entry, current))
        return overrides

    return ask


def _top(window) -> list[tuple[str, float]]:
    records = list(window.image_list.records.values())
    return list(records[0].scores) if records else []


def test_overrides_reload_reclassify_and_are_remembered(
    make_window, foreign: Path, store_path: Path, qtbot, tmp_path: Path
) -> None:
    window = make_window(foreign)
    window.add_paths([str(PHOTOS["chelsea"])])
    qtbot.waitUntil(lambda: bool(_top(window)), timeout=TIMEOUT)
    before = _top(window)
    assert window.overrides.action in window.menuBar().actions()[3].menu().actions()  # Model menu
    seen: list[tuple[ModelEntry, PreprocessOverrides | None]] = []
    names = labels_file(tmp_path / "names.txt", ["red-ish", "green-ish", "blue-ish"])
    chosen = PreprocessOverrides(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), labels_file=names)
    window.overrides.ask = _answer(chosen, seen)
    with qtbot.waitSignal(window.modelLoaded, timeout=TIMEOUT):
        window.overrides.action.trigger()
    assert seen[0][1] is None and seen[0][0].preprocess is not None and seen[0][0].preprocess.mean[0] == 0.485
    entry = window.loaded.model.entry
    assert entry.preprocess.mean == (0.5, 0.5, 0.5) and entry.labels == ("red-ish", "green-ish", "blue-ish")
    assert any("overridden" in n and "mean 0.5, 0.5, 0.5" in n for n in entry.notices), entry.notices
    qtbot.waitUntil(lambda: _top(window) != before and bool(_top(window)), timeout=TIMEOUT)
    assert {label for label, _ in _top(window)} <= {"red-ish", "green-ish", "blue-ish"}
    assert OverrideStore(store_path).get(file_sha256(foreign)) == chosen
    assert "overrides saved" in window.message_label.text()
    info = backend.model_info(entry, window.loaded)  # what the Model info tab shows
    assert info.label_set == "overridden: from a labels file" and info.preprocess["mean"] == [0.5, 0.5, 0.5]
    assert any("assumed 0.485, 0.456, 0.406" in n for n in info.notices)

    window.close()
    again = make_window()  # a restart: the remembered overrides apply on load
    assert again.loaded.model.entry.preprocess.std == (0.5, 0.5, 0.5)
    assert again.loaded.model.entry.labels[0] == "red-ish"
    again.overrides.ask = _answer(PreprocessOverrides(), seen)  # "Reset to assumed"
    with qtbot.waitSignal(again.modelLoaded, timeout=TIMEOUT):
        again.overrides.action.trigger()
    assert seen[-1][1] == chosen  # the dialog was shown what is remembered
    assert again.loaded.model.entry.preprocess.mean[0] == 0.485
    assert OverrideStore(store_path).get(file_sha256(foreign)) is None


def test_a_damaged_store_is_said_and_the_model_runs_as_assumed(
    make_window, foreign: Path, store_path: Path, qtbot
) -> None:
    store_path.parent.mkdir(parents=True)
    store_path.write_text("{ not json", encoding="utf-8")
    window = make_window(foreign)
    assert window.loaded.model.entry.preprocess.mean[0] == 0.485
    text = window.message_label.text()
    assert "remembered overrides not used" in text and str(store_path) in text, text
    window.overrides.ask = _answer(PreprocessOverrides(mean=(0.5, 0.5, 0.5)), [])
    window.overrides.action.trigger()
    qtbot.waitUntil(lambda: "Not remembered" in window.message_label.text(), timeout=TIMEOUT)
    assert store_path.read_text(encoding="utf-8") == "{ not json"  # never overwritten


def test_cancel_changes_nothing_and_no_model_is_said(make_window, foreign: Path, store_path: Path, qtbot) -> None:
    window = make_window(foreign)
    window.overrides.ask = lambda _e, _c, _p: None
    loads: list[object] = []
    window.modelLoaded.connect(loads.append)
    window.overrides.action.trigger()
    qtbot.wait(300)
    window.runner.wait(5000)
    qtbot.wait(50)
    assert loads == [] and not store_path.exists()
