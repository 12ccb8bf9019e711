"""``--freeze-backbone`` with EfficientNet-Lite0's ImageNet weights on real photos, with the feature cache;
and the VOC fixture trained into a 20-class model the desktop app shows with VOC labels."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from PIL import Image, ImageOps

import models
from desktop_app.core.catalog import inspect_model
from desktop_app.core.classify import classify_paths
from desktop_app.core.runtime import load_model
from tests.exporter.train.helpers import DATA, VOC_MINI, load, run_train

PHOTOS = {
    "cat": DATA / "chelsea.png",
    "coffee": DATA / "coffee.png",
    "person": DATA / "photos_extra" / "astronaut.jpg",
    "rocket": DATA / "photos_extra" / "rocket.jpg",
}
FREEZE = ["--model", "efficientnet_lite0", "--weights", "imagenet", "--freeze-backbone", "--workers", "0"]


def _photo_folder(root: Path, per_class: int = 10) -> Path:
    """Random crops (>= 60 % of each side) and flips of one real photo per class."""
    rng = random.Random(0)
    for name, path in PHOTOS.items():
        (root / name).mkdir(parents=True)
        photo = Image.open(path).convert("RGB")
        width, height = photo.size
        for i in range(per_class):
            w, h = int(width * rng.uniform(0.6, 1.0)), int(height * rng.uniform(0.6, 1.0))
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            crop = photo.crop((left, top, left + w, top + h))
            (ImageOps.mirror(crop) if i % 2 else crop).save(root / name / f"{i}.jpg", quality=90)
    return root


@pytest.mark.slow
def test_freeze_backbone_trains_a_head_and_reuses_the_feature_cache(tmp_path: Path) -> None:
    data = _photo_folder(tmp_path / "photos")
    common = ["--data", str(data), *FREEZE, "--epochs", "15", "--batch-size", "8", "--lr", "0.05"]
    first = run_train([*common, "--out", str(tmp_path / "run1"), "--name", "photos"], tmp_path)
    assert first.code == 0, first.output
    assert first.stderr.count("feature cache: computed") == 3
    second = run_train([*common, "--out", str(tmp_path / "run2"), "--no-export"], tmp_path)
    assert second.code == 0, second.output
    saved = re.search(r"feature cache: 3/3 splits reused, ([0-9.]+) s saved", second.stderr)
    assert saved, second.stderr
    built = load(tmp_path / "run1" / "best.pt")["metrics"]["feature_seconds"]
    reused = load(tmp_path / "run2" / "best.pt")["metrics"]["feature_seconds"]
    print(f"feature cache: first run {built:.1f} s, second {reused:.2f} s ({saved.group(1)} s saved)")
    assert reused < built

    entry = inspect_model(tmp_path / "models" / "efficientnet_lite0-custom-photos-fp32.onnx")
    assert entry.usable and entry.labels == ("cat", "coffee", "person", "rocket")
    assert entry.card is not None and entry.card.training["mode"] == "freeze-backbone"
    results = list(classify_paths(load_model(entry, "cpu"), list(PHOTOS.values()), top_k=1))
    assert [r.prediction.labels[0] for r in results] == list(PHOTOS)


@pytest.mark.slow
def test_voc_fixture_trains_a_20_class_model_the_app_labels(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--voc", str(VOC_MINI), *FREEZE, "--epochs", "15", "--batch-size", "6", "--lr", "0.05", "--out", str(out),
            "--name", "voc_mini"]  # fmt: skip
    result = run_train(args, tmp_path)
    assert result.code == 0, result.output
    ckpt = load(out / "best.pt")
    assert ckpt["label_set"] == "voc-2012" and ckpt["metrics"]["classes"] == 20

    entry = inspect_model(tmp_path / "models" / "efficientnet_lite0-voc-2012-voc_mini-fp32.onnx")
    assert entry.usable and entry.num_classes == 20
    assert entry.card is not None and entry.card.label_set == "voc-2012"
    assert entry.labels == models.load_labels("voc-2012")
    photos = [DATA / "chelsea.png", DATA / "photos_extra" / "astronaut.jpg"]
    results = list(classify_paths(load_model(entry, "cpu"), photos, top_k=3))
    assert [r.prediction.labels[0] for r in results] == ["cat", "person"]
    assert all(label in entry.labels for r in results for label in r.prediction.labels)
