"""The view's single doorway into the Qt-free core: plain functions that run inside workers.

Widgets never call the core directly; the window submits these functions as jobs and turns
their plain results into widget updates. Keeping the mapping here means a change in the core
API touches one file.

Example::

    python -c "from desktop_app.view.backend import scan; print([e.name for e in scan('models')])"
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PySide6.QtGui import QImage

from desktop_app.core.catalog import ModelEntry, scan_models
from desktop_app.core.classify import FileResult, classify_images, classify_paths
from desktop_app.core.openvino_engine import bf16_support, openvino_available, openvino_devices
from desktop_app.core.overrides import (
    OVERRIDDEN_PREFIX,
    OverrideError,
    OverrideStore,
    OverrideStoreError,
    remembered_entry,
)
from desktop_app.core.providers import NO_NVIDIA_GPU, ORT_ERRORS, one_line
from desktop_app.core.runtime import EngineModel, SessionCache, int8_cpu_note, ran_text, with_entry
from desktop_app.view.model_info import ModelInfo
from desktop_app.view.qimage import PREVIEW_SIDE, THUMB_SIDE, qimage_to_png_bytes, shrunk, to_qimage
from workbench.imageio import CLIPBOARD_NAME, FoundImages, ImageLoadError, find_image_files, load_image

TOP_K = 5
#: The window's Engine choices: value -> (label, engine, device, precision hint), in menu order.
ENGINE_CHOICES: dict[str, tuple[str, str, str, str]] = {
    "auto": ("Auto", "auto", "auto", "as-exported"),
    "cpu": ("ONNX Runtime CPU", "onnxruntime", "cpu", "as-exported"),
    "cuda": ("CUDA", "onnxruntime", "cuda", "as-exported"),
    "openvino": ("OpenVINO CPU", "openvino", "cpu", "as-exported"),
    "openvino-bf16": ("OpenVINO CPU bf16", "openvino", "cpu", "bf16"),
    "openvino-gpu": ("OpenVINO GPU", "openvino", "gpu", "as-exported"),  # an Intel GPU, when OpenVINO has one
    "openvino-npu": ("OpenVINO NPU", "openvino", "npu", "as-exported"),
}

__all__ = [
    "ENGINE_CHOICES",
    "ClassifiedImage",
    "Loaded",
    "classify_source",
    "classify_sources",
    "engine_items",
    "expand_paths",
    "load",
    "model_info",
    "ort_provider",
    "provider_status",
    "scan",
]


@dataclass(frozen=True)
class Loaded:
    """A loaded model plus how long opening it (and its golden self-test) took."""

    model: EngineModel
    seconds: float
    cached: bool = False
    choice: str = "auto"  # the Engine choice it was opened for (a key of ENGINE_CHOICES)
    note: str = ""  # why remembered overrides were not used, and int8 saturating on this CPU ("": nothing to say)


@dataclass(frozen=True)
class ClassifiedImage:
    """One image's outcome: thumbnail/preview and top-k, or a one-line error."""

    key: int
    thumb: QImage | None = None
    preview: QImage | None = None
    scores: tuple[tuple[str, float], ...] = ()
    error: str | None = None


def scan(directory: str | os.PathLike[str]) -> list[ModelEntry]:
    return scan_models(directory)


def engine_items() -> list[tuple[str, str]]:
    """``(label, value)`` of the Engine choices this machine offers: OpenVINO only when installed, its bf16 only
    where the CPU computes bfloat16 natively, its GPU and NPU only when OpenVINO reports them (``GPU.0``
    counts as a GPU); CUDA always: a failed start says why and what to install."""
    offered = ["auto", "cpu", "cuda"]
    if openvino_available():
        offered.append("openvino")
        if bf16_support("CPU") is None:
            offered.append("openvino-bf16")
        kinds = {device.split(".")[0].upper() for device in openvino_devices()}
        offered += [f"openvino-{kind.lower()}" for kind in ("GPU", "NPU") if kind in kinds]
    return [(ENGINE_CHOICES[value][0], value) for value in offered]


def unoffered_notes(choice: str, shown: str) -> list[str]:
    """``[]`` when the remembered Engine ``choice`` is the one ``shown``, else why it is not among
    :func:`engine_items` on this machine (the window then starts on Auto)."""
    if choice == shown:
        return []
    label = ENGINE_CHOICES[choice][0] if choice in ENGINE_CHOICES else choice
    if not openvino_available():
        why = 'OpenVINO is not installed (pip install -e ".[perf]")'
    elif choice == "openvino-bf16":
        why = bf16_support("CPU") or "bf16 is not offered"
    else:
        why = f"OpenVINO reports {', '.join(openvino_devices()) or 'no device'}"
    return [f"Using Auto: the remembered Engine {label} is not offered on this machine ({why})"]


def ort_provider(choice: str) -> str:
    """The ONNX Runtime provider for the tabs that run ONNX Runtime copies of the graph (Explain, Inspect)."""
    return choice if choice in ("auto", "cpu", "cuda") else "cpu"


