"""Ctrl+C stops at the next step boundary, so PyTorch and ONNX code never see it mid-call.

A KeyboardInterrupt raised inside ``torch.onnx.export`` can be swallowed or reported by the library
itself (seen: the export went on to exit 0, or the process ended by SIGINT after our message). While
an export runs, the first Ctrl+C is only remembered; :func:`checkpoint` (called between steps and
right before the finished file is renamed into place) raises it. A second Ctrl+C raises at once.
Training uses the same handler for SIGINT and SIGTERM and reads ``requested`` between steps.

Example::

    python -m exporter export --model resnet50 --weights random    # press Ctrl+C: exit 130, no file
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType

_active: list[DeferredInterrupt] = []


EXPORT_MESSAGE = "interrupt: stopping after the current step (Ctrl+C again to stop at once)"


class DeferredInterrupt:
    """Context manager installing the deferring handler for ``signals`` (a no-op outside the main thread)."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT,), message: str = EXPORT_MESSAGE) -> None:
        self.requested = False
        self._signals = signals
        self._message = message
        self._previous: dict[int, object] = {}

    def __enter__(self) -> DeferredInterrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in self._signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        _active.append(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        _active.remove(self)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, _signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(self._message, file=sys.stderr)

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt


def checkpoint() -> None:
    """Raise KeyboardInterrupt if Ctrl+C was pressed during the current export (no-op otherwise)."""
    for handler in _active:
        handler.check()
