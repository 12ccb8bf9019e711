"""Files written atomically get the permissions a plain ``open()`` would give them, not mkstemp's 0600.

Run: ``pytest tests/workbench/test_atomic_mode.py -q``
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from workbench.atomic import write_text_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_gets_0666_less_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_text_atomic(tmp_path / "report.json", "{}\n")
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "report.json") == 0o640 == _mode(plain)


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "timing.csv"
    target.write_text("old")
    target.chmod(0o600)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o600
