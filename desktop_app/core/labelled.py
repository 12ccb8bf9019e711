"""Labelled image sets for evaluating a model: read one from disk, and match its classes to the model's labels.

:func:`read_labelled` takes one path and detects its layout:

* a **file** is a CSV (or TSV: ``.tsv`` or tab-delimited) of ``path,label`` rows, header row optional,
  relative paths resolved against the file's folder;
* a folder with ``JPEGImages/`` and ``Annotations/`` (or a ``VOCdevkit/`` holding ``VOC2012/``) is a
  **Pascal VOC devkit**: its ``val`` image set, each image labelled by its largest non-difficult object
  (:mod:`workbench.voc`, the rule training uses);
* any other folder is an **ImageFolder**, ``DIR/<class>/<images>`` or ``DIR/{train,val,test}/<class>/...``
  (then ``test/`` is read, else ``val/``; ``split=`` names another), by :mod:`workbench.imagefolder`'s rules.

What stops nothing (an empty class folder, a CSV row naming a missing file, a VOC image with only
difficult objects, ...) is one line in :attr:`LabelledSet.problems`; what leaves nothing to evaluate is a
:class:`LabelledDataError` naming the path and the layout expected. Image *contents* are not checked here.

:func:`match_classes` maps the data set's class names to the model's label indices: an explicit mapping
first (:func:`read_mapping` reads one from a ``class,label`` CSV), then the label name compared case- and
separator-insensitively (``tiger_cat`` = ``Tiger Cat`` = ``tiger cat``), then the WordNet id
(``n02123045``) for ImageNet models (:func:`wnids_for`). A class that matches nothing, or more than one
label, is reported as unknown with its reason, never guessed.

Example::

    python -c "from desktop_app.core.labelled import read_labelled; print(read_labelled('~/data/pets').counts())"
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench import voc
from workbench.imagefolder import SPLITS, class_files, class_folders
from workbench.imageio import IMAGE_EXTENSIONS
from workbench.labels import load_labels, load_wnids
from workbench.names import natural_key

EXPECTED_LAYOUT = (
    "expected DIR/<class>/<image files>, DIR/{train,val,test}/<class>/..., a CSV of path,label or a VOC devkit"
)
VOC_LABEL_SET = "voc-2012"
VOC_SPLIT = "val"
_PATH_HEADERS = frozenset({"path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path"})
_LABEL_HEADERS = frozenset({"label", "class", "class_name", "category", "target", "name"})
_SEPARATORS = re.compile(r"[\s_\-]+")
_WNID = re.compile(r"n\d{8}")


class LabelledDataError(ValueError):
    """A labelled data set or mapping that cannot be used; the message names the path and the problem."""


@dataclass(frozen=True)
class LabelledImage:
    """One image file and the name of its true class."""

    path: Path
    label: str


@dataclass(frozen=True)
class LabelledSet:
    """The labelled images of one data set, how they were read, and what was skipped on the way."""

    root: Path
    layout: str  # "imagefolder" | "csv" | "voc"
    split: str | None
    items: tuple[LabelledImage, ...]
    classes: tuple[str, ...]  # sorted; every class has at least one item
    problems: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        """Images per class, in :attr:`classes` order."""
        found = Counter(item.label for item in self.items)
        return {name: found[name] for name in self.classes}


@dataclass(frozen=True)
class ClassMatch:
    """Data-set class -> model label index, how each was matched, and the classes the model does not know."""

    index: dict[str, int]
    how: dict[str, str]  # "mapping" | "name" | "wnid"
    unknown: tuple[str, ...]
    reasons: dict[str, str] = field(default_factory=dict)  # unknown class -> why
    unused_mapping: tuple[str, ...] = ()  # mapping entries naming no class of the data set


# --- reading -----------------------------------------------------------------------------------------------


def read_labelled(path: str | Path, *, split: str | None = None) -> LabelledSet:
    """The labelled images at ``path`` (a CSV/TSV file, a VOC devkit or an ImageFolder; see the module doc)."""
    root = Path(path).expanduser()
    if root.is_file():
        if root.suffix.lower() in IMAGE_EXTENSIONS:
            raise LabelledDataError(f"{root}: an image, not a labelled data set ({EXPECTED_LAYOUT})")
        if split is not None:
            raise LabelledDataError(f"{root}: a CSV of path,label has no splits (split={split!r} given)")
        return read_csv(root)
    if not root.is_dir():
        raise LabelledDataError(f"{root}: no such file or folder ({EXPECTED_LAYOUT})")
    if voc.looks_like_devkit(root):
        return read_voc(root, split=split)
    return read_image_folder(root, split=split)


def read_image_folder(root: Path, *, split: str | None = None) -> LabelledSet:
    """``root/<class>/*`` or one split of ``root/{train,val,test}/<class>/*`` (default: test, else val)."""
    splits = [name for name in SPLITS if (root / name).is_dir()]
    problems: list[str] = []
    if splits:
        chosen = _choose_split(root, splits, split)
        others = [p.name for p in class_folders(root) if p.name not in SPLITS]
        if others:
            problems.append(f"{root}: folders beside the split folders ignored: {', '.join(others)}")
        folder = root / chosen
    elif split is not None:
        raise LabelledDataError(f"{root}: no split folders (train/, val/, test/), so split={split!r} cannot be read")
    else:
        chosen, folder = None, root
    classes = class_folders(folder)
    if not classes:
        raise LabelledDataError(f"{folder}: no class subfolders ({EXPECTED_LAYOUT})")
    items = []
    for class_dir in classes:
        files = sorted(class_files(class_dir), key=natural_key)
        if not files:
            problems.append(f"{class_dir}: empty class folder (no image files), left out")
        items += [LabelledImage(p, class_dir.name) for p in files]
    return _labelled_set(root, "imagefolder", chosen, items, problems, what=str(folder))


def _choose_split(root: Path, splits: list[str], split: str | None) -> str:
    if split is None:
        for preferred in ("test", "val"):
            if preferred in splits:
                return preferred
        raise LabelledDataError(
            f"{root}: has only train/; evaluating on training images must be asked for (split='train')"
        )
    if split not in splits:
        raise LabelledDataError(f"{root}: no split {split!r} (it has: {', '.join(splits)})")
    return split


def read_csv(path: Path) -> LabelledSet:
    """A CSV or TSV of ``path,label`` rows; a first row like ``path,label`` is a header."""
    rows = _read_rows(path, "path,label")
    items: list[LabelledImage] = []
    problems: list[str] = []
    seen: dict[Path, int] = {}
    for number, row in rows:
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            problems.append(f"{path}: line {number} is not 'path,label' ({_show_row(row)}), left out")
            continue
        image = Path(row[0].strip()).expanduser()
        image = image if image.is_absolute() else path.parent / image
        label = row[1].strip()
        if not image.is_file():
            why = "is not a file" if image.exists() else "no such file"
            problems.append(f"{path}: line {number}: {image}: {why}, left out")
        elif image in seen:
            problems.append(f"{path}: line {number} repeats {image} from line {seen[image]}, left out")
        else:
            seen[image] = number
            items.append(LabelledImage(image, label))
    return _labelled_set(path, "csv", None, items, problems, what=str(path))


def _read_rows(path: Path, expected: str) -> list[tuple[int, list[str]]]:
    """``(line number, cells)`` of the non-blank rows after any header; the delimiter is guessed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelledDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise LabelledDataError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    first = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter)
    try:
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    except csv.Error as exc:
        raise LabelledDataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from exc
    if rows and _is_header(rows[0][1]):
        rows = rows[1:]
    if not rows:
        raise LabelledDataError(f"{path}: no rows (a CSV of {expected} expected)")
    return rows


def _is_header(row: list[str]) -> bool:
    cells = [_normalise(cell).replace(" ", "_") for cell in row]
    return len(cells) == 2 and cells[0] in _PATH_HEADERS and cells[1] in _LABEL_HEADERS


def _show_row(row: list[str]) -> str:
    text = ",".join(row)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def read_voc(path: Path, *, split: str | None = None) -> LabelledSet:
    """One image set of a VOC devkit (default ``val``), labelled by the largest non-difficult object."""
    try:
        root = voc.devkit_root(path)
    except voc.VocError as exc:
        raise LabelledDataError(str(exc)) from exc
    name = VOC_SPLIT if split is None else split
    main = root / "ImageSets" / "Main"
    set_file = main / f"{name}.txt"
    if not set_file.is_file():
        have = sorted(p.stem for p in main.glob("*.txt") if "_" not in p.stem)
        raise LabelledDataError(f"{set_file}: no image set {name!r} (the devkit has: {', '.join(have) or 'none'})")
    try:
        ids = voc.read_ids(set_file)
    except voc.VocError as exc:
        raise LabelledDataError(str(exc)) from exc
    classes = load_labels(VOC_LABEL_SET)
    items: list[LabelledImage] = []
    problems: list[str] = []
    difficult: list[str] = []
    for image_id in ids:
        try:
            label = voc.label_of(root / "Annotations" / f"{image_id}.xml", classes)
        except voc.VocError as exc:
            problems.append(f"{exc}, left out")
            continue
        image = root / "JPEGImages" / f"{image_id}.jpg"
        if label is None:
            difficult.append(image_id)
        elif not image.is_file():
            problems.append(f"{image}: no such file (listed in {set_file.name}), left out")
        else:
            items.append(LabelledImage(image, classes[label]))
    if difficult:
        shown = ", ".join(difficult[:5]) + (", ..." if len(difficult) > 5 else "")
        problems.append(
            f"{root / 'Annotations'}: {len(difficult)} images with only difficult objects left out ({shown})"
        )
    return _labelled_set(root, "voc", name, items, problems, what=str(set_file))


def _labelled_set(
    root: Path, layout: str, split: str | None, items: list[LabelledImage], problems: list[str], *, what: str
) -> LabelledSet:
    if not items:
        detail = f"; {problems[0]}" if problems else ""
        raise LabelledDataError(f"{what}: no usable labelled image ({len(problems)} problems{detail})")
    classes = tuple(sorted({item.label for item in items}))
    order = {name: i for i, name in enumerate(classes)}
    if layout != "csv":
        items = sorted(items, key=lambda item: (order[item.label], natural_key(item.path)))
    return LabelledSet(root, layout, split, tuple(items), classes, tuple(problems))


# --- matching ----------------------------------------------------------------------------------------------


def wnids_for(model_labels: Sequence[str]) -> tuple[str, ...] | None:
    """ImageNet-1k's WordNet ids when ``model_labels`` are exactly the shipped ImageNet-1k names, else ``None``."""
    return load_wnids("imagenet-1k") if tuple(model_labels) == load_labels("imagenet-1k") else None


def match_classes(
    classes: Sequence[str],
    model_labels: Sequence[str],
    *,
    wnids: Sequence[str] | None = None,
    mapping: Mapping[str, str] | None = None,
) -> ClassMatch:
    """Each data-set class's model label index, by ``mapping``, then by name, then by WordNet id.

    Every ``mapping`` entry is checked, also those naming no class of the data set (listed in
    :attr:`ClassMatch.unused_mapping`); a target is a model label name or, with ``wnids``, a WordNet id.

    Raises:
        LabelledDataError: ``mapping`` names a label the model does not have (or names one ambiguously).
    """
    if wnids is not None and len(wnids) != len(model_labels):
        raise ValueError(f"{len(wnids)} WordNet ids for {len(model_labels)} model labels")
    labels = _LabelIndex(model_labels, wnids)
    mapped = {name: labels.for_mapping(name, target) for name, target in (mapping or {}).items()}
    index: dict[str, int] = {}
    how: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for name in classes:
        if name in mapped:
            index[name], how[name] = mapped[name], "mapping"
            continue
        found, reason = labels.by_name(name)
        if found is None and wnids is not None:
            found, how_found = labels.by_wnid(name), "wnid"
        else:
            how_found = "name"
        if found is None:
            reasons[name] = reason
        else:
            index[name], how[name] = found, how_found
    unknown = tuple(name for name in classes if name not in index)
    unused = tuple(name for name in mapped if name not in set(classes))
    return ClassMatch(index, how, unknown, reasons, unused)


def unknown_counts(labelled: LabelledSet, match: ClassMatch) -> dict[str, int]:
    """Images per class the model does not know (``match.unknown`` order), for the report."""
    counts = labelled.counts()
    return {name: counts.get(name, 0) for name in match.unknown}


class _LabelIndex:
    """Model labels looked up exactly, normalised and by WordNet id."""

    def __init__(self, labels: Sequence[str], wnids: Sequence[str] | None) -> None:
        self.labels = tuple(labels)
        self.wnids = tuple(wnids) if wnids is not None else None
        self.exact: dict[str, list[int]] = {}
        self.normal: dict[str, list[int]] = {}
        for i, label in enumerate(self.labels):
            self.exact.setdefault(label, []).append(i)
            self.normal.setdefault(_normalise(label), []).append(i)

    def by_name(self, name: str) -> tuple[int | None, str]:
        """The one label named ``name`` (exactly, else normalised), or ``None`` and why not."""
        for table, key in ((self.exact, name), (self.normal, _normalise(name))):
            found = table.get(key, [])
            if len(found) == 1:
                return found[0], ""
            if len(found) > 1:
                return None, f"ambiguous: {name!r} matches model labels {self._describe(found)}; map it explicitly"
        return None, "no model label of that name" + (" or WordNet id" if self.wnids is not None else "")

    def by_wnid(self, name: str) -> int | None:
        key = name.strip().lower()
        if self.wnids is None or not _WNID.fullmatch(key):
            return None
        found = [i for i, w in enumerate(self.wnids) if w == key]
        return found[0] if len(found) == 1 else None

    def for_mapping(self, name: str, target: str) -> int:
        found, reason = self.by_name(target)
        if found is None:
            found = self.by_wnid(target)
        if found is None:
            raise LabelledDataError(f"mapping {name!r} -> {target!r}: {reason}")
        return found

    def _describe(self, found: list[int]) -> str:
        if self.wnids is None:
            return ", ".join(f"{i} ({self.labels[i]!r})" for i in found)
        return ", ".join(f"{i} ({self.labels[i]!r}, {self.wnids[i]})" for i in found)


def _normalise(name: str) -> str:
    """Case- and separator-insensitive key: ``Tiger_Cat`` / ``tiger-cat`` -> ``tiger cat``."""
    return _SEPARATORS.sub(" ", name.casefold()).strip()


def read_mapping(path: str | Path) -> dict[str, str]:
    """A two-column CSV/TSV of ``class,label`` (data-set class -> model label name), header row optional."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LabelledDataError(f"{path}: no such mapping file (a CSV of class,label expected)")
    mapping: dict[str, str] = {}
    lines: dict[str, int] = {}
    rows = _read_rows(path, "class,label")
    if rows and [_normalise(c) for c in rows[0][1]] in (["class", "label"], ["class", "model label"]):
        rows = rows[1:]
    for number, row in rows:
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise LabelledDataError(f"{path}: line {number} is not 'class,label' ({_show_row(row)})")
        name, label = row[0].strip(), row[1].strip()
        if name in mapping and mapping[name] != label:
            raise LabelledDataError(
                f"{path}: line {number} maps {name!r} to {label!r}, line {lines[name]} to {mapping[name]!r}"
            )
        mapping[name], lines[name] = label, number
    if not mapping:
        raise LabelledDataError(f"{path}: no mapping rows (a CSV of class,label expected)")
    return mapping
