"""File names that are not valid UTF-8, dropped the way a file manager drops them, are found and shown escaped.

A Latin-1 name ``caf\\xe9.png`` arrives as ``file:///…/caf%E9.png``; ``QUrl.toLocalFile`` decodes the escape
as UTF-8 and gets ``caf\\ufffd.png``, a file that does not exist ("file not found"). Shown names keep
every byte: ``caf\\xe9.png``, never a silently dropped character.

Example::

    QT_QPA_PLATFORM=offscreen python -m pytest tests/desktop_app/view/test_file_names.py -q
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QUrl

from tests.desktop_app.view.helpers import drop_mime, drop_paths
from tests.helpers import DATA

LATIN1_NAME = b"caf\xe9.png"
SHOWN = "caf\\xe9.png"  # what the user reads: the byte, escaped


def _write_raw(folder: Path, name: bytes, data: bytes) -> bytes:
    """Create ``folder/name`` from raw bytes (no str round trip that could change them); returns the path."""
    raw = os.fsencode(folder) + b"/" + name
    with open(raw, "wb") as handle:
        handle.write(data)
    return raw


def _file_url(raw: bytes) -> bytes:
    """The URL a file manager writes for the path ``raw``: every byte outside ASCII percent-encoded."""
    return b"file://" + urllib.parse.quote_from_bytes(raw).encode("ascii")


@pytest.mark.parametrize("how", ["qurl-from-encoded", "text-uri-list"])
def test_latin1_name_dropped_as_a_url_is_classified(make_window, model_bank, tmp_path: Path, qtbot, how: str) -> None:
    raw = _write_raw(tmp_path, LATIN1_NAME, (DATA / "chelsea.png").read_bytes())
    encoded = _file_url(raw)
    assert encoded.endswith(b"/caf%E9.png")
    url = QUrl.fromEncoded(encoded)
    assert url.toLocalFile() != os.fsdecode(raw)  # Qt's own decoding loses the byte
    mime = QMimeData()
    if how == "text-uri-list":
        mime.setData("text/uri-list", encoded + b"\r\n")  # exactly what a file manager puts on the drag
    else:
        mime.setUrls([url])
    window = make_window(model_bank["tiny"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        assert drop_mime(window, mime)
    (record,) = window.image_list.records.values()
    assert record.error is None, record.error
    assert record.scores and record.scores[0][0].startswith("thing")
    assert record.source == os.fsdecode(raw)  # the very file, byte for byte
    assert window.image_list.row_texts()[0].startswith(f"{SHOWN}\nthing")
    assert window.result_panel.title.text() == SHOWN
    assert len(window.result_panel.rows()) == 5


def test_names_inside_a_dropped_folder_are_shown_escaped(make_window, model_bank, tmp_path: Path, qtbot) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    _write_raw(folder, LATIN1_NAME, (DATA / "coffee.png").read_bytes())
    _write_raw(folder, b"not-an-image-\xff.png", b"plain text, not a PNG")
    _write_raw(folder, b"line\nbreak.png", (DATA / "chelsea.png").read_bytes())
    window = make_window(model_bank["tiny"])
    with qtbot.waitSignal(window.batchFinished, timeout=15000):
        assert drop_paths(window, [folder])
    rows = {text.split("\n", 1)[0]: text for text in window.image_list.row_texts()}
    assert set(rows) == {SHOWN, "line\\x0abreak.png", "not-an-image-\\xff.png"}, rows
    assert "thing" in rows[SHOWN] and "thing" in rows["line\\x0abreak.png"]
    bad = next(r for r in window.image_list.records.values() if r.error)
    assert "not an image" in bad.error
    row = list(window.image_list.records.values()).index(bad)
    window.image_list.setCurrentRow(row)
    assert window.result_panel.title.text() == "not-an-image-\\xff.png"
    assert "\\xff" in window.result_panel.message.text()
    assert "\\xff" in window.image_list.item(row).toolTip()
