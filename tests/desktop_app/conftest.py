"""Shared fixtures for the desktop_app tests: small real ONNX files (ours, foreign and broken) and photos.

Everything is built once per test session in a temporary folder (by ``tests/desktop_app/helpers.py``,
with torch + onnx); ``resnet18_64`` is the exporter's realistic resnet18 at 64 px with random weights (the
session's ``fp32_export``, copied). Auto's engine does not depend on which CPU runs the suite
(:func:`auto_is_onnxruntime`).

Run: ``pytest tests/desktop_app -q``
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from desktop_app.core import runtime
from tests.desktop_app.helpers import Photos, Zoo, build_zoo, write_photos
from tests.helpers import copy_export
from workbench.cpu import cpu_info, int8_saturates

if TYPE_CHECKING:
    from exporter.api import ExportResult

#: The CPU features that make Auto pick OpenVINO (:data:`desktop_app.core.runtime.AMX_FEATURES`).
AMX_FLAGS = frozenset(runtime.AMX_FEATURES)


@pytest.fixture(autouse=True)
def auto_is_onnxruntime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Auto's CPU rule sees this CPU without AMX, so that Auto means ONNX Runtime on every machine CI runs on
    (with AMX it means OpenVINO), and with VNNI, so that int8 files load without the saturation note; the
    tests of both patch ``runtime.cpu_info`` themselves. CLI subprocesses are not patched: their tests name
    the engine they check."""
    name, features = cpu_info()
    seen = tuple(f for f in features if f not in AMX_FLAGS)
    if int8_saturates(features):  # nor does whether int8 saturates (AVX2 without VNNI): the tests of it patch it
        seen += ("avx_vnni",)
    monkeypatch.setattr(runtime, "cpu_info", lambda: (name, seen))


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Zoo:
    return build_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Photos:
    return write_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
def resnet18_export(fp32_export: ExportResult, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    """A realistic export (resnet18, 64 px, random weights) from the exporter, in a folder of its own: the
    session's ``fp32_export`` copied (the same export is not traced again)."""
    return copy_export(fp32_export, tmp_path_factory.mktemp("exported"))


@pytest.fixture(scope="session")
def resnet18_64(resnet18_export: ExportResult) -> Path:
    """Path of the exporter's resnet18 at 64 px (random weights)."""
    return Path(resnet18_export.path)
