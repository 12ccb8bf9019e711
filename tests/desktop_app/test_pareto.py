"""The Pareto front over (latency, accuracy) against a brute-force check, with ties and missing values.

Example::

    python -m pytest tests/desktop_app/test_pareto.py -q
"""

from __future__ import annotations

import math
import random

import pytest

from desktop_app.core.pareto import dominates, pareto_front, placeable


def brute_force(points: list[tuple[float | None, float | None]]) -> list[int]:
    usable = [i for i, p in enumerate(points) if placeable(*p)]
    front = [i for i in usable if not any(dominates(points[j], points[i]) for j in usable if j != i)]  # type: ignore[arg-type]
    return sorted(front, key=lambda i: (points[i][0], -points[i][1], i))  # type: ignore[operator]


@pytest.mark.parametrize("seed", range(40))
def test_front_equals_brute_force_on_random_points(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(0, 30)
    coarse = seed % 2 == 0  # small integer grids make many ties
    points: list[tuple[float | None, float | None]] = []
    for _ in range(n):
        latency = float(rng.randint(1, 6)) if coarse else rng.uniform(0.1, 100)
        accuracy = rng.randint(0, 5) / 5 if coarse else rng.random()
        if rng.random() < 0.1:
            latency = None  # type: ignore[assignment]
        points.append((latency, accuracy))
    assert pareto_front(points) == brute_force(points)


def test_known_front_sorted_by_latency() -> None:
    points = [(2.0, 0.9), (1.0, 0.8), (3.0, 0.85), (None, 0.99), (0.5, 0.5)]
    assert pareto_front(points) == [4, 1, 0]


def test_ties() -> None:
    # identical points are both on the front; same latency & lower accuracy or same accuracy & slower are not
    assert pareto_front([(1.0, 0.9), (1.0, 0.9), (1.0, 0.8), (2.0, 0.9)]) == [0, 1]


def test_missing_and_non_finite_values_are_never_on_the_front() -> None:
    assert pareto_front([(None, 0.9), (math.nan, 0.95), (1.0, None), (math.inf, 0.99), (5.0, 0.1)]) == [4]
    assert pareto_front([]) == []
    assert pareto_front([(None, None)]) == []
