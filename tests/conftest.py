"""Shared fixtures: the repository's test data and a per-session cache of built models."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = {"chelsea": DATA / "chelsea.png", "coffee": DATA / "coffee.png"}
# ImageNet indices a good model puts in the top-5 for each shared photo.
EXPECTED_CLASSES = {"chelsea": {281, 282, 285}, "coffee": {967, 968, 504}}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
