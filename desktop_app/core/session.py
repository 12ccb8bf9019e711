"""Models for the workbench: find and describe ONNX files, open them with ONNX Runtime, cache sessions.

* :func:`inspect_model` / :func:`scan_models` describe files without running them (bad files are
  returned with a one-line ``error`` instead of raising); foreign files without workbench metadata
  get assumed preprocessing and labels, listed in ``notices``.
* :func:`load_model` opens a session on the chosen provider (auto / cuda / cpu), records what really
  runs and why CUDA fell back, and runs the file's golden self-test.
* :class:`SessionCache` keeps one :class:`LoadedModel` per (file, file version, provider).

Example::

    python -c "from desktop_app.core.paths import models_dir; from desktop_app.core.session import scan_models, \\
load_model; e = [m for m in scan_models(models_dir()) if m.usable][0]; m = load_model(e); print(m.providers, m.golden)"
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from desktop_app.core.contract import ContractError, ModelCard, golden_input
from desktop_app.core.infocache import cached_graph_info
from desktop_app.core.labelsets import LabelSetError, label_set_for, shipped_labels
from desktop_app.core.modelfile import GraphInfo, ModelFileError
from desktop_app.core.preprocess import Preprocess
from desktop_app.core.providers import ORT_ERRORS, ModelLoadError, create_session, parse_provider, short_provider_name

__all__ = [
    "GoldenResult",
    "LoadedModel",
    "ModelEntry",
    "ModelLoadError",
    "SessionCache",
    "inspect_model",
    "load_model",
    "scan_models",
]

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


_INSPECTED: dict[tuple[Path, int, int], ModelEntry] = {}
_INSPECTED_LOCK = threading.Lock()
_INSPECTED_MAX = 256


def inspect_model(path: str | os.PathLike[str]) -> ModelEntry:
    """Describe ``path``; never raises for a bad file (see ``ModelEntry.error``).

    Usable entries are cached per (path, mtime, size), so rescanning a folder of large models is
    cheap; unusable ones are checked again every time (their external data may have arrived since).
    """
    file = Path(path)
    try:
        stat = file.stat()
    except OSError:
        return _inspect_uncached(file)  # reports the problem in the entry's error
    key = (file.absolute(), stat.st_mtime_ns, stat.st_size)
    with _INSPECTED_LOCK:
        cached = _INSPECTED.get(key)
    if cached is not None:
        return replace(cached, path=file)
    entry = _inspect_uncached(file)
    if entry.usable:
        with _INSPECTED_LOCK:
            if len(_INSPECTED) >= _INSPECTED_MAX:
                _INSPECTED.clear()
            _INSPECTED[key] = entry
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
    if info.height is None or info.width is None:
        raise ModelFileError(path, "input height/width are dynamic and the file has no metadata giving the size")
    if info.num_classes is None:
        raise ModelFileError(path, "number of classes is dynamic and the file has no metadata giving the labels")
    crop = (info.height, info.width)
    preprocess = Preprocess(resize=round(min(crop) * 256 / 224), crop=crop, layout=info.layout)
    labels, label_notice = _assumed_labels(info.num_classes)
    notices = (
        "no workbench metadata in the file: assumed ImageNet mean/std normalisation, "
        f"resize to {preprocess.resize} px (bilinear) and centre crop {crop[0]}x{crop[1]}, "
        f"{info.layout} input from the graph",
        label_notice,
    )
    return _entry(path, path.stem, None, info, crop, info.num_classes, preprocess, labels, notices)


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
    return _entry(path, card.display_name, card, info, p.crop, len(card.labels), p, card.labels, notices)


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
    )


def _assumed_labels(num_classes: int) -> tuple[tuple[str, ...], str]:
    label_set = label_set_for(num_classes)
    if label_set is None:
        labels = tuple(f"class {i}" for i in range(num_classes))
        return labels, f"no labels in the file: showing class numbers for its {num_classes} outputs"
    title = _LABEL_SET_TITLES.get(label_set, label_set)
    return shipped_labels(label_set), f"no labels in the file: assumed {title} labels for its {num_classes} outputs"


@dataclass(frozen=True)
class GoldenResult:
    """Outcome of the file's golden self-test (a mismatch is a warning, not an error)."""

    passed: bool
    message: str


