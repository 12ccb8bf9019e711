"""Fixtures for the model tests: built models are cached for the session (VGGs take ~1 s each)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from torch import nn

import models


@pytest.fixture(scope="session")
def build() -> Callable[[str], nn.Module]:
    cache: dict[str, nn.Module] = {}

    def _build(name: str) -> nn.Module:
        if name not in cache:
            cache[name] = models.get_model(name)
        return cache[name]

    return _build
