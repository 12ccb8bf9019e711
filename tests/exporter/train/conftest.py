"""Fixtures for the training tests: datasets of real images, written once per session or copied per test.

scikit-learn's handwritten digits (``tests/exporter/train/digits.py``) and the VOC fixture; the CLI runner
and settings are in ``tests/exporter/train/helpers.py``.

Run: ``pytest tests/exporter/train -q``
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.exporter.train.digits import write_digits
from tests.exporter.train.helpers import VOC_MINI


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits(tmp_path_factory.mktemp("digits") / "data", size=16)


@pytest.fixture(scope="session")
def digits_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 of the digits at 16 px (bad-input tests)."""
    return write_digits(tmp_path_factory.mktemp("digits_small") / "data", size=16, limit=300)


@pytest.fixture(scope="session")
def digits_tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 of the digits at their native 8 px: 110 train / 20 val / 20 test, for resume and DDP runs."""
    return write_digits(tmp_path_factory.mktemp("digits_tiny") / "data", size=8, limit=150)


@pytest.fixture
def voc_copy(tmp_path: Path) -> Path:
    """A writable copy of the VOC fixture (for tests that break it)."""
    return Path(shutil.copytree(VOC_MINI, tmp_path / "VOC2012"))
