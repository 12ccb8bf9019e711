"""The window with hostile model files and images (issue 13, points 2 and 5), through pytest-qt and real drops.

Files with odd metadata are listed, disabled, with their reason, and the good model loads; a
1x100000 strip dropped with a photo gets its row classified like the photo.

Run: ``QT_QPA_PLATFORM=offscreen pytest tests/desktop_app/view/test_hostile_window.py -q``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.desktop_app.hostile import build_model as build_hostile
from tests.desktop_app.hostile import replace_bytes
from tests.desktop_app.view.helpers import drop_paths


def test_odd_model_files_are_listed_disabled_and_the_good_one_loads(make_window, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    good = build_hostile(source / "a-good.onnx")
    provenance = build_hostile(source / "b-provenance.onnx", {"workbench.provenance": '["torch 2.13"]'})
    weights = build_hostile(source / "c-weights.onnx", {"workbench.weights": "null"})
    not_utf8 = build_hostile(source / "d-bytes.onnx", {"workbench.architecture": "XXXX"})
    replace_bytes(not_utf8, b"XXXX", b"\xff\xfeab")
    window = make_window(good, provenance, weights, not_utf8)
    combo = window.model_combo
    assert window.loaded is not None and window.loaded.model.entry.path.name == "a-good.onnx"
    reasons = {
        "b-provenance.onnx": "workbench.provenance: expected a JSON object, got a JSON list",
        "c-weights.onnx": "workbench.weights: expected a JSON object, got null",
        "d-bytes.onnx": "workbench.architecture is not valid UTF-8 text",
    }
    for index in range(1, combo.count()):
        entry = window.entries[index]
        assert not combo.model().item(index).isEnabled(), entry.path.name
        assert reasons[entry.path.name] in (entry.error or "")
        assert reasons[entry.path.name] in str(combo.itemData(index, 3))  # ToolTipRole carries the reason
    assert combo.model().item(0).isEnabled()


def test_a_1x100000_strip_dropped_with_a_photo_is_classified(make_window, tmp_path: Path, qtbot) -> None:
    source = tmp_path / "source"
    source.mkdir()
    window = make_window(build_hostile(source / "good.onnx"))
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1, 100_000), (200, 30, 30)).save(strip)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(photo)
    with qtbot.waitSignal(window.batchFinished, timeout=60000):
        assert drop_paths(window, [strip, photo])
    records = list(window.image_list.records.values())
    assert [r.title for r in records] == ["strip.png", "photo.png"]
    assert all(r.scores and r.error is None for r in records), [r.error for r in records]