def load(cache: SessionCache, entry: ModelEntry, choice: str, store: OverrideStore | None = None) -> Loaded:
    """Open (or fetch from the cache) ``entry`` for the Engine ``choice`` (a key of :data:`ENGINE_CHOICES`, or an
    ONNX Runtime provider), with the preprocessing and label overrides remembered for its file in ``store``
    (default: the user's); ModelLoadError propagates. Remembered overrides that cannot be used (a damaged store,
    a labels file gone) are said in :attr:`Loaded.note`; the model then runs as assumed. So is an int8 file on a
    CPU where int8 saturates (:func:`~desktop_app.core.runtime.int8_cpu_note`).

    Raises:
        ValueError: an unknown choice.
    """
    if choice not in ENGINE_CHOICES:
        raise ValueError(f"unknown engine choice {choice!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    _, engine, device, precision = ENGINE_CHOICES[choice]
    before = len(cache)
    start = time.perf_counter()
    model = cache.get(entry, engine=engine, device=device, precision=precision)
    try:
        used, note = remembered_entry(entry, store or OverrideStore())[0], ""
    except (OverrideStoreError, OverrideError) as exc:
        used, note = entry, f"{entry.path.name}: remembered overrides not used: {exc}"
    seconds = time.perf_counter() - start
    note = " · ".join(n for n in (note, int8_cpu_note(model)) if n)
    return Loaded(with_entry(model, used), seconds, cached=len(cache) == before, choice=choice, note=note)


def expand_paths(paths: Sequence[str]) -> FoundImages:
    """Folders -> image files inside them (recursive), plus one problem per path skipped on the way
    (a symbolic-link loop, a FIFO or device named like an image, a folder that cannot be listed)."""
    return find_image_files(paths)


def clipboard_bytes(image: QImage) -> bytes:
    return qimage_to_png_bytes(image)


def classify_source(model: EngineModel, key: int, source: str | bytes) -> ClassifiedImage:
    """Decode, preprocess and classify one image; an ImageLoadError becomes ``error``."""
    preprocess = model.entry.preprocess
    if preprocess is None:
        return ClassifiedImage(key, error=f"{model.entry.name}: model has no preprocessing description")
    try:
        image = load_image(source, min_side=preprocess.resize)
    except ImageLoadError as exc:
        return ClassifiedImage(key, error=str(exc))
    thumb, preview = to_qimage(shrunk(image, THUMB_SIDE)), to_qimage(shrunk(image, PREVIEW_SIDE))
    title = source_title(source)
    try:
        scores = top_k(model, image)
    except ORT_ERRORS as exc:
        return ClassifiedImage(key, thumb, preview, error=f"{title}: inference failed ({one_line(str(exc))})")
    return ClassifiedImage(key, thumb, preview, scores=scores)


def classify_sources(
    model: EngineModel,
    work: Sequence[tuple[int, str | bytes]],
    cancelled: Callable[[], bool],
    *,
    preview_key: int | None = None,
) -> Iterator[ClassifiedImage]:
    """Classify ``(key, source)`` pairs; one :class:`ClassifiedImage` each, the first as soon as it is ready.

    Files go through :func:`~desktop_app.core.classify.classify_paths`, the headless command's pipeline
    (decoding in threads ahead of the model, batches), which also makes each image's thumbnail in its
    decoding thread, and the display-size preview of row ``preview_key`` (the one on show); the other
    previews are decoded when their row is selected, so a folder costs what ``evaluate`` costs plus
    thumbnails. Pasted bytes are classified one by one. Stops early once ``cancelled()`` is true.
    """
    if model.entry.preprocess is None:
        for key, _ in work:
            yield ClassifiedImage(key, error=f"{model.entry.name}: model has no preprocessing description")
        return
    files = [(key, source) for key, source in work if isinstance(source, str)]
    for key, source in work:
        if isinstance(source, bytes) and not cancelled():
            yield classify_source(model, key, source)
    shown = next((Path(source) for key, source in files if key == preview_key), None)
    results = classify_paths(
        model, [source for _, source in files], TOP_K, decoded=lambda path, image: _thumbnails(image, path == shown)
    )
    try:
        for (key, _), result in zip(files, results, strict=True):
            if cancelled():
                return
            yield _classified(key, result)
    finally:
        results.close()  # stops the decoding threads when cancelled


def _thumbnails(image: Image.Image, with_preview: bool) -> tuple[QImage, QImage | None]:
    """The list icon of a decoded image, and its preview when ``with_preview``."""
    if not with_preview:
        return to_qimage(shrunk(image, THUMB_SIDE)), None
    small = shrunk(image, PREVIEW_SIDE)
    return to_qimage(shrunk(small, THUMB_SIDE)), to_qimage(small)


def _classified(key: int, result: FileResult) -> ClassifiedImage:
    thumb, shown = result.extra if isinstance(result.extra, tuple) else (None, None)
    if result.prediction is None:
        return ClassifiedImage(key, thumb, shown, error=result.error or "no prediction")
    scores = tuple(zip(result.prediction.labels, result.prediction.probabilities, strict=True))
    return ClassifiedImage(key, thumb, shown, scores=scores)


def preview(source: str | bytes) -> QImage:
    """A display-size copy of an image (ImageLoadError propagates, e.g. the file vanished meanwhile)."""
    return to_qimage(shrunk(load_image(source), PREVIEW_SIDE))


def top_k(model: EngineModel, image: Image.Image, k: int = TOP_K) -> tuple[tuple[str, float], ...]:
    """The ``k`` most probable ``(label, probability)`` pairs for one decoded image."""
    (prediction,) = classify_images(model, [image], top_k=k)
    return tuple(zip(prediction.labels, prediction.probabilities, strict=True))


def provider_status(loaded: Loaded) -> tuple[str, str]:
    """Status-bar text naming what actually ran (provider, engine, device, precision) and any fallback, and a
    tooltip with the full story."""
    model = loaded.model
    ran = model.providers[0] if model.providers else "no provider"
    label = ENGINE_CHOICES.get(loaded.choice, (loaded.choice,))[0]
    asked = "auto" if loaded.choice == "auto" else f"{label} requested"
    what = f"{ran} · {model.precision}"
    text = f"{what} ({asked})"
    tooltip = f"Ran: {ran_text(model)}\nRequested: {label}; engine providers: {', '.join(model.providers)}"
    if model.fallback_reason == NO_NVIDIA_GPU:  # Auto did not try CUDA: nothing fell back
        text = f"{what} ({asked}: {NO_NVIDIA_GPU})"
        tooltip += f"\n{NO_NVIDIA_GPU}"
    elif model.fallback_reason:
        text = f"{what} ({asked}, fell back: {model.fallback_reason})"
        tooltip += f"\nFell back: {model.fallback_reason}"
    return text, tooltip


def golden_status(model: EngineModel) -> tuple[str, bool | None]:
    """Golden self-test text and pass/fail (None when the file has no test)."""
    if model.golden is None:
        return "no golden self-test in this file", None
    return model.golden.message, model.golden.passed


def label_origin(entry: ModelEntry) -> str:
    """Where the labels come from: overridden by a labels file, the file's label set, or assumed."""
    if any(n.startswith(OVERRIDDEN_PREFIX) and "labels from " in n for n in entry.notices):
        return "overridden: from a labels file"
    return entry.card.label_set if entry.card else "assumed"


def model_info(entry: ModelEntry, loaded: Loaded | None = None) -> ModelInfo:
    """Everything the "Model info" tab shows for ``entry`` (and its session, once loaded)."""
    card = entry.card
    golden, golden_ok = ("not run (model not loaded)", None)
    load_text = ""
    if loaded is not None:
        golden, golden_ok = golden_status(loaded.model)
        provider, _ = provider_status(loaded)
        opened = "session reused from cache" if loaded.cached else f"opened in {1000 * loaded.seconds:.0f} ms"
        load_text = f"{provider}; {opened}"
    return ModelInfo(
        title=entry.name,
        path=str(entry.path),
        architecture=card.architecture if card else "unknown (foreign file, no workbench metadata)",
        labels=entry.labels,
        label_set=label_origin(entry),
        preprocess=entry.preprocess.to_dict() if entry.preprocess else {},
        weights=dict(card.weights) if card else {},
        trained=card.trained if card else None,
        precision=card.precision if card else entry.input_dtype,
        training=card.training if card else None,
        quantization=card.quantization if card else None,
        provenance=dict(card.provenance) if card else {},
        notices=tuple(n for n in entry.notices if not n.startswith("UNTRAINED")),
        error=entry.error,
        golden=golden,
        golden_ok=golden_ok,
        load=load_text,
        input_shape=input_text(entry) if entry.usable else "",
        parameters=entry.parameters,
        gmacs=recorded_gmacs(entry),
        file_bytes=_file_bytes(entry.path),
    )


def input_text(entry: ModelEntry) -> str:
    """``1 x 3 x 224 x 224 (NCHW, float32; any batch size)``."""
    shape = " x ".join(str(d) for d in entry.input_shape)
    batch = f"batch fixed at {entry.batch}" if entry.batch else "any batch size"
    return f"{shape} ({entry.layout}, {entry.input_dtype}; {batch})"


def recorded_gmacs(entry: ModelEntry) -> float | None:
    """Multiply-accumulates per image (billions) when the file's card records them (``provenance.gmacs``)."""
    value = entry.card.provenance.get("gmacs") if entry.card is not None else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def _file_bytes(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:  # the file went away since the scan: the tab says "unknown"
        return None


def source_title(source: str | bytes) -> str:
    return CLIPBOARD_NAME if isinstance(source, bytes) else Path(source).name
