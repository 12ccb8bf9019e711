"""Read a Pascal VOC 2012 devkit folder directly as a 20-class image classification dataset.

Label rule: an image's class is the class of its **largest non-difficult object** (bounding-box area,
VOC's inclusive pixel convention ``(xmax - xmin + 1) * (ymax - ymin + 1)``; on a tie the first object in
the XML wins). Images whose objects are all ``<difficult>1</difficult>`` are skipped and counted. Classes
and their indices are the 20 VOC classes in the official order (``models/labels/voc-2012.txt``).

Splits: ``ImageSets/Main/train.txt`` is the training set. VOC 2012 publishes no test annotations, so
``val.txt`` is split 50/50 into validation and test with the run's seed (ids sorted, shuffled, first
half validation); if ``ImageSets/Main/test.txt`` exists and its annotations do too (VOC 2007), it is used.

Example::

    python -m exporter train --model efficientnet_lite0 --voc ~/data/VOCdevkit/VOC2012 --freeze-backbone --out runs/voc
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from pathlib import Path

import models
from exporter.train.data import DataSplits, TrainDataError

VOC_LABEL_SET = "voc-2012"


def voc_root(path: str | Path) -> Path:
    """The folder holding ``JPEGImages/``; ``VOCdevkit/`` (with ``VOC2012/`` inside) is accepted too."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise TrainDataError(f"{root}: no such folder (--voc takes the VOC2012 devkit folder)")
    if not (root / "JPEGImages").is_dir() and (root / "VOC2012").is_dir():
        root = root / "VOC2012"
    missing = [p for p in ("JPEGImages", "Annotations", "ImageSets/Main") if not (root / p).is_dir()]
    if missing:
        raise TrainDataError(f"{root}: not a VOC devkit folder (missing {', '.join(m + '/' for m in missing)})")
    return root


def read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise TrainDataError(f"{path}: missing image set file")
    ids = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise TrainDataError(f"{path}: empty image set")
    return ids


def label_of(xml_path: Path, classes: tuple[str, ...]) -> int | None:
    """Class index of the largest non-difficult object, ``None`` if every object is difficult."""
    if not xml_path.is_file():
        raise TrainDataError(f"{xml_path}: missing annotation file")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise TrainDataError(f"{xml_path}: malformed XML ({exc})") from exc
    objects = root.findall("object")
    if not objects:
        raise TrainDataError(f"{xml_path}: no <object> in the annotation")
    best: tuple[float, int] | None = None
    for number, obj in enumerate(objects, start=1):
        name = (obj.findtext("name") or "").strip()
        if name not in classes:
            raise TrainDataError(f"{xml_path}: object {number} has class {name!r}, not one of the 20 VOC classes")
        if (obj.findtext("difficult") or "0").strip() == "1":
            continue
        area = _box_area(obj, xml_path, number)
        if best is None or area > best[0]:
            best = (area, classes.index(name))
    return None if best is None else best[1]


def _box_area(obj: ET.Element, xml_path: Path, number: int) -> float:
    box = obj.find("bndbox")
    try:
        if box is None:
            raise ValueError("no <bndbox>")
        xmin, ymin, xmax, ymax = (float(box.findtext(tag) or "nan") for tag in ("xmin", "ymin", "xmax", "ymax"))
    except ValueError as exc:
        raise TrainDataError(f"{xml_path}: object {number} has no valid <bndbox> ({exc})") from exc
    if not (xmax >= xmin and ymax >= ymin):
        raise TrainDataError(f"{xml_path}: object {number} has an empty or inverted <bndbox>")
    return (xmax - xmin + 1) * (ymax - ymin + 1)


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