@dataclass(frozen=True)
class LoadedModel:
    """An open ONNX Runtime session for one :class:`ModelEntry`, and what it actually runs on."""

    entry: ModelEntry
    session: ort.InferenceSession = field(repr=False)
    providers: tuple[str, ...]
    requested: str
    fallback_reason: str | None
    golden: GoldenResult | None = None
    optimized_cache: str | None = None  # "reused" / "saved": the optimised graph came from / went to the cache

    @property
    def provider_label(self) -> str:
        """``"CPU"``, ``"CUDA"``, ...: the provider that actually runs the model."""
        return short_provider_name(self.providers[0]) if self.providers else "?"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (float32, shape [N, classes]) for a preprocessed batch; loops for fixed-batch graphs."""
        entry = self.entry
        x = np.ascontiguousarray(batch, dtype=entry.input_dtype)
        if entry.batch is None or x.shape[0] == entry.batch:
            return self._run_once(x)
        if entry.batch != 1:
            return np.concatenate([self._run_once(chunk) for chunk in _fixed_chunks(x, entry.batch)])[: x.shape[0]]
        return np.concatenate([self._run_once(x[i : i + 1]) for i in range(x.shape[0])])

    def _run_once(self, x: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run([self.entry.output_name], {self.entry.input_name: x})
        return np.asarray(logits, dtype=np.float32).reshape(x.shape[0], -1)


def _fixed_chunks(x: np.ndarray, size: int) -> list[np.ndarray]:
    """Split into chunks of exactly ``size`` rows, zero-padding the last one."""
    chunks = []
    for start in range(0, x.shape[0], size):
        chunk = x[start : start + size]
        if chunk.shape[0] < size:
            chunk = np.concatenate([chunk, np.zeros((size - chunk.shape[0], *x.shape[1:]), dtype=x.dtype)])
        chunks.append(chunk)
    return chunks


def load_model(entry: ModelEntry, provider: str = "auto", *, options: ort.SessionOptions | None = None) -> LoadedModel:
    """Open ``entry`` on ``provider`` and run its golden self-test (when the file has one).

    Raises:
        ModelLoadError: the entry is unusable or ONNX Runtime refused it (one line naming the file).
        ValueError: unknown provider choice.
    """
    parse_provider(provider)
    if entry.error is not None:
        raise ModelLoadError(entry.error)
    started = create_session(entry.path, provider, options)
    model = LoadedModel(
        entry=entry,
        session=started.session,
        providers=started.providers,
        requested=started.requested,
        fallback_reason=started.fallback_reason,
        optimized_cache=started.optimized_cache,
    )
    if entry.card is not None and entry.card.golden is not None:
        model = replace(model, golden=run_golden(model))
    return model


def run_golden(model: LoadedModel) -> GoldenResult:
    """Feed the golden input and compare with the top-5 and logits stored in the file."""
    card = model.entry.card
    if card is None or card.golden is None:
        return GoldenResult(passed=True, message="no golden self-test in the file")
    golden = card.golden
    try:
        logits = model.run(golden_input(golden.shape, golden.layout))[0].astype(np.float64)
    except ORT_ERRORS as exc:
        return GoldenResult(False, f"golden self-test could not run: {' '.join(str(exc).split())}")
    return compare_golden(logits, golden.top5, golden.top5_logits, golden.tolerance * golden.logit_range)


def compare_golden(
    logits: np.ndarray, top5: tuple[int, ...], top5_logits: tuple[float, ...], tolerance: float
) -> GoldenResult:
    """Pass when the expected top-5 logits match within ``tolerance`` and no other class beats them.

    Near-ties inside the tolerance may swap places without failing the test.
    """
    if not top5 or max(top5) >= logits.shape[0]:
        return GoldenResult(False, f"golden self-test FAILED: expected classes {list(top5)} of {logits.shape[0]}")
    expected = np.asarray(top5_logits, dtype=np.float64)
    difference = float(np.max(np.abs(logits[list(top5)] - expected)))
    others = np.delete(logits, list(top5))
    intruder = bool(others.size) and float(others.max()) > float(expected.min()) + tolerance
    actual_top5 = [int(i) for i in np.argsort(-logits, kind="stable")[: len(top5)]]
    if difference > tolerance:
        return GoldenResult(
            False,
            f"golden self-test FAILED: top-5 {actual_top5} (expected {list(top5)}), "
            f"max logit difference {difference:.3g} > tolerance {tolerance:.3g}",
        )
    if intruder:
        return GoldenResult(False, f"golden self-test FAILED: top-5 {actual_top5} (expected {list(top5)})")
    return GoldenResult(True, f"golden self-test passed: top-5 {actual_top5}, max logit difference {difference:.2g}")


CacheKey = tuple[str, int, int, str]


class SessionCache:
    """Thread-safe cache of :class:`LoadedModel` per (file, mtime, size, provider choice).

    Concurrent requests for the same key load once (the others wait for it); different keys load in
    parallel. A changed file (new mtime or size) gets a fresh session and the stale one is dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[CacheKey, LoadedModel] = {}
        self._loading: dict[CacheKey, threading.Lock] = {}

    def get(self, entry: ModelEntry, provider: str = "auto") -> LoadedModel:
        """The cached model for ``entry`` on ``provider``, loading it on first use.

        Raises:
            ModelLoadError: the file vanished, is unusable, or ONNX Runtime refused it.
        """
        key = self._key(entry, parse_provider(provider))
        with self._lock:
            cached = self._models.get(key)
            if cached is not None:
                return cached
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                cached = self._models.get(key)
            if cached is not None:
                return cached
            model = load_model(entry, provider)
            with self._lock:
                for stale in [k for k in self._models if k[0] == key[0] and k[1:3] != key[1:3]]:
                    del self._models[stale]
                self._models[key] = model
                self._loading.pop(key, None)
            return model

    def clear(self) -> None:
        """Forget every cached session (they close when no longer referenced)."""
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)

    @staticmethod
    def _key(entry: ModelEntry, provider: str) -> CacheKey:
        try:
            stat = entry.path.stat()
        except OSError as exc:
            raise ModelLoadError(f"{entry.path.name}: cannot read file ({exc.strerror or exc})") from exc
        return (str(entry.path.resolve()), stat.st_mtime_ns, stat.st_size, provider)
