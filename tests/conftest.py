"""Shared fixtures: the repository's test data; per-user folders redirected away from the user's own."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = {"chelsea": DATA / "chelsea.png", "coffee": DATA / "coffee.png"}
# ImageNet indices a good model puts in the top-5 for each shared photo.
EXPECTED_CLASSES = {"chelsea": {281, 282, 285}, "coffee": {967, 968, 504}}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def pytest_configure(config: pytest.Config) -> None:
    """Keep tests (and the CLIs they start) out of the user's optimized-model cache and models folder."""
    scratch = Path(tempfile.mkdtemp(prefix="cnn-workbench-tests-"))
    os.environ["CNN_WORKBENCH_CACHE"] = str(scratch / "optimized-cache")
    os.environ.setdefault("CNN_WORKBENCH_MODELS", str(scratch / "models"))
