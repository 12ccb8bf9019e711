"""Test helpers about processes and hosts: what cleans up after killed runs, and runs without root's DAC override.

Example::

    python -c "from tests.processes import dead_pid, host_name; print(dead_pid(), host_name())"
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys

import pytest


def host_name() -> str:
    """This machine's name as temporary names spell it (letters, digits and ``-``), written out independently."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def dead_pid() -> int:
    """The pid of a process that has already exited (so no live process owns a file tagged with it)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def without_dac_override() -> list[str]:
    """A command prefix that makes permission bits apply (root normally bypasses them)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: an unreadable folder cannot be made")
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search"]
