"""``python -m desktop_app inspect`` in a subprocess: the layer table, --compare's SQNR line, --csv, exit code 2.

Until ``desktop_app/cli.py`` registers the command, the same code runs as ``python -m desktop_app.cli_inspect``.

Run: ``pytest tests/desktop_app/test_inspect_cli.py -q -n 0``
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from desktop_app.cli import COMMANDS
from tests.desktop_app.helpers import TINY_SIZE, Zoo, run_cli
from tests.desktop_app.test_inspect_layers import perturbed_copy
from tests.desktop_app.view.helpers import build_model
from tests.helpers import PHOTOS, REPO


def inspect(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    if "inspect" in COMMANDS:
        return run_cli("inspect", *args)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "desktop_app.cli_inspect", "inspect", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=False)


def test_table_compare_and_csv(zoo: Zoo, tmp_path: Path) -> None:
    noisy = perturbed_copy(zoo, tmp_path / "tinynet-noisy.onnx", scale=0.5)
    out = tmp_path / "layers.csv"
    done = inspect(PHOTOS["chelsea"], "--model", zoo.workbench, "--compare", noisy, "--csv", out, "--threshold", "200")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("model: ") and "tinynet-tiny-10-fp32.onnx" in lines[0]
    assert "compared with:" in lines[1] and "tinynet-noisy.onnx" in lines[1]
    table = {line.split()[0]: line.split() for line in lines[3:] if line.split()[:1] and "." not in line[:1]}
    assert table["conv1"][1] == "Conv" and table["conv1"][2] == "1x8x16x16" and table["conv1"][-1] == "inf"
    assert table["layer1.0"][-1] != "inf" and float(table["layer1.0"][-1]) < 200
    assert any(line.startswith("first layer below 200 dB: layer1.0 (") for line in lines)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["module"] for r in rows[:3]] == ["conv1", "relu", "layer1.0"]
    assert rows[0]["sqnr_db"] == "inf" and len(rows[0]["histogram"].split()) == 24


def test_another_architecture_and_bad_image_exit_2(zoo: Zoo, tmp_path: Path) -> None:
    other = build_model(tmp_path / "othernet.onnx", architecture="othernet", size=TINY_SIZE)
    done = inspect(PHOTOS["chelsea"], "--model", zoo.workbench, "--compare", other)
    assert done.returncode == 2 and done.stdout == ""
    assert "error: cannot compare othernet.onnx against tinynet-tiny-10-fp32.onnx: architecture othernet" in done.stderr
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    done = inspect(bad, "--model", zoo.workbench, "--csv", tmp_path / "no-such-folder" / "x.csv")
    assert done.returncode == 2 and "x.csv: its folder does not exist" in done.stderr
    done = inspect(bad, "--model", zoo.workbench)
    assert done.returncode == 2 and "broken.png" in done.stderr
