"""Ctrl+C during an export is deferred to the next checkpoint; a second Ctrl+C stops at once.

Run: ``pytest tests/exporter/test_interrupt.py -q``
"""

from __future__ import annotations

import os
import signal

import pytest

from exporter.interrupt import DeferredInterrupt, checkpoint


def test_first_ctrl_c_waits_for_the_checkpoint_second_stops_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGINT)
    with DeferredInterrupt() as handler:
        os.kill(os.getpid(), signal.SIGINT)  # delivered to this (main) thread before the next bytecode
        assert handler.requested
        with pytest.raises(KeyboardInterrupt):
            checkpoint()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    assert "stopping after the current step" in capsys.readouterr().err
    checkpoint()  # no export running: nothing to raise


def test_checkpoint_is_quiet_without_ctrl_c() -> None:
    with DeferredInterrupt() as handler:
        checkpoint()
        assert not handler.requested
