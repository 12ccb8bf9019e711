"""Choose a model by name or file, or the default one, from the models folder.

A ``--model`` value is a file path (when it exists, or contains a folder separator), else a name
(``resnet18-imagenet-1k-random-fp32.onnx`` included) matched case-insensitively against each file's stem, file name,
display name and architecture. Without a value the default is the first usable model, preferring
EfficientNet-Lite0 with ImageNet labels and trained weights.

Example::

    python -c "from desktop_app.core.catalog import choose_model; print(choose_model('resnet18', None).path)"
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop_app.core.paths import models_dir
from desktop_app.core.session import ModelEntry, inspect_model, scan_models

DEFAULT_ARCHITECTURE = "efficientnet_lite0"
DEFAULT_EXPORT_COMMAND = "python -m exporter export --default"


class ModelChoiceError(ValueError):
    """No usable model for the request; the message is one line (plus the fix, when there is one)."""


def choose_model(spec: str | None, directory: str | os.PathLike[str] | None) -> ModelEntry:
    """The usable :class:`ModelEntry` for ``spec`` (file or name; ``None`` = default) in ``directory``.

    ``directory`` ``None`` means :func:`desktop_app.core.paths.models_dir` (``$CNN_WORKBENCH_MODELS``
    or the per-user folder).

    Raises:
        ModelChoiceError: no such file or name, the match is unusable (its reason), or no model at all.
    """
    if spec is not None and _looks_like_file(spec):
        path = Path(spec).expanduser()
        if not path.exists():
            raise ModelChoiceError(f"{spec}: model file not found")
        if path.is_dir():
            raise ModelChoiceError(f"{spec}: is a folder; give an .onnx file or use --models-dir")
        entry = inspect_model(path)
        if entry.error:
            raise ModelChoiceError(f"unusable model: {entry.error}")
        return entry
    folder = models_dir(directory)
    entries = scan_models(folder)
    if spec is None:
        return default_model(entries, folder)
    matches = [e for e in entries if _matches(e, spec)]
    usable = [e for e in matches if e.usable]
    if usable:
        return _preferred(usable)
    if matches:
        raise ModelChoiceError(f"unusable model: {matches[0].error}")
    known = ", ".join(e.path.stem for e in entries) or "none"
    raise ModelChoiceError(f"{spec}: no model of that name in {folder} (available: {known})")


def default_model(entries: list[ModelEntry], folder: Path) -> ModelEntry:
    """The preferred usable entry; ModelChoiceError naming the export command when there is none."""
    usable = [e for e in entries if e.usable]
    if not usable:
        problems = "; ".join(e.error or "" for e in entries)
        detail = f" ({len(entries)} unusable: {problems})" if entries else ""
        raise ModelChoiceError(
            f"no usable model in {folder}{detail}. Create the default model with: {DEFAULT_EXPORT_COMMAND}"
        )
    return _preferred(usable)


def _preferred(entries: list[ModelEntry]) -> ModelEntry:
    def rank(entry: ModelEntry) -> tuple[int, int, int]:
        card = entry.card
        return (
            0 if card and card.architecture == DEFAULT_ARCHITECTURE else 1,
            0 if card and card.label_set == "imagenet-1k" else 1,
            0 if card and card.trained else 1,
        )

    return min(entries, key=rank)  # min() keeps the first (sorted by file name) among equals


def _looks_like_file(spec: str) -> bool:
    return Path(spec).expanduser().exists() or os.sep in spec or "/" in spec


def _matches(entry: ModelEntry, spec: str) -> bool:
    wanted = spec.strip().casefold()
    names = {entry.path.stem, entry.path.name, entry.name}
    if entry.card is not None:
        names.add(entry.card.architecture)
    return wanted in {n.casefold() for n in names}
