"""The model catalogue: find the ONNX files in a folder, describe each one, and choose one by name or by default.

* :func:`inspect_model` / :func:`scan_models` describe files without running them (bad files are
  returned with a one-line ``error`` instead of raising); usable entries are cached in memory per
  (path, size, mtime). Foreign files without workbench metadata get assumed preprocessing and labels,
  listed in ``notices``.
* :func:`choose_model` turns a ``--model`` value into an entry: a file path (when it exists, or
  contains a folder separator), else a name (``resnet18-imagenet-1k-random-fp32.onnx`` included)
  matched case-insensitively against each file's stem, file name, display name and architecture, in
  that order; a display name that several files share is refused, naming them all.
  Without a value, :func:`default_model` takes the first usable model, preferring EfficientNet-Lite0
  with ImageNet labels and trained weights.

Opening and running a described file is :mod:`desktop_app.core.runtime`.

Example::

    python -c "from workbench.paths import models_dir; from desktop_app.core.catalog import scan_models, \\
choose_model; print([m.name for m in scan_models(models_dir())]); print(choose_model('resnet18', None).path)"
"""

from __future__ import annotations

import difflib
import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from desktop_app.core.infocache import cached_graph_info
from workbench.contract import MAX_BATCH_BYTES, ContractError, ModelCard
from workbench.labels import LabelSetError, label_set_for, load_labels
from workbench.modelfile import GraphInfo, ModelFileError
from workbench.paths import models_dir
from workbench.preprocess import Preprocess

__all__ = [
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_EXPORT_COMMAND",
    "ModelChoiceError",
    "ModelEntry",
    "choose_model",
    "default_model",
    "inspect_model",
    "scan_models",
]

ASSUMED_SIDE = 224  # a foreign graph's dynamic input side: what ImageNet classifiers take
_LABEL_SET_TITLES = {"imagenet-1k": "ImageNet-1k", "voc-2012": "Pascal VOC 2012"}


@dataclass(frozen=True)
class ModelEntry:
    """One ONNX file as the app sees it; ``error`` is set (and most fields empty) for unusable files."""

    path: Path
    name: str
    card: ModelCard | None = None
    layout: str = "NCHW"
    input_name: str = ""
    input_dtype: str = "float32"
    output_name: str = ""
    batch: int | None = None
    height: int = 0
    width: int = 0
    num_classes: int = 0
    preprocess: Preprocess | None = None
    labels: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()
    error: str | None = None
    parameters: int | None = None  # weight values in the file's initializers (None: not read)

    @property
    def usable(self) -> bool:
        return self.error is None

    @property
    def architecture(self) -> str | None:
        return self.card.architecture if self.card else None

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        """Shape of a batch of one (the fixed batch size when the graph has one)."""
        n = self.batch or 1
        if self.layout == "NCHW":
            return (n, 3, self.height, self.width)
        return (n, self.height, self.width, 3)


# Usable entries by absolute path, with the (size, mtime) they describe; the least recently used go
# first, but only beyond a cap far above any real models folder.
_INSPECTED: OrderedDict[Path, tuple[tuple[int, int], ModelEntry]] = OrderedDict()
_INSPECTED_LOCK = threading.Lock()
_INSPECTED_MAX = 10_000


def inspect_model(path: str | os.PathLike[str]) -> ModelEntry:
    """Describe ``path``; never raises for a bad file (see ``ModelEntry.error``).

    Usable entries are cached per (path, size, mtime), so rescanning a folder is a ``stat`` per
    file; unusable ones are checked again every time (their external data may have arrived since).
    """
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        return _inspect_uncached(file)  # reports the problem in the entry's error
    key, version = file.absolute(), (stat.st_size, stat.st_mtime_ns)
    with _INSPECTED_LOCK:
        cached = _INSPECTED.get(key)
        if cached is not None and cached[0] == version:
            _INSPECTED.move_to_end(key)
            return cached[1] if cached[1].path == file else replace(cached[1], path=file)
    entry = _inspect_uncached(file)
    with _INSPECTED_LOCK:
        if entry.usable:
            _INSPECTED[key] = (version, entry)
            _INSPECTED.move_to_end(key)
            while len(_INSPECTED) > _INSPECTED_MAX:
                _INSPECTED.popitem(last=False)
        else:
            _INSPECTED.pop(key, None)
    return entry


