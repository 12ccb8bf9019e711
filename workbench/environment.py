"""The machine a measurement ran on (CPU, instruction sets, cores, load, library versions), and whether it was busy.

Timing records carry it so that two numbers can be told apart later: the app's ``profile --json`` writes
:func:`environment`, and :func:`busy_note` is the one line the Timing tab and ``profile`` print when the
machine's load (``os.getloadavg()``) is high for its core count, because times are then slower and noisier.

Example::

    python -c "from workbench.environment import busy_note, environment; print(environment(None)); print(busy_note())"
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

from workbench.cpu import cpu_info

__all__ = ["BUSY_LOAD_PER_CORE", "VERSIONED", "busy_note", "environment", "load_average", "versions"]

#: Distributions whose versions a timing record names (absent ones are recorded as None).
VERSIONED = ("onnxruntime-gpu", "onnxruntime", "openvino", "numpy", "pillow", "cnn-workbench")
#: A 1-minute load average above this many runnable tasks per logical core counts as a busy machine.
BUSY_LOAD_PER_CORE = 0.75


def versions() -> dict[str, str | None]:
    """``{"onnxruntime": "1.23.2", ..., "python": "3.11.9"}``; ``None`` for a distribution that is not installed."""
    found: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["python"] = platform.python_version()
    return found


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15-minute load averages, or None where the OS has none (Windows)."""
    if not hasattr(os, "getloadavg"):
        return None
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # documented: "raises OSError if the load average was unobtainable"
        return None
    return (one, five, fifteen)


def environment(threads: int | None) -> dict[str, Any]:
    """Hardware, load, versions and thread count for a JSON record (``threads`` None: the runtime's default)."""
    cpu, features = cpu_info()
    load = load_average()
    return {
        "hardware": {
            "cpu": cpu,
            "cpu_features": list(features),
            "logical_cores": os.cpu_count(),
            "machine": platform.machine(),
        },
        "load_average_1_5_15": [round(value, 2) for value in load] if load else None,
        "versions": versions(),
        "threads": threads,
    }


def busy_note(load: tuple[float, float, float] | None = None, cores: int | None = None) -> str:
    """One line when the 1-minute load is above :data:`BUSY_LOAD_PER_CORE` per core, else ``""``.

    ``load`` and ``cores`` default to this machine's (:func:`load_average`, ``os.cpu_count()``).
    """
    load = load_average() if load is None else load
    cores = (os.cpu_count() or 1) if cores is None else max(1, cores)
    if load is None or load[0] <= BUSY_LOAD_PER_CORE * cores:
        return ""
    return (
        f"The machine is busy (load {load[0]:.1f} on {cores} logical cores): "
        "times are slower and noisier than on an idle machine."
    )
