"""The Pareto front of models over (latency, accuracy): the models no other model beats on both at once.

Lower latency and higher accuracy are better. Model *a* dominates model *b* when *a* is at least as fast
and at least as accurate, and strictly better on one of the two. The front is every model that no other
model dominates. Rules for the corner cases:

- **ties**: models with exactly the same latency and accuracy do not dominate each other, so they are all on
  the front (or all off it); same latency and lower accuracy, or same accuracy and higher latency, is off it;
- **missing values**: a point whose latency or accuracy is None or not a finite number cannot be compared
  and is never on the front (the chart lists it apart).

It also chooses the axes of the accuracy-vs-latency chart (:func:`axis_for`: nice ticks, a log scale when
the latencies span more than :data:`LOG_RATIO`), shared by the window's chart and the report's SVG.

Example::

    python -c "from desktop_app.core.pareto import pareto_front; \\
print(pareto_front([(2.0, 0.9), (1.0, 0.8), (3.0, 0.85), (None, 0.99)]))"   # -> [1, 0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LOG_RATIO", "Axis", "axis_for", "dominates", "pareto_front", "placeable", "point_labels"]

LOG_RATIO = 10.0
"""Latencies whose largest is more than this many times the smallest get a log-scale axis."""


def placeable(latency: float | None, accuracy: float | None) -> bool:
    """Whether the point has a finite latency and accuracy (only such points can be on the front)."""
    return all(v is not None and isinstance(v, (int, float)) and math.isfinite(v) for v in (latency, accuracy))


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether point ``a`` = (latency, accuracy) dominates ``b``: no slower, no less accurate, better in one."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def pareto_front(points: Sequence[tuple[float | None, float | None]]) -> list[int]:
    """Indices of the (latency, accuracy) ``points`` on the Pareto front, by latency (then index).

    O(n log n): sort by latency, then accuracy best first, and sweep keeping the best accuracy so far.
    """
    usable = []
    for index, (latency, accuracy) in enumerate(points):
        if latency is not None and accuracy is not None and placeable(latency, accuracy):
            usable.append((float(latency), float(accuracy), index))
    usable.sort(key=lambda t: (t[0], -t[1], t[2]))
    front: list[int] = []
    best = -math.inf
    last: tuple[float, float] | None = None
    for latency, accuracy, index in usable:
        if accuracy > best or (latency, accuracy) == last:
            front.append(index)
            best, last = accuracy, (latency, accuracy)
    return front


@dataclass(frozen=True)
class Axis:
    """A chart axis from ``low`` to ``high`` (log10 scale when ``log``) with its tick values."""

    low: float
    high: float
    log: bool
    ticks: tuple[float, ...]

    def fraction(self, value: float) -> float:
        """Where ``value`` lies between ``low`` (0) and ``high`` (1)."""
        if self.log:
            low, high, value = math.log10(self.low), math.log10(self.high), math.log10(max(value, 1e-12))
        else:
            low, high = self.low, self.high
        return (value - low) / (high - low) if high > low else 0.5


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def axis_for(
    values: Sequence[float], *, log_ratio: float = LOG_RATIO, ticks: int = 5, bounds: tuple[float, float] | None = None
) -> Axis:
    """An axis covering the finite ``values`` with a margin: log10 when all are positive and the largest is
    more than ``log_ratio`` times the smallest (ticks 1-2-5 per decade), else linear with about ``ticks`` nice
    ticks, clipped to ``bounds`` (e.g. 0-100 for a percentage). No values: the axis 0-1."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return Axis(0.0, 1.0, False, (0.0, 0.5, 1.0))
    low, high = min(finite), max(finite)
    if low > 0 and high / low > log_ratio:
        lo, hi = low / 1.3, high * 1.3
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        marks = [m * 10.0**d for d in decades for m in (1, 2, 5)]
        shown = tuple(t for t in marks if lo <= t <= hi)
        if len(shown) > 2 * ticks:
            shown = tuple(t for t in shown if math.isclose(t, 10 ** round(math.log10(t))))
        return Axis(lo, hi, True, shown)
    span = high - low
    margin = span * 0.12 if span > 0 else max(abs(high) * 0.1, 1.0)
    lo, hi = low - margin, high + margin
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        if hi <= lo:
            lo, hi = bounds
    step = _nice_step(hi - lo, ticks)
    first = math.ceil(lo / step - 1e-9) * step
    marks = []
    value = first
    while value <= hi + 1e-9 * step:
        marks.append(round(value, 10))
        value += step
    return Axis(lo, hi, False, tuple(marks))


def point_labels(names: Sequence[str]) -> list[str]:
    """Short labels for the chart's points: each display name up to its first " · " when those are all
    different, else the whole names (so fp32 and int8 files of one architecture stay apart)."""
    heads = [name.split(" · ")[0] for name in names]
    return heads if len(set(heads)) == len(heads) else list(names)