def _inspect_uncached(file: Path) -> ModelEntry:
    try:
        info = cached_graph_info(file)
        return _entry_from_graph(file, info)
    except ModelFileError as exc:
        return ModelEntry(path=file, name=file.name, error=str(exc))
    except (ContractError, LabelSetError) as exc:
        return ModelEntry(path=file, name=file.name, error=f"{file.name}: {' '.join(str(exc).split())}")


def scan_models(directory: str | os.PathLike[str]) -> list[ModelEntry]:
    """Every ``*.onnx`` file in ``directory`` (not recursive), sorted by file name; [] if it does not exist.

    Equal display names get the file name appended, so every entry reads differently.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return []
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".onnx" and p.is_file()), key=_sort_key)
    entries = [inspect_model(p) for p in files]
    counts = Counter(e.name for e in entries)
    return [replace(e, name=f"{e.name} ({e.path.name})") if counts[e.name] > 1 else e for e in entries]


def _sort_key(path: Path) -> tuple[str, str]:
    return (path.name.casefold(), path.name)


def _entry_from_graph(path: Path, info: GraphInfo) -> ModelEntry:
    card = ModelCard.from_metadata(info.metadata)
    if card is not None:
        return _entry_with_card(path, info, card)
    if info.num_classes is None:
        raise ModelFileError(path, "number of classes is dynamic and the file has no metadata giving the labels")
    crop, size_notice = _assumed_crop(info)
    preprocess = Preprocess(resize=round(min(crop) * 256 / 224), crop=crop, layout=info.layout)
    labels, label_notice = _assumed_labels(info.num_classes)
    notices = (
        "no workbench metadata in the file: assumed ImageNet mean/std normalisation, "
        f"resize to {preprocess.resize} px (bilinear) and centre crop {crop[0]}x{crop[1]}, "
        f"{info.layout} input from the graph",
        *size_notice,
        label_notice,
    )
    return _entry(path, path.stem, None, info, crop, info.num_classes, preprocess, labels, notices)


def _assumed_crop(info: GraphInfo) -> tuple[tuple[int, int], tuple[str, ...]]:
    """The graph's input size; a dynamic side is assumed to be the other side, or 224 (said in a notice)."""
    if info.height is not None and info.width is not None:
        return (info.height, info.width), ()
    side = info.height or info.width or ASSUMED_SIDE
    crop = (info.height or side, info.width or side)
    return crop, (
        f"the graph's input size is dynamic: assumed {crop[0]}x{crop[1]} (set it under Model > Preprocessing "
        "and Labels…, or classify --crop)",
    )


def _entry_with_card(path: Path, info: GraphInfo, card: ModelCard) -> ModelEntry:
    p = card.preprocess
    if p.layout != info.layout:
        raise ModelFileError(path, f"metadata says layout {p.layout} but the graph input is {info.layout}")
    for axis, graph_value, card_value in (("height", info.height, p.crop[0]), ("width", info.width, p.crop[1])):
        if graph_value is not None and graph_value != card_value:
            reason = f"metadata crop {axis} {card_value} differs from the graph input {axis} {graph_value}"
            raise ModelFileError(path, reason)
    if info.num_classes is not None and info.num_classes != len(card.labels):
        reason = f"metadata has {len(card.labels)} labels but the graph outputs {info.num_classes} classes"
        raise ModelFileError(path, reason)
    notices = () if card.trained else ("UNTRAINED random weights: predictions are meaningless",)
    return _entry(path, display_name(card), card, info, p.crop, len(card.labels), p, card.labels, notices)


def display_name(card: ModelCard) -> str:
    """The card's display name; a model trained by ``python -m exporter train`` keeps its run's name in it.

    ``resnet18 · my_photos (run my_photos-resnet18) · fp32`` when the card's ``training.run`` says so, else
    :attr:`ModelCard.display_name` (``resnet50 · imagenet-1k · imagenet weights · fp32``).
    """
    run = card.training.get("run") if card.training is not None else None
    if not isinstance(run, str) or not run.strip() or not card.trained:
        return card.display_name
    return f"{card.architecture} · {card.label_set} (run {run.strip()}) · {card.precision}"


