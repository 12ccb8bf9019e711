"""Progress of the exporter's long jobs: a tqdm bar on a terminal, a few plain lines in a pipe or log file.

Both go to stderr (stdout keeps the results). ``-q`` (the ``exporter`` logger above INFO) turns both off.

Example::

    python -m exporter bench --model resnet18 --weights random --image-size 64 --runs 3 2>&1 | cat
    # bench: timing 4/12 (batch 1, ort-int8) ...
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

LOGGER = "exporter"


class Steps:
    """``total`` steps of one job named ``title``.

    On a terminal: a tqdm bar with the current step's label. Otherwise (``plain=True``): a line per step, or
    only every ``every``-th and the last one; ``plain=False`` says nothing off a terminal (inner loops).
    """

    def __init__(self, title: str, total: int, *, every: int = 1, plain: bool = True, unit: str = "step") -> None:
        self.title, self.total, self.every, self.plain = title, max(total, 0), max(every, 1), plain
        self.done = 0
        self.logger = logging.getLogger(LOGGER)
        enabled = self.logger.isEnabledFor(logging.INFO)
        self.bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, desc=title, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
        self.lines = enabled and plain and self.bar is None

    def step(self, label: str = "") -> None:
        """One step done; ``label`` says which (a variant, a batch, a layer)."""
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update()
        elif self.lines and (self.done % self.every == 0 or self.done == self.total):
            self.logger.info(f"{self.title}: {self.done}/{self.total}" + (f" ({label})" if label else ""))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
