"""Fixtures for the model tests: a small cache of built models (a VGG takes ~1 s and 0.5 GB).

The model tests are reordered so that all tests of one architecture run one after another;
a cache of the last two models then builds each architecture about once without holding all
nineteen (~6 GB) in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest
from torch import nn

import models

_HERE = Path(__file__).resolve().parent
_CACHE_SIZE = 2


def _model_name(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get("name", "")) if callspec else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group this folder's tests by their ``name`` parameter (stable; other folders' tests untouched)."""
    ours = [i for i, item in enumerate(items) if Path(str(item.fspath)).resolve().parent == _HERE]
    grouped = sorted((items[i] for i in ours), key=_model_name)
    for slot, item in zip(ours, grouped, strict=True):
        items[slot] = item


@pytest.fixture(scope="session")
def build() -> Callable[[str], nn.Module]:
    cache: OrderedDict[str, nn.Module] = OrderedDict()

    def _build(name: str) -> nn.Module:
        if name in cache:
            cache.move_to_end(name)
        else:
            cache[name] = models.get_model(name)
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
        return cache[name]

    return _build
