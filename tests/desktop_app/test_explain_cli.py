"""``python -m desktop_app explain`` in a subprocess: overlay PNG, raw map.npy, the method, exit code 2 on bad usage.

Until ``desktop_app/cli.py`` registers the command, the same code runs as ``python -m desktop_app.cli_explain``.

Run: ``pytest tests/desktop_app/test_explain_cli.py -q -n 0``
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from desktop_app.cli import COMMANDS
from tests.desktop_app.helpers import TINY_SIZE, Zoo, export_onnx, run_cli, tiny_card, write_card
from tests.helpers import PHOTOS, REPO


def explain(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    if "explain" in COMMANDS:
        return run_cli("explain", *args)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "desktop_app.cli_explain", "explain", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=120, check=False)


class VggLike(nn.Module):
    """VGG's head in miniature: Flatten -> Linear -> ReLU -> Dropout -> Linear, no global average pooling."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(8))
        self.classifier = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Dropout(), nn.Linear(16, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


@pytest.fixture(scope="module")
def vgg_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vgg-like") / "vgglike-tiny-10-fp32.onnx"
    model = export_onnx(VggLike().eval(), path, (1, 3, TINY_SIZE, TINY_SIZE))
    write_card(path, model, tiny_card(model, None))
    return path


@pytest.fixture(scope="module")
def wide_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("explain-photos") / "wide cat.png"
    Image.open(PHOTOS["chelsea"]).convert("RGB").resize((90, 40)).save(path)
    return path


def test_cam_map_on_the_original_grid_nan_outside_the_crop(zoo: Zoo, wide_photo: Path, tmp_path: Path) -> None:
    out, saved = tmp_path / "overlay.png", tmp_path / "map.npy"
    args = ("--model", zoo.workbench, "--out", out, "--save-map", saved, "--class", "thing-3")
    done = explain(wide_photo, *args, "--method", "cam")
    assert done.returncode == 0, done.stderr
    assert "method: cam (class activation map)" in done.stdout and "thing-3 [3]" in done.stdout
    heat = np.load(saved)
    assert heat.shape == (40, 90) and heat.dtype == np.float32
    with Image.open(out) as overlay:
        assert overlay.size == (90, 40) and overlay.format == "PNG"
    # resize 36 (shorter side): 90 x 40 -> 81 x 36; centre crop 32 x 32 at (24, 2) = original x 26.7..62.2,
    # y 2.2..37.8: a pixel is seen when its centre is inside
    unseen = np.isnan(heat)
    assert unseen[:, :27].all() and unseen[:, 62:].all() and unseen[:2].all() and unseen[38:].all()
    assert not unseen[2:38, 27:62].any()
    seen = heat[~unseen]
    assert seen.min() == 0.0 and seen.max() == pytest.approx(1.0)


def test_auto_falls_back_to_occlusion_and_says_so(vgg_like: Path, wide_photo: Path, tmp_path: Path) -> None:
    saved = tmp_path / "map.npy"
    done = explain(wide_photo, "--model", vgg_like, "--out", tmp_path / "o.png", "--save-map", saved)
    assert done.returncode == 0, done.stderr
    assert "method: occlusion" in done.stdout
    assert "using occlusion instead" in done.stderr and vgg_like.name in done.stderr
    heat = np.load(saved)
    assert heat.shape == (40, 90) and np.isnan(heat).any() and np.nanmax(heat) <= 1.0


def test_cam_on_a_vgg_like_head_is_exit_2_naming_the_file(vgg_like: Path, wide_photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    done = explain(wide_photo, "--model", vgg_like, "--method", "cam", "--out", out)
    assert done.returncode == 2
    assert vgg_like.name in done.stderr and "no class activation map" in done.stderr
    assert "--method occlusion" in done.stderr and not out.exists()


@pytest.mark.parametrize(
    ("spec", "message"),
    [("thing-99", "not a label of tinynet-tiny-10-fp32.onnx (closest: 'thing-9'"), ("12", "out of range")],
)
def test_unknown_class_is_exit_2(spec: str, message: str, zoo: Zoo, wide_photo: Path, tmp_path: Path) -> None:
    done = explain(wide_photo, "--model", zoo.workbench, "--class", spec, "--out", tmp_path / "o.png")
    assert done.returncode == 2 and message in done.stderr, done.stderr


def test_missing_or_unreadable_image_is_exit_2(zoo: Zoo, tmp_path: Path) -> None:
    missing = tmp_path / "no-such.jpg"
    done = explain(missing, "--model", zoo.workbench, "--out", tmp_path / "o.png")
    assert done.returncode == 2 and "no-such.jpg: file not found" in done.stderr, done.stderr
    junk = tmp_path / "junk.png"
    junk.write_text("not an image\n", encoding="utf-8")
    done = explain(junk, "--model", zoo.workbench, "--out", tmp_path / "o.png")
    assert done.returncode == 2 and "junk.png" in done.stderr


def test_output_folder_missing_is_exit_2(zoo: Zoo, wide_photo: Path, tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "o.png"
    done = explain(wide_photo, "--model", zoo.workbench, "--out", target)
    assert done.returncode == 2 and "o.png: its folder does not exist" in done.stderr


@pytest.mark.parametrize("which", ["external_ok", "nchw_fixed1"])
def test_cam_on_external_data_and_foreign_fixed_batch_files(
    which: str, zoo: Zoo, wide_photo: Path, tmp_path: Path
) -> None:
    """Weights as external data (read from the model's own folder) and a foreign fixed-batch file both work,
    and nothing in the models' folders changes."""
    saved, model = tmp_path / "map.npy", getattr(zoo, which)
    before = {f.name: f.read_bytes() for f in model.parent.iterdir() if f.is_file()}
    done = explain(wide_photo, "--model", model, "--method", "cam", "--out", tmp_path / "o.png", "--save-map", saved)
    assert done.returncode == 0, done.stderr
    assert "method: cam" in done.stdout and np.load(saved).shape == (40, 90)
    assert {f.name: f.read_bytes() for f in model.parent.iterdir() if f.is_file()} == before  # files untouched
