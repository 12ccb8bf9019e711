"""Models from anywhere and the command line (issue 18): [N, C, 1, 1] outputs, ambiguous ``--model`` names.

Real ONNX files written with ``onnx.helper`` into ``tmp_path``, real PNGs written by Pillow; the command line
runs in a subprocess. ``pytest tests/desktop_app/test_polish_core.py -q``
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from desktop_app.core.catalog import ModelChoiceError, choose_model, inspect_model
from desktop_app.core.classify import classify_paths
from desktop_app.core.profiling import DEFAULT_RUNS
from desktop_app.core.runtime import load_model
from tests.desktop_app.evaluate_helpers import colour_model
from tests.desktop_app.helpers import run_cli
from tests.helpers import REPO

SIDE = 32


def conv_head_model(path: Path, classes: int = 10, spatial: tuple[int, int] = (1, 1)) -> Path:
    """A foreign model (no workbench metadata) ending like old zoo models: mean pool, 1x1 conv -> [N, C, 1, 1].

    Class 0 answers red, class 1 green, class 2 blue (weights 4x the channel mean); the rest stay at zero.
    ``spatial`` other than (1, 1) makes the output [N, C, h, w] (pooled to that size), which is refused.
    """
    weights = np.zeros((classes, 3, 1, 1), np.float32)
    for channel in range(3):
        weights[channel, channel] = 4.0
    pool = (
        helper.make_node("ReduceMean", ["image", "axes"], ["pooled"], keepdims=1, name="pool")
        if spatial == (1, 1)
        else helper.make_node(
            "AveragePool",
            ["image"],
            ["pooled"],
            kernel_shape=[SIDE // spatial[0]] * 2,
            strides=[SIDE // spatial[0]] * 2,
            name="pool",
        )
    )
    graph = helper.make_graph(
        [pool, helper.make_node("Conv", ["pooled", "w"], ["logits"], name="classifier")],
        "old_zoo",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes, *spatial])],
        [numpy_helper.from_array(np.array([2, 3], np.int64), "axes"), numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def square(path: Path, rgb: tuple[int, int, int]) -> Path:
    Image.new("RGB", (40, 40), rgb).save(path)
    return path


def test_output_n_c_1_1_is_read_as_n_c(tmp_path: Path) -> None:
    entry = inspect_model(conv_head_model(tmp_path / "densenet-ish.onnx"))
    assert entry.usable, entry.error
    assert entry.num_classes == 10 and entry.labels[0] == "class 0"
    model = load_model(entry, "cpu")
    logits = model.run(np.zeros((3, 3, SIDE, SIDE), np.float32))
    assert logits.shape == (3, 10)
    images = [square(tmp_path / f"{name}.png", rgb) for name, rgb in (("red", (230, 10, 10)), ("blue", (5, 5, 240)))]
    results = list(classify_paths(model, images, top_k=3))
    assert [r.prediction.indices[0] for r in results if r.prediction] == [0, 2]


def test_other_spatial_outputs_are_still_refused(tmp_path: Path) -> None:
    entry = inspect_model(conv_head_model(tmp_path / "segmenter.onnx", spatial=(2, 2)))
    assert not entry.usable
    assert entry.error is not None and "segmenter.onnx" in entry.error and "[N, classes, 1, 1]" in entry.error


def test_classify_command_runs_a_model_with_a_1x1_output(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    conv_head_model(models / "old_zoo.onnx")
    image = square(tmp_path / "green.png", (10, 220, 10))
    done = run_cli("classify", image, "--model", "old_zoo", "--json", "--top-k", "2", models=models)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert record["indices"][0] == 1 and record["labels"][0] == "class 1"


@pytest.fixture
def twins(tmp_path: Path) -> Path:
    """Two files with the same card (same display name) and a third model: ``models/`` of the name tests."""
    models = tmp_path / "models"
    models.mkdir()
    colour_model(models / "colours.onnx")
    shutil.copy(models / "colours.onnx", models / "colours-copy.onnx")
    colour_model(models / "other.onnx")
    return models


def test_a_display_name_two_files_share_is_refused_naming_both(twins: Path) -> None:
    display = inspect_model(twins / "colours.onnx").name
    with pytest.raises(ModelChoiceError) as caught:
        choose_model(display.upper(), twins)
    message = str(caught.value)
    assert "2 models" in message and "have that name" in message
    assert str(twins / "colours.onnx") in message and str(twins / "colours-copy.onnx") in message
    assert "no model of that name" not in message
    # The file's stem, its file name and the name shown in the dropdown still pick one file each.
    assert choose_model("colours-copy", twins).path.name == "colours-copy.onnx"
    assert choose_model("colours.onnx", twins).path.name == "colours.onnx"
    assert choose_model(f"{display} (colours-copy.onnx)", twins).path.name == "colours-copy.onnx"
    assert choose_model(inspect_model(twins / "other.onnx").name, twins).path.name == "other.onnx"


def test_classify_lists_the_files_sharing_a_name_and_exits_2(twins: Path, tmp_path: Path) -> None:
    image = square(tmp_path / "red.png", (230, 10, 10))
    display = inspect_model(twins / "colours.onnx").name
    done = run_cli("classify", image, "--model", display, models=twins)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "error:" in line and "colours.onnx" in line and "colours-copy.onnx" in line
    assert "other.onnx" not in line


@pytest.mark.parametrize(
    ("engine", "name_key", "op_type"), [("onnxruntime", "module", "Conv"), ("openvino", "group", "Convolution")]
)
def test_profile_json_records_the_model_file_image_versions_cpu_threads_and_load(
    tmp_path: Path, engine: str, name_key: str, op_type: str
) -> None:
    model = conv_head_model(tmp_path / "old_zoo.onnx")
    image = square(tmp_path / "red.png", (230, 10, 10))
    args = ("--model", model, "--engine", engine, "--json", "--runs", "2", "--group-by", "op")
    done = run_cli("profile", image, *args)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["model_file"] == str(model)
    assert record["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert record["image"] == str(image)
    assert record["versions"]["python"] and (record["versions"]["onnxruntime"] or record["versions"]["onnxruntime-gpu"])
    assert record["hardware"]["cpu"] and record["hardware"]["logical_cores"] >= 1
    assert "threads" in record and len(record["load_average_1_5_15"]) == 3
    assert record["runs"] == 2 and record["engine"] == engine
    assert {row[name_key] for row in record["rows"]} >= {op_type, "ReduceMean"}  # grouped by op type


def test_profile_text_explains_the_gap_and_uses_the_shared_default_runs(tmp_path: Path) -> None:
    model = conv_head_model(tmp_path / "old_zoo.onnx")
    image = square(tmp_path / "red.png", (230, 10, 10))
    done = run_cli("profile", image, "--model", model, "--engine", "onnxruntime", "--group-by", "provider")
    assert done.returncode == 0, done.stderr
    assert f"median of {DEFAULT_RUNS} runs" in done.stdout
    assert "outside the layers' kernels" in done.stdout
    assert "\nCPU " in done.stdout  # one row per provider


def test_a_mistyped_model_name_gets_the_closest_name_and_exit_2(twins: Path) -> None:
    with pytest.raises(ModelChoiceError, match=r"colourz: no model of that name in .*; did you mean colours\?"):
        choose_model("colourz", twins)
    with pytest.raises(ModelChoiceError) as caught:
        choose_model("resnet50", twins)  # nothing close: no suggestion, the names that exist
    assert "did you mean" not in str(caught.value) and "available: colours" in str(caught.value)
    done = run_cli("classify", REPO / "tests" / "data" / "chelsea.png", "--model", "other-", models=twins)
    assert done.returncode == 2
    assert "; did you mean other? (available: " in done.stderr and done.stderr.count("\n") == 1
