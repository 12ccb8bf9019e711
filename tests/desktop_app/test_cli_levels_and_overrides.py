"""``classify`` end to end through a subprocess: override flags change what a foreign model is given and are
remembered per file; ``-q`` keeps only warnings and errors on stderr, ``-v`` adds what was opened and how.

``python -m pytest tests/desktop_app/test_cli_levels_and_overrides.py -q -n 0``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.desktop_app.overrides_helpers import channel_model, labels_file
from tests.helpers import PHOTOS, REPO


def _classify(*args: str | Path, store: Path, models: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONIOENCODING": "utf-8",
        "CNN_WORKBENCH_MODELS": str(models),
        "CNN_WORKBENCH_OVERRIDES": str(store),
    }
    return subprocess.run(
        [sys.executable, "-m", "desktop_app", "classify", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return channel_model(folder / "zoo-channels.onnx")


def _first(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[0])


def test_override_flags_change_the_answer_and_are_remembered(foreign: Path, tmp_path: Path) -> None:
    store, photo = tmp_path / "overrides.json", PHOTOS["chelsea"]
    names = labels_file(tmp_path / "names.txt", ["red-ish", "green-ish", "blue-ish"])
    assumed = _first(_classify(photo, "--model", foreign, "--json", store=store, models=foreign.parent))
    flags = ("--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--channel-order", "BGR", "--labels", names)
    done = _classify(
        photo, "--model", foreign, "--json", *flags, "--remember-overrides", store=store, models=foreign.parent
    )
    overridden = _first(done)
    assert overridden["probabilities"] != assumed["probabilities"]
    assert set(overridden["labels"]) <= {"red-ish", "green-ish", "blue-ish"}  # type: ignore[arg-type]
    assert "overridden: mean 0.5, 0.5, 0.5 (assumed 0.485, 0.456, 0.406)" in done.stderr, done.stderr
    assert "overrides remembered in" in done.stderr and store.is_file()
    again = _classify(photo, "--model", foreign, "--json", store=store, models=foreign.parent)
    assert _first(again)["probabilities"] == overridden["probabilities"]  # remembered for the file
    assert "using overrides remembered in" in again.stderr
    forgot = _classify(photo, "--model", foreign, "--json", "--forget-overrides", store=store, models=foreign.parent)
    assert _first(forgot)["probabilities"] == assumed["probabilities"]
    assert "remembered overrides forgotten" in forgot.stderr


def test_a_bad_override_is_one_error_line_naming_the_flag(foreign: Path, tmp_path: Path) -> None:
    store = tmp_path / "overrides.json"
    done = _classify(PHOTOS["chelsea"], "--model", foreign, "--std", "0,1,1", store=store, models=foreign.parent)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--std" in done.stderr and not store.exists(), done.stderr


def test_quiet_keeps_results_and_verbose_says_what_was_opened(foreign: Path, tmp_path: Path) -> None:
    store, photo = tmp_path / "overrides.json", PHOTOS["chelsea"]
    normal = _classify(photo, "--model", foreign, store=store, models=foreign.parent)
    assert "note: zoo-channels.onnx: no workbench metadata" in normal.stderr
    assert "1 of 1 images classified" in normal.stderr
    quiet = _classify(photo, "--model", foreign, "-q", store=store, models=foreign.parent)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == normal.stdout
    verbose = _classify(photo, "--model", foreign, "--verbose", store=store, models=foreign.parent)
    assert "opened " in verbose.stderr and "zoo-channels.onnx" in verbose.stderr and "providers " in verbose.stderr
    assert '"mean": [0.485, 0.456, 0.406]' in verbose.stderr
    both = _classify(photo, "--model", foreign, "-q", "-v", store=store, models=foreign.parent)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_a_graph_of_dynamic_size_is_usable_as_224_and_takes_another_crop(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    model = channel_model(folder / "anysize.onnx", dims=("N", 3, "H", "W"))
    store = tmp_path / "overrides.json"
    assumed = _classify(PHOTOS["coffee"], "--model", model, "--json", store=store, models=folder)
    assert "input size is dynamic: assumed 224x224" in assumed.stderr
    assert "centre crop 224x224" in assumed.stderr
    cropped = _classify(PHOTOS["coffee"], "--model", model, "--json", "--crop", "64", store=store, models=folder)
    assert "overridden: size 64x64" in cropped.stderr, cropped.stderr
    assert _first(cropped)["probabilities"] != _first(assumed)["probabilities"]
