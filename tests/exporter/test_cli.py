"""The exporter's command line, through real subprocesses: success paths and every bad input.

Each bad input must give exit code 2, one clear line naming the problem, no traceback, no file.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image

import models
from tests.exporter.helpers import place_checkpoint, run_cli
from tests.helpers import EXPECTED_CLASSES, PHOTOS, REPO


def _assert_clean_failure(proc: subprocess.CompletedProcess[str], *needles: str, code: int = 2) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _no_files(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def test_help_lists_commands_and_flags() -> None:
    top = run_cli("--help")
    assert top.returncode == 0 and "list" in top.stdout and "export" in top.stdout
    export = run_cli("export", "--help")
    for flag in ("--model", "--weights", "--out", "--opset", "--force", "--default", "--image-size"):
        assert flag in export.stdout


def test_list_shows_costs_and_availability(tmp_path: Path) -> None:
    (tmp_path / "resnet18-imagenet-1k-random-fp32.onnx").write_bytes(b"")
    proc = run_cli("list", "--models-dir", str(tmp_path), env={"TORCH_HOME": str(tmp_path / "th")})
    assert proc.returncode == 0, proc.stderr
    rows = {
        line.split()[0]: line for line in proc.stdout.splitlines() if line and line.split()[0] in models.list_models()
    }
    assert set(rows) == set(models.list_models())
    assert "25.6M" in rows["resnet50"] and "4.09" in rows["resnet50"] and "224x224" in rows["resnet50"]
    assert "299x299" in rows["inception_v3"]
    assert "package installed" in rows["efficientnet_lite0"]
    assert "exported: resnet18-imagenet-1k-random-fp32.onnx" in rows["resnet18"]


def test_default_export_classifies_photos_from_metadata_alone(tmp_path: Path) -> None:
    out = tmp_path / "models"
    proc = run_cli("export", "--default", env={"CNN_WORKBENCH_MODELS": str(out)})
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout and "top-5 identical" in proc.stdout
    (path,) = out.glob("*.onnx")
    assert path.name == "efficientnet_lite0-imagenet-1k-imagenet-fp32.onnx"
    # A consumer that knows only ONNX Runtime, Pillow, numpy and the documented metadata keys.
    meta = ort.InferenceSession(str(path)).get_modelmeta().custom_metadata_map
    prep = json.loads(meta["workbench.preprocess"])
    labels = json.loads(meta["workbench.labels"])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for name, photo in PHOTOS.items():
        x = _preprocess_from_metadata(Image.open(photo).convert("RGB"), prep)
        logits = session.run(None, {session.get_inputs()[0].name: x})[0][0]
        top5 = np.argsort(-logits)[:5]
        assert EXPECTED_CLASSES[name] & set(top5.tolist()), [labels[i] for i in top5]
    again = run_cli("export", "--default", "--skip-existing", env={"CNN_WORKBENCH_MODELS": str(out)})
    assert again.returncode == 0 and "nothing to do" in again.stdout
    refused = run_cli("export", "--default", env={"CNN_WORKBENCH_MODELS": str(out)})
    _assert_clean_failure(refused, "already exists", "--force")


def _preprocess_from_metadata(image: Image.Image, prep: dict) -> np.ndarray:
    filters = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
    w, h = image.size
    short = prep["resize"]
    size = (short, int(short * h / w)) if w <= h else (int(short * w / h), short)
    image = image.resize(size, filters[prep["interpolation"]])
    ch, cw = prep["crop"]
    left, top = round((size[0] - cw) / 2), round((size[1] - ch) / 2)
    x = np.asarray(image.crop((left, top, left + cw, top + ch)), dtype=np.float32) / 255.0
    lo, hi = prep["value_range"]
    x = (lo + x * (hi - lo) - np.array(prep["mean"], np.float32)) / np.array(prep["std"], np.float32)
    assert prep["layout"] == "NCHW" and prep["channel_order"] == "RGB"
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def test_unknown_model_lists_valid_names(tmp_path: Path) -> None:
    proc = run_cli("export", "--model", "alexnet", "--weights", "random", "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert errors == [
        f"python -m exporter export: error: unknown model 'alexnet'; valid names: {', '.join(models.list_models())}"
    ]
    assert _no_files(tmp_path / "o")


def test_mismatched_weights_name_first_offenders(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(models.get_model("resnet18").state_dict(), path)
    proc = run_cli("export", "--model", "resnet34", "--weights", str(path), "--out", str(tmp_path / "o"))
    _assert_clean_failure(proc, "resnet18.pth", "missing", "layer1.2.conv1.weight")
    state = models.get_model("resnet18", num_classes=10).state_dict()
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, path)
    proc = run_cli("export", "--model", "resnet18", "--weights", str(path), "--out", str(tmp_path / "o"))
    _assert_clean_failure(proc, "shape mismatch", "conv1.weight")
    assert _no_files(tmp_path / "o")


def test_truncated_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save(models.get_model("resnet18").state_dict(), path)
    path.write_bytes(path.read_bytes()[:100_000])
    proc = run_cli("export", "--model", "resnet18", "--weights", str(path), "--out", str(tmp_path / "o"))
    _assert_clean_failure(proc, "cut.pth", "corrupted or truncated")
    assert _no_files(tmp_path / "o")


def test_refused_pickle(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"conv1.weight": subprocess.Popen}))
    proc = run_cli("export", "--model", "resnet18", "--weights", str(path), "--out", str(tmp_path / "o"))
    _assert_clean_failure(proc, "evil.pth", "weights_only=True")
    assert _no_files(tmp_path / "o")


def test_unwritable_output_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = run_cli("export", "--model", "resnet18", "--weights", "random", "--out", str(blocker / "models"))
    _assert_clean_failure(proc, str(blocker / "models"), f"{blocker} is a file, not a folder")


def test_offline_download_names_url_and_path(tmp_path: Path) -> None:
    home = tmp_path / "th"
    proc = run_cli(
        "export",
        "--model",
        "resnet18",
        "--weights",
        "imagenet",
        "--out",
        str(tmp_path / "o"),
        env={"TORCH_HOME": str(home)},
    )
    expected = home / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    _assert_clean_failure(proc, "https://download.pytorch.org/models/resnet18-f37072fd.pth", str(expected))
    assert _no_files(tmp_path / "o") and not expected.exists()


def test_disk_full_during_write(tmp_path: Path) -> None:
    def limit_file_size() -> None:  # runs in the child: writes past 1 MiB fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    out = tmp_path / "o"
    proc = run_cli(
        "export",
        "--model",
        "resnet18",
        "--weights",
        "random",
        "--image-size",
        "32",
        "--out",
        str(out),
        preexec_fn=limit_file_size,
    )
    _assert_clean_failure(proc, "disk full")
    assert _no_files(out)


def test_disk_full_while_lowering_to_int8(tmp_path: Path) -> None:
    """The int8 branch writes intermediate models to a temporary folder first: a full disk there is named."""

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    out, scratch = tmp_path / "o", tmp_path / "tmp"
    scratch.mkdir()
    proc = run_cli(
        *("export", "--model", "resnet18", "--weights", "random", "--image-size", "32", "--precision", "int8"),
        *("--out", str(out)),
        env={"TMPDIR": str(scratch)},
        preexec_fn=limit_file_size,
    )
    _assert_clean_failure(proc, "disk full while writing intermediate models", str(scratch), "TMPDIR")
    assert _no_files(out) and not list(scratch.glob("cnn-quant-*"))  # (torch keeps its own caches there)


def test_interrupted_export_leaves_nothing(tmp_path: Path) -> None:
    """Ctrl+C while the model is being exported: exit 130, a one-line message, no file."""
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "export", "--model", "resnet50", "--weights", "random", "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed before tracing starts; tracing ResNet-50 takes seconds
    assert first.startswith("exporting"), first
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, first + stdout + stderr
    assert "no file was written" in stderr
    assert _no_files(out)


def test_interrupt_while_writing_removes_the_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The temp file written before the checks is removed when Ctrl+C lands during them (deterministic)."""
    from exporter import api

    def interrupted(*_args: object, **_kwargs: object) -> None:
        assert any(tmp_path.glob(".*.onnx.tmp")), "the temp file should exist while it is checked"
        raise KeyboardInterrupt

    monkeypatch.setattr(api.onnx.checker, "check_model", interrupted)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
    )
    with pytest.raises(KeyboardInterrupt):
        api._write_checked(onnx.helper.make_model(graph), tmp_path / "m.onnx", lambda _p: None)  # type: ignore[arg-type, return-value]
    assert _no_files(tmp_path)


def test_export_from_hub_cache_through_cli(tmp_path: Path, torch_home: Path) -> None:
    place_checkpoint(torch_home, "resnet18")
    out = tmp_path / "o"
    proc = run_cli(
        "export",
        "--model",
        "resnet18",  # --weights imagenet is the default
        "--image-size",
        "64",
        "--out",
        str(out),
        env={"TORCH_HOME": str(torch_home)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "PASS" in proc.stdout
    proto = onnx.load(str(out / "resnet18-imagenet-1k-imagenet-fp32-64px.onnx"), load_external_data=False)
    weights = json.loads({p.key: p.value for p in proto.metadata_props}["workbench.weights"])
    assert weights["source"] == "imagenet" and "differs from the official file" in weights["detail"]
