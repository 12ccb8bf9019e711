"""int8 on a CPU whose int8 sums saturate (AVX2 without VNNI or AMX): the app, ``classify`` and Evaluate say so.

Run: ``pytest tests/desktop_app/test_int8_saturation.py -q``
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from desktop_app.core import runtime
from desktop_app.core.catalog import inspect_model
from desktop_app.core.runtime import SessionCache, int8_cpu_note, open_model
from desktop_app.view import backend
from exporter.api import ExportResult
from tests.desktop_app.helpers import Photos, run_cli
from workbench.cpu import int8_saturates

AVX2_ONLY = ("AMD EPYC 7B13 (patched)", ("avx2",))
VNNI = ("AMD EPYC 9B14 (patched)", ("avx2", "avx512f", "avx512_vnni", "avx512_bf16"))
NOTE = "int8 is less accurate on this CPU (AMD EPYC 7B13 (patched): AVX2, no VNNI or AMX): both engines' int8 kernels"


@pytest.mark.parametrize(
    ("features", "saturates"),
    [
        (("avx2",), True),
        (("avx2", "avx512f"), True),  # AVX-512 without VNNI (Skylake-SP) is no better
        (("avx2", "avx512f", "avx512_vnni"), False),
        (("avx2", "avx_vnni"), False),
        (("avx2", "avx512f", "avx512_vnni", "amx_int8"), False),
        ((), False),  # features unknown (not Linux): no claim either way
    ],
)
def test_which_cpus_saturate(features: tuple[str, ...], saturates: bool) -> None:
    assert int8_saturates(features) is saturates


@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_an_int8_file_on_such_a_cpu_gets_the_note_on_either_engine(
    int8_export: ExportResult, fp32_export: ExportResult, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    if engine == "openvino":
        pytest.importorskip("openvino")
    monkeypatch.setattr(runtime, "cpu_info", lambda: AVX2_ONLY)
    model = open_model(inspect_model(int8_export.path), engine=engine, device="cpu")
    note = int8_cpu_note(model)
    assert note is not None and note.startswith(NOTE) and "the fp32 file is not affected" in note
    assert int8_cpu_note(open_model(inspect_model(fp32_export.path), engine=engine, device="cpu")) is None
    monkeypatch.setattr(runtime, "cpu_info", lambda: VNNI)
    assert int8_cpu_note(model) is None


def test_the_window_and_evaluate_get_it_in_the_load_note(
    int8_export: ExportResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "cpu_info", lambda: AVX2_ONLY)
    loaded = backend.load(SessionCache(), inspect_model(int8_export.path), "cpu")
    assert loaded.note.startswith(NOTE)
    monkeypatch.setattr(runtime, "cpu_info", lambda: VNNI)
    assert backend.load(SessionCache(), inspect_model(int8_export.path), "cpu").note == ""


@pytest.mark.parametrize("command", ["classify", "evaluate"])
def test_the_commands_say_it_on_this_machine_exactly_when_it_saturates(
    int8_export: ExportResult, photos: Photos, tmp_path: Path, command: str
) -> None:
    target = photos.good[0]
    if command == "evaluate":  # an ImageNet-style folder: one class folder named by its WordNet id (tabby)
        target = tmp_path / "n02123045" / photos.good[0].name
        target.parent.mkdir()
        shutil.copy(photos.good[0], target)
        target = tmp_path
    proc = run_cli(command, target, "--model", int8_export.path, "--engine", "onnxruntime")
    assert proc.returncode == 0, proc.stderr
    said = "int8 kernels saturate sums of int8 products" in proc.stderr
    assert said is int8_saturates(), proc.stderr  # the real CPU, in a real subprocess
    assert "warning" not in proc.stderr  # Auto without an NVIDIA GPU is a note, not a warning, on both
