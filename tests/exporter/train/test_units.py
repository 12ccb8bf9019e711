"""Unit tests of the training pieces: splits, VOC label rule, sampler sharding, augmentation, schedule, RNG."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import models
from exporter.train import checkpoint
from exporter.train.augment import TrainTransform, eval_preprocess, random_resized_box
from exporter.train.data import EpochSampler, TrainDataError, read_image_folder, split_files
from exporter.train.loop import lr_at
from exporter.train.voc import label_of, read_voc
from tests.exporter.train.helpers import DATA, VOC_MINI


@pytest.mark.parametrize(("n", "held"), [(1, 0), (2, 0), (3, 1), (10, 1), (178, 18)])
def test_split_is_8_1_1_and_reproducible(n: int, held: int) -> None:
    files = [f"f{i:03d}.png" for i in range(n)]
    train, val, test = split_files(files, seed=3)
    assert (len(val), len(test), len(train)) == (held, held, n - 2 * held)
    assert sorted(train + val + test) == files
    assert split_files(list(reversed(files)), seed=3) == (train, val, test)
    assert split_files(files, seed=4) != (train, val, test) or n < 3


def _folder(root: Path, layout: dict[str, int]) -> Path:
    photo = Image.open(DATA / "chelsea.png").convert("RGB").resize((32, 24))
    for cls, count in layout.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            photo.save(root / cls / f"{i}.jpg")
    return root


def test_image_folder_split_and_presplit(tmp_path: Path) -> None:
    splits = read_image_folder(_folder(tmp_path / "flat", {"b": 10, "a": 20}), seed=0)
    assert splits.classes == ["a", "b"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (24, 3, 3)
    pre = tmp_path / "pre"
    for split in ("train", "val"):
        _folder(pre / split, {"x": 2, "y": 1})
    splits = read_image_folder(pre, seed=0)
    assert (len(splits.train), len(splits.val), splits.test) == (3, 3, [])


def test_bad_folders_are_named(tmp_path: Path) -> None:
    root = _folder(tmp_path / "d", {"a": 3})
    (root / "empty").mkdir()
    with pytest.raises(TrainDataError, match=r"empty: empty class folder"):
        read_image_folder(root, 0)
    pre = tmp_path / "pre"
    _folder(pre / "train", {"x": 2, "y": 2})
    _folder(pre / "val", {"x": 1, "z": 1})
    with pytest.raises(TrainDataError, match=r"classes differ from train/ \(extra: z; missing: y\)"):
        read_image_folder(pre, 0)


def test_voc_label_rule_on_the_fixture() -> None:
    classes = models.load_labels("voc-2012")
    ann = VOC_MINI / "Annotations"
    assert classes[label_of(ann / "2012_000005.xml", classes)] == "person"  # largest of person + cat
    assert classes[label_of(ann / "2012_000006.xml", classes)] == "cat"  # the larger person is difficult
    assert label_of(ann / "2012_000007.xml", classes) is None  # only a difficult object
    splits = read_voc(VOC_MINI, seed=0)
    assert splits.label_set == "voc-2012" and splits.classes == list(classes)
    assert (len(splits.train), len(splits.val) + len(splits.test)) == (6, 4)
    assert splits.source["skipped_all_difficult"] == ["2012_000007"]
    assert read_voc(VOC_MINI, seed=0).to_json() == splits.to_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<annotation><object><name>cat</name>", "malformed XML"),
        ("<annotation><object><name>kitten</name></object></annotation>", "'kitten', not one of the 20 VOC"),
        ("<annotation><object><name>cat</name></object></annotation>", "no valid <bndbox>"),
        ("<annotation></annotation>", "no <object>"),
    ],
)
def test_malformed_voc_xml(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "x.xml"
    path.write_text(text)
    with pytest.raises(TrainDataError, match=message):
        label_of(path, models.load_labels("voc-2012"))


@pytest.mark.parametrize("world", [2, 4])
def test_sampler_shards_global_batches(world: int) -> None:
    one = [b for b in EpochSampler(50, 8, seed=1, epoch=2)]
    shards = [list(EpochSampler(50, 8, seed=1, epoch=2, rank=r, world=world)) for r in range(world)]
    merged = [[item for shard in shards for item in shard[i]] for i in range(len(one))]
    assert merged == one and len(one) == 50 // 8
    resumed = list(EpochSampler(50, 8, seed=1, epoch=2, start_batch=4))
    assert resumed == one[4:]
    evals = [list(EpochSampler(11, 4, 0, train=False, rank=r, world=world)) for r in range(world)]
    assert sorted(i for shard in evals for b in shard for i, _ in b) == list(range(11))


def test_augmentation_is_a_function_of_the_seed() -> None:
    image = Image.open(DATA / "chelsea.png").convert("RGB")
    transform = TrainTransform(eval_preprocess("resnet18", 64))
    a, b = transform(image, random.Random(7)), transform(image, random.Random(7))
    assert a.shape == (3, 64, 64) and np.array_equal(a, b)
    assert not np.array_equal(a, transform(image, random.Random(8)))
    for seed in range(50):
        left, top, w, h = random_resized_box((451, 300), 0.08, random.Random(seed))
        assert left >= 0 and left + w <= 451 and top >= 0 and top + h <= 300


def test_warmup_then_cosine() -> None:
    lrs = [lr_at(s, 100, 10, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:])) and lrs[-1] < 0.01


def test_rng_state_round_trips_through_weights_only(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    path = tmp_path / "rng.pt"
    checkpoint.save_atomic({"state_dict": {}, "rng": checkpoint.rng_state()}, path)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    checkpoint.set_rng_state(checkpoint.load(path)["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
