"""Label sets shipped as data files: one class name per line, line i = class index i.

The one copy of the shipped sets (ImageNet-1k, Pascal VOC 2012), read by the models, the exporter and
the app alike (plain text, no torch). ImageNet-1k also ships its WordNet ids (``n02123045``, the names
of ImageNet's own folders), line for line beside the class names (:func:`load_wnids`).

:func:`parse_labels` and :func:`read_labels_file` read a user's ``classes.txt`` by the same rule, strictly:
UTF-8 text, one name per line, no blank line, no name twice (either would shift or merge class indices),
a final newline allowed. Their errors are :class:`LabelFileError`, one line naming the file and the line.

Example::

    python -c "from workbench.labels import load_labels; print(load_labels('voc-2012')[:3])"
    python -c "from workbench.labels import load_wnids; print(load_wnids('imagenet-1k')[281])"
    python -c "from workbench.labels import read_labels_file; print(read_labels_file('classes.txt'))"
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path

LABEL_SETS: dict[str, int] = {"imagenet-1k": 1000, "voc-2012": 20}
MAX_LABELS_FILE_BYTES = 16 * 2**20


#: Shipped label sets that also ship WordNet ids (``<name>-wnids.txt``, the same order).
WNID_SETS = frozenset({"imagenet-1k"})


class LabelFileError(ValueError):
    """A labels file that cannot be used; ``str()`` names the file and, where it applies, the line."""


class LabelSetError(LabelFileError):
    """A shipped label file is missing or malformed (a broken installation); the message names the file."""


@cache
def load_labels(name: str) -> tuple[str, ...]:
    """The class names of a shipped label set, checked against its expected size.

    Raises:
        KeyError: ``name`` is not a shipped set.
        LabelSetError: its file is missing or malformed.
    """
    if name not in LABEL_SETS:
        raise KeyError(f"unknown label set {name!r}; valid: {', '.join(sorted(LABEL_SETS))}")
    return _shipped(f"{name}.txt", LABEL_SETS[name])


@cache
def load_wnids(name: str) -> tuple[str, ...]:
    """The WordNet ids of a shipped label set, line i = class i (``KeyError`` for sets without them)."""
    if name not in WNID_SETS:
        raise KeyError(f"label set {name!r} has no WordNet ids; sets with them: {', '.join(sorted(WNID_SETS))}")
    return _shipped(f"{name}-wnids.txt", LABEL_SETS[name])


def label_set_for(num_classes: int) -> str | None:
    """The shipped label set with exactly ``num_classes`` names, or ``None``."""
    for name, size in LABEL_SETS.items():
        if size == num_classes:
            return name
    return None


def _shipped(file_name: str, expected: int) -> tuple[str, ...]:
    resource = resources.files(__package__).joinpath(file_name)
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelSetError(f"{resource}: cannot read the shipped label file ({exc})") from exc
    try:
        labels = parse_labels(text, str(resource))
    except LabelFileError as exc:
        raise LabelSetError(f"shipped label file damaged: {exc}") from exc
    if len(labels) != expected:
        raise LabelSetError(f"{resource}: has {len(labels)} names, expected {expected}")
    return labels


def parse_labels(text: str, source: str) -> tuple[str, ...]:
    """One class name per line (surrounding spaces dropped); ``source`` names the file in errors.

    A blank line, a repeated name or no name at all is a :class:`LabelFileError`; one final newline
    (``\\n`` or ``\\r\\n``) is fine. Lines are split on ``\\n`` only, so line numbers match any editor's.
    """
    text = text.removeprefix("\ufeff")  # a UTF-8 byte order mark (Windows Notepad)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if not lines:
        raise LabelFileError(f"{source}: empty (one class name per line expected)")
    seen: dict[str, int] = {}
    names = []
    for number, line in enumerate(lines, 1):
        name = line.strip()
        if not name:
            raise LabelFileError(f"{source}: line {number} is blank (one class name per line, no blank lines)")
        if name in seen:
            raise LabelFileError(f"{source}: line {number} repeats {name!r} from line {seen[name]}")
        seen[name] = number
        names.append(name)
    return tuple(names)


def read_labels_file(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The class names in a UTF-8 text file (see :func:`parse_labels`)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_LABELS_FILE_BYTES:
            raise LabelFileError(f"{path}: {size / 2**20:.0f} MiB is too large for a labels file")
        data = path.read_bytes()
    except OSError as exc:
        raise LabelFileError(f"{path}: cannot read the labels file ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LabelFileError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); save it with UTF-8 encoding"
        ) from exc
    return parse_labels(text, str(path))
