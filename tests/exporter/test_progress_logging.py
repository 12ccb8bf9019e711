"""Progress and logging of the exporter's long jobs (issue 18): tqdm on a terminal, plain lines in a pipe,
``-v``/``-q``, and ONNX Runtime's own coloured warnings kept out of our output.

The int8 steps run on a hand-built three-layer graph (seconds, not a full export); the terminal case runs
under a real pseudo-terminal; ONNX Runtime's warning is provoked in a real subprocess.

Run: ``pytest tests/exporter/test_progress_logging.py -q -n 0``
"""

from __future__ import annotations

import fcntl
import logging
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from exporter.cli import build_parser
from exporter.cliutil import setup_logging
from exporter.progress import Steps
from exporter.quant.fallback import lower_int8
from exporter.quant.qdq import Int8Settings, quantize_qdq
from exporter.train.cli import final_summary
from exporter.train.loop import accuracy_text
from tests.helpers import REPO
from workbench.contract import INPUT_NAME

pytestmark = pytest.mark.usefixtures("private_cache")  # ORT's optimized-model cache per test

RNG = np.random.default_rng(3)
UNUSED_INITIALIZER = """
import numpy as np, onnxruntime as ort, sys
from onnx import TensorProto, helper, numpy_helper
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    [numpy_helper.from_array(np.zeros(2, np.float32), "unused")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
if sys.argv[1] == "ours":
    from exporter.cliutil import setup_logging
    setup_logging(0)
ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
"""


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """setup_logging() configures process-wide state: put it back for the tests that follow."""
    logger = logging.getLogger("exporter")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers, logger.level, logger.propagate = saved[0], saved[1], saved[2]
    ort.set_default_logger_severity(2)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_plain_lines_off_a_terminal_and_silence_with_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(0)
    with Steps("job", 8, every=4) as steps:
        for i in range(8):
            steps.step(f"item {i}")
    with Steps("inner", 3, plain=False) as inner:  # inner loops say nothing off a terminal
        inner.step()
    captured = capsys.readouterr()
    assert captured.out == "" and _lines(captured.err) == ["job: 4/8 (item 3)", "job: 8/8 (item 7)"]
    setup_logging(-1)
    with Steps("job", 2) as steps:
        steps.step()
        steps.step()
    assert capsys.readouterr().err == ""
    setup_logging(0)


def test_a_tqdm_bar_on_a_terminal() -> None:
    code = (
        "from exporter.cliutil import setup_logging; from exporter.progress import Steps; setup_logging(0)\n"
        "import time\nwith Steps('job', 3) as s:\n    for _ in range(3):\n        time.sleep(0.15)\n"
        "        s.step('ort-int8')\n"
    )
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal has a width
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, stderr=follower, stdout=subprocess.PIPE, timeout=120, check=False
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is closed once everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    text = drawn.decode(errors="replace")
    assert "\r" in text and "job:" in text and "3/3" in text and "ort-int8" in text  # tqdm redraws in place
    assert "job: 1/3" not in text  # no plain lines on a terminal


def _three_convs(path: Path, outlier: float) -> Path:
    """image (N,3,8,8) -> Conv 3x3 -> Relu -> Conv 1x1 -> Flatten 'logits'; one large weight in the first."""
    w1 = RNG.normal(0, 1, (4, 3, 3, 3)).astype(np.float32)
    w1[0, 0, 0, 0] = outlier
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b1"),
        numpy_helper.from_array(RNG.normal(0, 1, (3, 4, 1, 1)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Conv", [INPUT_NAME, "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node("Flatten", ["c2"], ["logits"], name="flatten"),
    ]
    graph = helper.make_graph(
        nodes,
        "convs",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", None])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9), str(path))
    return path


def test_int8_calibration_reports_progress(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(0)
    fp32 = _three_convs(tmp_path / "fp32.onnx", 1.0)
    batch = RNG.uniform(0, 1, (20, 3, 8, 8)).astype(np.float32)
    quantize_qdq(fp32, tmp_path / "int8.onnx", batch, Int8Settings(), progress="int8: calibration")
    assert _lines(capsys.readouterr().err) == [
        "int8: calibration: 1/3 (8/20 images)",
        "int8: calibration: 2/3 (16/20 images)",
        "int8: calibration: 3/3 (20/20 images)",
    ]


def test_fp32_fallback_search_reports_its_rounds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(0)
    fp32 = _three_convs(tmp_path / "fp32.onnx", 1.0)
    calibration = RNG.uniform(0, 1, (16, 3, 8, 8)).astype(np.float32)
    calibration[0] *= 30  # one outlier image stretches the int8 ranges: ordinary images lose precision
    evaluation = RNG.uniform(0, 1, (8, 3, 8, 8)).astype(np.float32)
    said: list[str] = []
    lower_int8(fp32, tmp_path / "int8.onnx", calibration, evaluation, Int8Settings(), tmp_path, said.append)
    assert _lines(capsys.readouterr().err) == [
        "int8: calibration: 1/2 (8/16 images)",
        "int8: calibration: 2/2 (16/16 images)",
        "int8: fp32-fallback search: 1/4 (trying conv2 (Conv with conv1, relu1) in fp32)",
    ]  # the trial's own calibration draws a bar on a terminal only
    assert said[-1].startswith("int8: fp32 fallback for conv2")


def test_onnx_runtime_warnings_stay_out_of_our_output() -> None:
    def run(mode: str) -> str:
        command = [sys.executable, "-c", UNUSED_INITIALIZER, mode]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
        return done.stderr

    assert "Removing initializer 'unused'" in run("plain")  # the control: ORT does warn here
    assert run("ours") == ""


@pytest.mark.parametrize("command", [["export", "--model", "resnet18"], ["bench", "--model", "resnet18"],
                                     ["train", "--data", "d"]])  # fmt: skip
def test_verbose_and_quiet_on_every_subcommand(command: list[str]) -> None:
    parser = build_parser("cnn-export")
    assert parser.parse_args(command).verbosity == 0
    assert parser.parse_args([*command, "-v"]).verbosity == 1
    assert parser.parse_args([*command, "--quiet"]).verbosity == -1


def test_training_text_uses_percent_integers_and_top5_from_five_classes() -> None:
    metrics = {"test_loss": 0.41234, "test_top1": 0.9333, "test_top5": 1.0, "test_images": 30.0}
    assert final_summary(metrics, 3) == "test (30 images): loss 0.4123, top-1 93.33%"
    assert final_summary(metrics | {"test_is_val": True}, 10).startswith("val (30 images): ")
    assert accuracy_text(metrics, "test", 10) == "top-1 93.33%, top-5 100.00%"
