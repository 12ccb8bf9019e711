"""The Pascal VOC devkit rules shared by training and evaluation: where the devkit is, its image sets, its labels.

Label rule: an image's class is the class of its **largest non-difficult object** (bounding-box area,
VOC's inclusive pixel convention ``(xmax - xmin + 1) * (ymax - ymin + 1)``; on a tie the first object in
the XML wins). An image whose objects are all ``<difficult>1</difficult>`` has no label (``None``).
Errors are :class:`VocError`, one line naming the file and the problem.

Example::

    python -c "from pathlib import Path; from workbench.voc import devkit_root; print(devkit_root(Path('VOCdevkit')))"
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

#: The folders a VOC devkit (``VOC2012/``) holds.
DEVKIT_FOLDERS = ("JPEGImages", "Annotations", "ImageSets/Main")


class VocError(ValueError):
    """A VOC devkit, image set or annotation that cannot be used; the message names the file."""


def devkit_root(root: Path) -> Path:
    """``root`` itself or its ``VOC2012/`` (a ``VOCdevkit/`` was given), checked to hold the devkit folders."""
    if not (root / "JPEGImages").is_dir() and (root / "VOC2012").is_dir():
        root = root / "VOC2012"
    missing = [p for p in DEVKIT_FOLDERS if not (root / p).is_dir()]
    if missing:
        raise VocError(f"{root}: not a VOC devkit folder (missing {', '.join(m + '/' for m in missing)})")
    return root


def looks_like_devkit(root: Path) -> bool:
    """Whether ``root`` is (or holds, as ``VOC2012/``) a folder with ``JPEGImages/`` and ``Annotations/``."""
    return any((r / "JPEGImages").is_dir() and (r / "Annotations").is_dir() for r in (root, root / "VOC2012"))


def read_ids(path: Path) -> list[str]:
    """The image ids of an image set file (``ImageSets/Main/val.txt``), first word of each non-blank line."""
    if not path.is_file():
        raise VocError(f"{path}: missing image set file")
    ids = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise VocError(f"{path}: empty image set")
    return ids


def label_of(xml_path: Path, classes: tuple[str, ...]) -> int | None:
    """Class index of the largest non-difficult object, ``None`` if every object is difficult."""
    if not xml_path.is_file():
        raise VocError(f"{xml_path}: missing annotation file")
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        raise VocError(f"{xml_path}: malformed XML ({exc})") from exc
    objects = root.findall("object")
    if not objects:
        raise VocError(f"{xml_path}: no <object> in the annotation")
    best: tuple[float, int] | None = None
    for number, obj in enumerate(objects, start=1):
        name = (obj.findtext("name") or "").strip()
        if name not in classes:
            raise VocError(f"{xml_path}: object {number} has class {name!r}, not one of the 20 VOC classes")
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
        raise VocError(f"{xml_path}: object {number} has no valid <bndbox> ({exc})") from exc
    if not (xmax >= xmin and ymax >= ymin):
        raise VocError(f"{xml_path}: object {number} has an empty or inverted <bndbox>")
    return (xmax - xmin + 1) * (ymax - ymin + 1)