def _entry(
    path: Path,
    name: str,
    card: ModelCard | None,
    info: GraphInfo,
    crop: tuple[int, int],
    num_classes: int,
    preprocess: Preprocess,
    labels: tuple[str, ...],
    notices: tuple[str, ...],
) -> ModelEntry:
    if info.batch is not None:
        size = info.batch * 3 * crop[0] * crop[1] * (2 if info.input_dtype == "float16" else 4)
        if size > MAX_BATCH_BYTES:
            reason = (
                f"input batch is fixed at {info.batch}: {size / 2**20:.0f} MiB per run, "
                f"at most {MAX_BATCH_BYTES / 2**20:.0f} MiB"
            )
            raise ModelFileError(path, reason)
    return ModelEntry(
        path=path,
        name=name,
        card=card,
        layout=info.layout,
        input_name=info.input_name,
        input_dtype=info.input_dtype,
        output_name=info.output_name,
        batch=info.batch,
        height=crop[0],
        width=crop[1],
        num_classes=num_classes,
        preprocess=preprocess,
        labels=labels,
        notices=notices,
        parameters=info.parameters,
    )


def _assumed_labels(num_classes: int) -> tuple[tuple[str, ...], str]:
    label_set = label_set_for(num_classes)
    if label_set is None:
        labels = tuple(f"class {i}" for i in range(num_classes))
        return labels, f"no labels in the file: showing class numbers for its {num_classes} outputs"
    title = _LABEL_SET_TITLES.get(label_set, label_set)
    return load_labels(label_set), f"no labels in the file: assumed {title} labels for its {num_classes} outputs"


DEFAULT_ARCHITECTURE = "efficientnet_lite0"
DEFAULT_EXPORT_COMMAND = "python -m exporter export --default"


class ModelChoiceError(ValueError):
    """No usable model for the request; the message is one line (plus the fix, when there is one)."""


def choose_model(spec: str | None, directory: str | os.PathLike[str] | None) -> ModelEntry:
    """The usable :class:`ModelEntry` for ``spec`` (file or name; ``None`` = default) in ``directory``.

    ``directory`` ``None`` means :func:`workbench.paths.models_dir` (``$CNN_WORKBENCH_MODELS``
    or the per-user folder).

    Raises:
        ModelChoiceError: no such file or name, several files with that display name (listed), the match
            is unusable (its reason), or no model at all.
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
    return _choose_by_name(spec, entries, folder)


def _choose_by_name(spec: str, entries: list[ModelEntry], folder: Path) -> ModelEntry:
    """A file's stem, name or shown name picks that file; then a display name, refused when several files share
    it (they are listed); then an architecture, which picks the preferred of its files."""
    wanted = spec.strip().casefold()
    by_file = [e for e in entries if wanted in {e.path.stem.casefold(), e.path.name.casefold(), e.name.casefold()}]
    if by_file:
        return _first_usable(by_file)
    by_name = [e for e in entries if _base_name(e).casefold() == wanted]
    if len(by_name) > 1:
        files = _some([str(e.path) for e in by_name], 20)
        raise ModelChoiceError(
            f"{spec}: {len(by_name)} models in {folder} have that name: {files}; give the file name or path instead"
        )
    by_architecture = [e for e in entries if e.card is not None and e.card.architecture.casefold() == wanted]
    if by_name or by_architecture:
        return _first_usable(by_name or by_architecture)
    known = _some([e.path.stem for e in entries], 20) or "none"
    names = {e.path.stem.casefold(): e.path.stem for e in entries}
    names.update({e.card.architecture.casefold(): e.card.architecture for e in entries if e.card is not None})
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    hint = f"; did you mean {names[close[0]]}?" if close else ""
    raise ModelChoiceError(f"{spec}: no model of that name in {folder}{hint} (available: {known})")


def _first_usable(matches: list[ModelEntry]) -> ModelEntry:
    usable = [e for e in matches if e.usable]
    if not usable:
        raise ModelChoiceError(f"unusable model: {matches[0].error}")
    return _preferred(usable)


def _base_name(entry: ModelEntry) -> str:
    """The display name before :func:`scan_models` appended the file name to tell equal names apart."""
    return entry.name.removesuffix(f" ({entry.path.name})")


def default_model(entries: list[ModelEntry], folder: Path) -> ModelEntry:
    """The preferred usable entry; ModelChoiceError naming the export command when there is none."""
    usable = [e for e in entries if e.usable]
    if not usable:
        problems = _some([e.error or "" for e in entries], 3, "; ")
        detail = f" ({len(entries)} unusable: {problems})" if entries else ""
        raise ModelChoiceError(
            f"no usable model in {folder}{detail}. Create the default model with: {DEFAULT_EXPORT_COMMAND}"
        )
    return _preferred(usable)


def _some(items: list[str], limit: int, separator: str = ", ") -> str:
    """The first ``limit`` items joined, and how many more there are (a folder may hold hundreds of files)."""
    shown = separator.join(items[:limit])
    return f"{shown}{separator}and {len(items) - limit} more" if len(items) > limit else shown


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
