"""Read a Pascal VOC 2012 devkit folder directly as a 20-class image classification dataset.

Label rule (:mod:`workbench.voc`, shared with the app's evaluation): an image's class is the class of its
**largest non-difficult object** (bounding-box area, VOC's inclusive pixel convention
``(xmax - xmin + 1) * (ymax - ymin + 1)``; on a tie the first object in the XML wins). Images whose
objects are all ``<difficult>1</difficult>`` are skipped and counted. Classes and their indices are the
20 VOC classes in the official order (``workbench/labels/voc-2012.txt``).

Splits: ``ImageSets/Main/train.txt`` is the training set. VOC 2012 publishes no test annotations, so
``val.txt`` is split 50/50 into validation and test with the run's seed (ids sorted, shuffled, first
half validation); if ``ImageSets/Main/test.txt`` exists and its annotations do too (VOC 2007), it is used.

Example::

    python -m exporter train --model efficientnet_lite0 --voc ~/data/VOCdevkit/VOC2012 --freeze-backbone --out runs/voc
"""

from __future__ import annotations

import random
from pathlib import Path

import models
from exporter.train.data import DataSplits, TrainDataError
from workbench import voc

VOC_LABEL_SET = "voc-2012"


def voc_root(path: str | Path) -> Path:
    """The folder holding ``JPEGImages/``; ``VOCdevkit/`` (with ``VOC2012/`` inside) is accepted too."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise TrainDataError(f"{root}: no such folder (--voc takes the VOC2012 devkit folder)")
    try:
        return voc.devkit_root(root)
    except voc.VocError as exc:
        raise TrainDataError(str(exc)) from exc


def read_ids(path: Path) -> list[str]:
    try:
        return voc.read_ids(path)
    except voc.VocError as exc:
        raise TrainDataError(str(exc)) from exc


def label_of(xml_path: Path, classes: tuple[str, ...]) -> int | None:
    """Class index of the largest non-difficult object, ``None`` if every object is difficult."""
    try:
        return voc.label_of(xml_path, classes)
    except voc.VocError as exc:
        raise TrainDataError(str(exc)) from exc


def _labelled(root: Path, ids: list[str], classes: tuple[str, ...]) -> tuple[list[tuple[str, int]], list[str]]:
    samples, skipped = [], []
    for image_id in ids:
        label = label_of(root / "Annotations" / f"{image_id}.xml", classes)
        if label is None:
            skipped.append(image_id)
        else:
            samples.append((str(root / "JPEGImages" / f"{image_id}.jpg"), label))
    return samples, skipped


def read_voc(path: str | Path, seed: int) -> DataSplits:
    """The VOC devkit at ``path`` as train/val/test samples labelled by :func:`label_of`."""
    root = voc_root(path)
    classes = models.load_labels(VOC_LABEL_SET)
    main = root / "ImageSets" / "Main"
    train_ids, val_ids = read_ids(main / "train.txt"), read_ids(main / "val.txt")
    test_file = main / "test.txt"
    if test_file.is_file() and all((root / "Annotations" / f"{i}.xml").is_file() for i in read_ids(test_file)):
        test_ids, rule = read_ids(test_file), "ImageSets/Main/test.txt"
    else:
        shuffled = sorted(val_ids)
        random.Random(seed).shuffle(shuffled)
        half = (len(shuffled) + 1) // 2
        val_ids, test_ids = sorted(shuffled[:half]), sorted(shuffled[half:])
        rule = f"val.txt split 50/50 into val/test, seed {seed}"
    parts, skipped = {}, []
    for name, ids in (("train", train_ids), ("val", val_ids), ("test", test_ids)):
        parts[name], left_out = _labelled(root, ids, classes)
        skipped += left_out
    if not parts["train"] or not parts["val"]:
        raise TrainDataError(f"{root}: no usable train or val images (all objects difficult?)")
    source = {
        "kind": "voc",
        "root": str(root),
        "split": rule,
        "label_rule": "largest non-difficult object",
        "skipped_all_difficult": skipped,
    }
    return DataSplits(list(classes), VOC_LABEL_SET, parts["train"], parts["val"], parts["test"], source)
