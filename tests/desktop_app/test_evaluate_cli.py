"""``python -m desktop_app evaluate`` and ``classify --csv`` as a user runs them: real subprocesses.

Run: ``pytest tests/desktop_app/test_evaluate_cli.py -q``
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.desktop_app.evaluate_helpers import colour_model, image_folder, write_image
from tests.desktop_app.helpers import run_cli

REPO = Path(__file__).resolve().parents[2]
COUNTS = {"red": {"red": 3}, "green": {"green": 2, "blue": 1}, "Blue": {"blue": 2}, "purple": {"red": 1}}


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    colour_model(folder / "good.onnx")
    colour_model(folder / "swapped.onnx", np.eye(3, dtype=np.float32)[[1, 0, 2]] * 4)
    return folder


def test_evaluate_two_models_writes_the_three_report_files(tmp_path: Path, models: Path) -> None:
    data = image_folder(tmp_path / "data", COUNTS)
    (data / "red" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "report"
    done = run_cli("evaluate", data, "--models-dir", models, "--model", "good", "--model", "swapped", "--out", out)
    assert done.returncode == 1, done.stderr  # one image failed
    assert "broken.png" in done.stderr and "'purple' (1 images)" in done.stderr
    assert "87.50%" in done.stdout  # good: 7 of the 8 known images
    assert "top-1 agreement" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["predictions.csv", "report.html", "report.json"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"), parse_constant=_no_constants)
    assert [Path(m["file"]).name for m in report["models"]] == ["good.onnx", "swapped.onnx"]
    assert report["models"][0]["name"] == "good · colours · hand-made · fp32"
    good = report["models"][0]
    assert good["metrics"]["top1"] == pytest.approx(7 / 8) and good["images_evaluated"] == 9
    assert good["failed"][0]["file"] == "red/broken.png"
    assert good["unknown_classes"] == [{"name": "purple", "images": 1, "reason": good["unknown_classes"][0]["reason"]}]
    assert len(good["sha256"]) == 64 and report["data"]["images"] == 10
    assert report["comparison"]["images_compared"] == 9
    rows = list(csv.DictReader(io.StringIO((out / "predictions.csv").read_text(encoding="utf-8"))))
    assert len(rows) == 2 * 10
    broken = [r for r in rows if r["file"] == "red/broken.png"]
    assert len(broken) == 2 and all(r["error"] and not r["predicted_label"] for r in broken)
    purple = next(r for r in rows if r["true_label"] == "purple" and r["model"].startswith("good ·"))
    assert purple["true_rank"] == "" and purple["predicted_label"] == "red"
    assert "<svg" in (out / "report.html").read_text(encoding="utf-8")


def _no_constants(name: str) -> None:
    raise AssertionError(f"report.json holds {name}")


def _what_ran(tmp_path: Path, models: Path, engine: str) -> tuple[dict[str, object], str]:
    """``evaluate --engine ENGINE --out``: the model's entry in report.json and the page's text."""
    data = image_folder(tmp_path / "data", {"red": {"red": 1}, "blue": {"blue": 1}})
    out = tmp_path / f"report-{engine}"
    done = run_cli("evaluate", data, "--models-dir", models, "--model", "good", "--engine", engine, "--out", out)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads((out / "report.json").read_text(encoding="utf-8"), parse_constant=_no_constants)["models"]
    return entry, (out / "report.html").read_text(encoding="utf-8")


def test_the_report_records_onnxruntime_as_what_ran(tmp_path: Path, models: Path) -> None:
    entry, page = _what_ran(tmp_path, models, "onnxruntime")
    assert (entry["engine"], entry["device"], entry["precision"]) == ("onnxruntime", "CPU", "fp32")
    assert entry["providers"] == ["CPUExecutionProvider"] and entry["ran_on"] == "ONNX Runtime CPU, fp32"
    assert entry["runtime_precisions"] is None  # ONNX Runtime runs the file as exported
    assert "Runs on: ONNX Runtime CPU, fp32 · engine onnxruntime · device CPU · precision fp32" in page
    assert "providers CPUExecutionProvider" in page


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino is not installed")
def test_the_report_records_openvino_as_what_ran(tmp_path: Path, models: Path) -> None:
    entry, page = _what_ran(tmp_path, models, "openvino")
    assert (entry["engine"], entry["device"], entry["precision"]) == ("openvino", "CPU", "fp32")
    assert entry["providers"] == ["OpenVINO CPU"] and entry["ran_on"] == "OpenVINO CPU, fp32"
    assert isinstance(entry["runtime_precisions"], list) and "fp32" in entry["runtime_precisions"]
    assert "Runs on: OpenVINO CPU, fp32 · engine openvino · device CPU · precision fp32" in page
    assert "<td>OpenVINO CPU, fp32</td>" in page  # the accuracy table's "ran on" column


def test_all_fine_exits_0_and_writes_nothing_without_out(tmp_path: Path, models: Path) -> None:
    data = image_folder(tmp_path / "data", {"red": {"red": 2}, "blue": {"blue": 2}})
    done = run_cli("evaluate", data, "--models-dir", models, "--model", "good")
    assert done.returncode == 0, done.stderr
    assert "100.00%" in done.stdout and "4 images, 2 classes" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "models"]


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("flat", "expected DIR/<class>/<image files>"),
        ("missing", "no such"),
        ("unknown", "no image of a class the models know"),
    ],
)
def test_nothing_to_evaluate_is_exit_2_naming_the_path(tmp_path: Path, models: Path, layout: str, message: str) -> None:
    data = tmp_path / "data"
    if layout == "flat":
        write_image(data / "a.png", "red")
    elif layout == "unknown":
        image_folder(data, {"cats": {"red": 2}})
    done = run_cli("evaluate", data, "--models-dir", models, "--model", "good")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and str(data) in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unwritable_out_fails_before_the_run(tmp_path: Path, models: Path) -> None:
    data = image_folder(tmp_path / "data", {"red": {"red": 1}})
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    done = run_cli("evaluate", data, "--models-dir", models, "--model", "good", "--out", blocker / "report")
    assert done.returncode == 2 and "a-file is a file, not a folder" in done.stderr
    assert "model" not in done.stdout  # no model table: it stopped before evaluating


def test_mapping_and_csv_layout(tmp_path: Path, models: Path) -> None:
    images = [write_image(tmp_path / "img" / f"{i}.png", c) for i, c in enumerate(["red", "green", "blue"])]
    listing = tmp_path / "labels.csv"
    listing.write_text("path,label\n" + "".join(f"img/{p.name},{c}\n" for p, c in zip(images, "RGB", strict=True)))
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("R,red\nG,green\nB,blue\n")
    done = run_cli("evaluate", listing, "--models-dir", models, "--model", "good", "--mapping", mapping)
    assert done.returncode == 0, done.stderr
    assert "100.00%" in done.stdout and "(csv)" in done.stdout


def test_ctrl_c_leaves_no_report_behind(tmp_path: Path, models: Path) -> None:
    data = image_folder(tmp_path / "data", {"red": {"red": 3000}})
    out = tmp_path / "report"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    args = ["evaluate", str(data), "--models-dir", str(models), "--model", "good", "--out", str(out)]
    process = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("data:")  # reading is done, evaluating has begun
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert list(out.iterdir()) == []  # no report file, no temporary file


def test_classify_csv_and_json_name_the_model(tmp_path: Path, models: Path) -> None:
    image = write_image(tmp_path / "red.png", "red")
    table = tmp_path / "out.csv"
    done = run_cli(
        "classify", image, "--models-dir", models, "--model", "good", "--json", "--csv", table, "--top-k", "2"
    )
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stdout)
    assert (
        line["model"] == "good · colours · hand-made · fp32"
        and line["model_file"].endswith("good.onnx")
        and len(line["model_sha256"]) == 64
    )
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert [(r["rank"], r["label"]) for r in rows] == [
        ("1", "red"),
        ("2", "blue"),
    ]  # blue is less dark than green after normalising
    assert rows[0]["model_sha256"] == line["model_sha256"]
