"""What the exporter takes from files and paths: ``--labels`` files, checkpoint names, the models folder.

Through real ``python -m exporter`` subprocesses: a bad labels file (latin-1, empty, blank or repeated
line) is one ``error:`` line naming the file and the line; a checkpoint's ``label_set`` of
``../../../../somewhere`` cannot move the file (or its temporary) out of ``--out``; a models folder that
is a dangling symlink is called that, not "not writable (File exists)".
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import onnx
import pytest
import torch

import models
from exporter.errors import ExporterError
from tests.exporter.helpers import run_cli

SMALL = ["--model", "resnet18", "--image-size", "32", "--quiet"]


def _error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _labels_of(path: Path) -> list[str]:
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return json.loads(meta["workbench.labels"])


BAD_LABELS = {
    "latin-1": (b"cat\ncaf\xe9\ndog\n", ["not UTF-8", "line 2", "UTF-8 encoding"]),
    "empty": (b"", ["empty"]),
    "only a newline": (b"\n", ["line 1 is blank"]),
    "blank line": (b"cat\ndog\nbird\n\nfish\n", ["line 4 is blank"]),
    "spaces only": (b"cat\n   \ndog\n", ["line 2 is blank"]),
    "blank line at the end": (b"cat\ndog\n\n", ["line 3 is blank"]),
    "duplicate": (b"dog\ncat\nbird\nfish\nant\nbee\nwasp\nfly\ncat\n", ["line 9 repeats 'cat' from line 2"]),
}


@pytest.mark.parametrize("case", list(BAD_LABELS), ids=list(BAD_LABELS))
def test_bad_labels_file_is_one_error_naming_file_and_line(tmp_path: Path, case: str) -> None:
    content, needles = BAD_LABELS[case]
    labels = tmp_path / "classes.txt"
    labels.write_bytes(content)
    out = tmp_path / "models"
    line = _error_line(run_cli("export", *SMALL, "--weights", "random", "--labels", str(labels), "--out", str(out)))
    assert str(labels) in line
    for needle in needles:
        assert needle in line, line
    assert not list(out.glob("*.onnx"))


def test_labels_file_with_final_newline_crlf_and_bom_keeps_every_index(tmp_path: Path) -> None:
    labels = tmp_path / "classes.txt"
    labels.write_bytes("\ufeffant\r\n  bee  \r\nwasp\r\n".encode())
    out = tmp_path / "models"
    proc = run_cli("export", *SMALL, "--weights", "random", "--labels", str(labels), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("*.onnx")
    assert path.name == "resnet18-custom-random-fp32-32px.onnx"
    assert _labels_of(path) == ["ant", "bee", "wasp"]


def test_labels_file_with_the_wrong_count_for_num_classes(tmp_path: Path) -> None:
    labels = tmp_path / "classes.txt"
    labels.write_text("ant\nbee\nwasp\n", encoding="utf-8")
    line = _error_line(
        run_cli("export", *SMALL, "--weights", "random", "--labels", str(labels), "--num-classes", "5",
                "--out", str(tmp_path / "m"))
    )  # fmt: skip
    assert str(labels) in line and "3 class names" in line and "5" in line


def _checkpoint(path: Path, **extras: object) -> Path:
    torch.manual_seed(0)
    state = models.get_model("resnet18", num_classes=3).state_dict()
    torch.save({"architecture": "resnet18", "state_dict": state, **extras}, path)
    torch.load(path, weights_only=True)  # a plain checkpoint, as the exporter reads it
    return path


def _all_files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def test_checkpoint_label_set_cannot_steer_the_file_out_of_out(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / "ckpt.pt", label_set="../../../../somewhere", labels=["ant", "bee", "wasp"])
    out = tmp_path / "a" / "b" / "c" / "models"
    # A folder whose name makes "resnet18-../../.." a real path, so an unchecked name would escape.
    (out / "resnet18-..").mkdir(parents=True)
    before = _all_files(tmp_path)
    proc = run_cli("export", *SMALL, "--weights", str(ckpt), "--out", str(out))
    new = _all_files(tmp_path) - before
    assert new == {out / "resnet18-somewhere-ckpt-fp32-32px.onnx"}, new
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "label_set '../../../../somewhere' is not a plain name; using 'somewhere'" in proc.stderr
    assert _labels_of(out / "resnet18-somewhere-ckpt-fp32-32px.onnx") == ["ant", "bee", "wasp"]


def test_a_long_weights_file_name_still_gives_a_file_name_that_fits(tmp_path: Path) -> None:
    ckpt = _checkpoint(tmp_path / f"{'w' * 240}.pt", label_set="custom", labels=["ant", "bee", "wasp"])
    out = tmp_path / "models"
    proc = run_cli("export", *SMALL, "--weights", str(ckpt), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in out.iterdir()] == [f"resnet18-custom-{'w' * 64}-fp32-32px.onnx"]


@pytest.mark.parametrize(
    ("labels", "needle"),
    [(["ant", "  ", "wasp"], "labels entry 1 is blank"), (["ant", "bee", "ant"], "entry 2 repeats 'ant' from entry 0"),
     (["ant", 7, "wasp"], "labels entry 1 is a int")],
    ids=["blank", "duplicate", "not-a-string"],
)  # fmt: skip
def test_checkpoint_labels_are_checked_like_a_labels_file(tmp_path: Path, labels: list[object], needle: str) -> None:
    ckpt = _checkpoint(tmp_path / "ckpt.pt", label_set="custom", labels=labels)
    line = _error_line(run_cli("export", *SMALL, "--weights", str(ckpt), "--out", str(tmp_path / "m")))
    assert str(ckpt) in line and needle in line


@pytest.mark.parametrize(
    ("text", "safe"),
    [("../../../../somewhere", "somewhere"), ("voc-2012", "voc-2012"), ("my photos/2024", "my_photos_2024"),
     ("..", "custom"), (".hidden", "hidden"), ("x" * 100, "x" * 64), ("a\\b:c\0d", "a_b_c_d")],
)  # fmt: skip
def test_safe_name_part(text: str, safe: str) -> None:
    from exporter.weights import safe_name_part

    assert safe_name_part(text, "custom") == safe


@pytest.mark.parametrize("name", ["", ".", "..", "a/b.onnx", "../x.onnx", f"x{os.sep}y", "nul\0.onnx"])
def test_a_name_that_is_not_one_file_name_is_refused(tmp_path: Path, name: str) -> None:
    from exporter.api import inside

    with pytest.raises(ExporterError, match="not a plain file name"):
        inside(tmp_path, name)
    assert inside(tmp_path, "resnet18-custom-x-fp32.onnx") == tmp_path / "resnet18-custom-x-fp32.onnx"


def test_dangling_symlink_models_folder_is_named_as_such(tmp_path: Path) -> None:
    link = tmp_path / "models"
    link.symlink_to(tmp_path / "gone")
    line = _error_line(run_cli("export", *SMALL, "--weights", "random", "--out", str(link)))
    assert f"{link} is a symlink to {tmp_path / 'gone'}, which does not exist" in line, line
    assert "File exists" not in line
    # The same through $CNN_WORKBENCH_MODELS, and for a folder below the link.
    line = _error_line(
        run_cli("export", *SMALL, "--weights", "random", env={"CNN_WORKBENCH_MODELS": str(link / "sub")})
    )
    assert f"{link / 'sub'}: {link} is a symlink to {tmp_path / 'gone'}, which does not exist" in line, line
    listing = run_cli("list", "--models-dir", str(link))
    assert listing.returncode == 0 and "which does not exist" in listing.stdout
    assert not (tmp_path / "gone").exists()


def test_a_file_in_place_of_the_models_folder_is_named_as_such(tmp_path: Path) -> None:
    blocker = tmp_path / "models"
    blocker.write_text("not a folder")
    line = _error_line(run_cli("export", *SMALL, "--weights", "random", "--out", str(blocker)))
    assert f"{blocker} is a file, not a folder" in line, line
