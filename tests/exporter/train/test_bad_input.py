"""Bad input through the real CLI: one clear ``error:`` line and exit 2, or (bad images) skipped and named."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from exporter.train import checkpoint
from tests.exporter.train.helpers import DIGITS_ARGS, VOC_MINI, load, run_train


def _digit_folder(src: Path, dst: Path, classes: tuple[str, ...] = ("0", "1"), per_class: int = 6) -> Path:
    for cls in classes:
        (dst / cls).mkdir(parents=True)
        for file in sorted((src / cls).iterdir())[:per_class]:
            shutil.copy(file, dst / cls / file.name)
    return dst


def _empty_class(tmp: Path, digits: Path) -> list[str]:
    root = _digit_folder(digits, tmp / "d")
    (root / "2").mkdir()
    return ["--data", str(root)]


def _classes_differ(tmp: Path, digits: Path) -> list[str]:
    _digit_folder(digits, tmp / "d" / "train", ("0", "1"))
    _digit_folder(digits, tmp / "d" / "val", ("0", "7"), per_class=2)
    return ["--data", str(tmp / "d")]


def _malformed_xml(tmp: Path, digits: Path) -> list[str]:
    root = Path(shutil.copytree(VOC_MINI, tmp / "VOC2012"))
    (root / "Annotations" / "2012_000003.xml").write_text("<annotation><object><name>cat</name></annotation>")
    return ["--voc", str(root)]


def _resume_other_architecture(tmp: Path, digits: Path) -> list[str]:
    path = tmp / "last.pt"
    checkpoint.save_atomic({"architecture": "resnet34", "state_dict": {"w": torch.zeros(1)}, "resume": {}}, path)
    return ["--resume", str(path), "--model", "resnet18"]


def _weights_other_architecture(tmp: Path, digits: Path) -> list[str]:
    path = tmp / "other.pt"
    checkpoint.save_atomic({"architecture": "vgg11", "state_dict": {"w": torch.zeros(1)}}, path)
    return ["--data", str(_digit_folder(digits, tmp / "d")), "--weights", str(path)]


def _not_a_checkpoint(tmp: Path, digits: Path) -> list[str]:
    (tmp / "last.pt").write_bytes(b"not a zip file")
    return ["--resume", str(tmp / "last.pt")]


CASES: dict[str, tuple[Callable[[Path, Path], list[str]], str]] = {
    "empty-class-folder": (_empty_class, r"2: empty class folder \(no image files\)"),
    "classes-differ": (_classes_differ, r"val: classes differ from train/ \(extra: 7; missing: 1\)"),
    "malformed-voc-xml": (_malformed_xml, r"2012_000003.xml: malformed XML \(mismatched tag: line 1"),
    "resume-other-architecture": (_resume_other_architecture, r"a checkpoint of resnet34, not resnet18 \(--model\)"),
    "weights-other-architecture": (_weights_other_architecture, r"a checkpoint of vgg11, not resnet18"),
    "corrupt-checkpoint": (_not_a_checkpoint, r"last.pt: refused by torch.load\(weights_only=True\)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_clear_line(case: str, digits_small: Path, tmp_path: Path) -> None:
    make, pattern = CASES[case]
    args = make(tmp_path, digits_small)
    model = [] if "--model" in args or "--resume" in args else DIGITS_ARGS
    result = run_train([*model, *args, "--out", str(tmp_path / "run"), "--epochs", "1"], tmp_path)
    assert result.code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_bad_images_are_skipped_counted_and_named(digits_small: Path, tmp_path: Path) -> None:
    root = tmp_path / "d"
    _digit_folder(digits_small, root / "train", per_class=8)
    _digit_folder(digits_small, root / "val", per_class=2)
    good = next((root / "train" / "0").iterdir()).read_bytes()
    (root / "train" / "0" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "train" / "1" / "notes.jpg").write_text("not an image")
    (root / "val" / "1" / "empty.png").write_bytes(b"")
    out = tmp_path / "run"
    args = ["--data", str(root), *DIGITS_ARGS, "--epochs", "2", "--batch-size", "4", "--out", str(out), "--no-export"]
    result = run_train(args, tmp_path)
    assert result.code == 0, result.output
    assert "3 bad image(s) skipped" in result.stderr
    named = (out / "bad_images.txt").read_text()
    for name in ("truncated.png: truncated or corrupt", "notes.jpg: not an image", "empty.png: file is empty"):
        assert name in named
    assert load(out / "best.pt")["metrics"]["bad_images"] == 3
