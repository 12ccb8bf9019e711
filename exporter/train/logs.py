"""What a run shows and leaves behind: the progress bar (ETA, throughput) and log.csv / log.json.

On a terminal the bar redraws in place; in a pipe or log file it prints a line at every quarter of the
epoch. ``log.csv`` and ``log.json`` hold one row per epoch, ``bad_images.txt`` names every skipped file.

Example::

    python -m exporter train --model resnet18 --data ~/digits --image-size 32 --out runs/d && cat runs/d/log.csv
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from workbench.atomic import write_text_atomic


class Progress:
    """``epoch 3/10 [#####.....] 120/240 412 img/s ETA 0:18 loss 0.512`` on stderr (rank 0 only)."""

    def __init__(self, title: str, total: int, done: int = 0, enabled: bool = True) -> None:
        self.title, self.total, self.done, self.enabled = title, total, done, enabled
        self.images = 0
        self.started = time.perf_counter()
        self.last_draw = 0.0
        self.tty = sys.stderr.isatty()
        self.next_mark = 0.25

    def update(self, images: int, loss: float) -> None:
        self.done += 1
        self.images += images
        if not self.enabled:
            return
        now = time.perf_counter()
        fraction = self.done / max(self.total, 1)
        if self.tty and (now - self.last_draw > 0.2 or self.done == self.total):
            self.last_draw = now
            print("\r" + self.line(loss), end="", file=sys.stderr, flush=True)
        elif not self.tty and fraction >= self.next_mark:
            self.next_mark = (int(fraction * 4) + 1) / 4
            print(self.line(loss), file=sys.stderr, flush=True)

    def line(self, loss: float) -> str:
        elapsed = time.perf_counter() - self.started
        rate = self.images / elapsed if elapsed > 0 else 0.0
        steps_done = max(self.done, 1)
        remaining = elapsed / steps_done * (self.total - self.done) if self.done else 0.0
        filled = int(20 * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (20 - filled)
        return (
            f"{self.title} [{bar}] {self.done}/{self.total} {rate:.0f} img/s "
            f"ETA {int(remaining) // 60}:{int(remaining) % 60:02d} loss {loss:.4f}"
        )

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr, flush=True)


def write_logs(out: Path, history: list[dict[str, Any]], bad_images: list[str]) -> None:
    """Rewrite ``log.csv``, ``log.json`` and ``bad_images.txt`` from the full history."""
    columns = list(dict.fromkeys(k for row in history for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(out / "log.csv", buffer.getvalue())
    write_text_atomic(out / "log.json", json.dumps(history, indent=1) + "\n")
    if bad_images:
        write_text_atomic(out / "bad_images.txt", "\n".join(bad_images) + "\n")
