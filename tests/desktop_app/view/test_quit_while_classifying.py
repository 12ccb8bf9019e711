"""Quitting the real app (a child process) while and after 600 dropped images are classified exits cleanly.

PySide6 6.12 on CPython 3.11 aborted here (``bool_dealloc``, exit status 134) after about 450 images;
the child is ``scripts/window_soak.py``, which starts the app as ``python -m desktop_app`` does.

Example::

    python -m pytest -q tests/desktop_app/view/test_quit_while_classifying.py
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.parametrize("quit_after", [200, 0], ids=["while-classifying", "after-all"])
def test_quitting_while_and_after_600_images_are_classified_exits_0(quit_after: int) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, str(REPO / "scripts" / "window_soak.py"), "--images", "600", "--timeout", "240"]
    done = subprocess.run(
        [*command, "--quit-after", str(quit_after)], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "app process: exit status 0" in done.stdout
    if quit_after:
        classified = int(done.stdout.split("classified: ")[1].split()[0])
        assert quit_after <= classified < 600, done.stdout  # the window closed mid-folder
        assert "still to classify when the window closed" in done.stdout
    else:
        assert "classified: 600 of 600 (0 errors)" in done.stdout
    assert "Fatal Python error" not in done.stderr
