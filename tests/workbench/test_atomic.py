"""workbench.atomic: a write replaces the file whole and leaves no temporary file behind.

Run: ``pytest tests/workbench/test_atomic.py -q``
"""

from __future__ import annotations

from pathlib import Path

from workbench.atomic import write_text_atomic as write_atomic


def test_write_atomic_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "t.csv"
    target.write_text("old")
    write_atomic(target, "new,text\n")
    assert target.read_text() == "new,text\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]
