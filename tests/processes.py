"""Test helpers about processes and hosts, for the tests of what cleans up after killed runs.

Example::

    python -c "from tests.processes import dead_pid, host_name; print(dead_pid(), host_name())"
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys


def host_name() -> str:
    """This machine's name as temporary names spell it (letters, digits and ``-``), written out independently."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def dead_pid() -> int:
    """The pid of a process that has already exited (so no live process owns a file tagged with it)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
