"""The model runtime: open a catalogued file on an engine, run it, check its golden self-test, cache sessions.

* :func:`open_model` picks the engine and device (``engine="auto"``: CUDA when it starts, else OpenVINO on a
  CPU with AMX when OpenVINO is installed, else ONNX Runtime on the CPU) and returns an :class:`EngineModel`:
  a :class:`LoadedModel` (ONNX Runtime) or an :class:`~desktop_app.core.openvino_engine.OpenVinoModel`.
* :func:`load_model` opens an ONNX Runtime session on the chosen provider (auto / cuda / cpu), records what really
  runs and why CUDA fell back, and runs the file's golden self-test (:func:`run_golden`,
  :func:`compare_golden`).
* :class:`LoadedModel` runs preprocessed batches (looping for fixed-batch graphs).
* :class:`SessionCache` keeps one model per (file, file version, engine, device, precision).

Finding and describing the files (:class:`~desktop_app.core.catalog.ModelEntry`) is :mod:`desktop_app.core.catalog`.

Example::

    python -c "from workbench.paths import models_dir; from desktop_app.core.catalog import scan_models; \\
from desktop_app.core.runtime import load_model; e = [m for m in scan_models(models_dir()) if m.usable][0]; \\
m = open_model(e, engine='auto'); print(m.engine, m.device, m.precision, m.golden)"
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, is_dataclass, replace
from typing import TYPE_CHECKING, Protocol, cast, overload

import numpy as np
import onnxruntime as ort

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.providers import (
    ORT_ERRORS,
    ModelLoadError,
    create_session,
    cuda_listed,
    cuda_start_failure,
    one_line,
    parse_provider,
    short_provider_name,
)
from workbench.contract import golden_input
from workbench.cpu import cpu_info, int8_saturates
from workbench.names import printable

if TYPE_CHECKING:
    from desktop_app.core.openvino_engine import OpenVinoModel

__all__ = [
    "DEVICES",
    "ENGINES",
    "PRECISION_HINTS",
    "EngineModel",
    "GoldenResult",
    "LoadedModel",
    "ModelLoadError",
    "SessionCache",
    "compare_golden",
    "fixed_chunks",
    "int8_cpu_note",
    "load_model",
    "open_model",
    "ran_text",
    "run_golden",
    "with_entry",
]

#: ``--engine`` choices; ``--device`` choices; ``--precision-hint`` choices (bf16: OpenVINO on a CPU with it).
ENGINES = ("auto", "onnxruntime", "openvino")
DEVICES = ("auto", "cpu", "cuda", "gpu", "npu")
PRECISION_HINTS = ("as-exported", "bf16")
#: CPU instruction sets on which OpenVINO beats ONNX Runtime (issue 17: 1.3-2.2x with AMX; 0.5-1.0x without).
AMX_FEATURES = ("amx_int8", "amx_bf16")


@dataclass(frozen=True)
class GoldenResult:
    """Outcome of the file's golden self-test (a mismatch is a warning, not an error)."""

    passed: bool
    message: str


class EngineModel(Protocol):
    """What callers use of an open model, whichever engine runs it (ONNX Runtime or OpenVINO)."""

    @property
    def entry(self) -> ModelEntry: ...
    @property
    def providers(self) -> tuple[str, ...]: ...
    @property
    def requested(self) -> str: ...
    @property
    def fallback_reason(self) -> str | None: ...
    @property
    def golden(self) -> GoldenResult | None: ...
    @property
    def engine(self) -> str: ...  # "onnxruntime" / "openvino"
    @property
    def device(self) -> str: ...  # "CPU", "CUDA", "GPU"...: what really ran
    @property
    def precision(self) -> str: ...  # "fp32", "int8", "bf16"...: what it computes in
    @property
    def provider_label(self) -> str: ...

    def run(self, batch: np.ndarray) -> np.ndarray: ...


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
    engine: str = "onnxruntime"

    @property
    def provider_label(self) -> str:
        """``"CPU"``, ``"CUDA"``, ...: the provider that actually runs the model."""
        return short_provider_name(self.providers[0]) if self.providers else "?"

    @property
    def device(self) -> str:
        """``"CPU"`` / ``"CUDA"``: the device the first session provider runs on."""
        return self.provider_label

    @property
    def precision(self) -> str:
        """The file's own precision (``fp32``, ``int8``, ``fp16``): ONNX Runtime runs it as exported."""
        return _file_precision(self.entry)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (float32, shape [N, classes]) for a preprocessed batch; loops for fixed-batch graphs."""
        return run_batches(self.entry, batch, self._run_once)

    def _run_once(self, x: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run([self.entry.output_name], {self.entry.input_name: x})
        return np.asarray(logits, dtype=np.float32).reshape(x.shape[0], -1)


def _file_precision(entry: ModelEntry) -> str:
    if entry.card is not None and entry.card.precision:
        return str(entry.card.precision)
    return "fp16" if "16" in entry.input_dtype else "fp32"


def run_batches(entry: ModelEntry, batch: np.ndarray, run_once: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``run_once`` over ``batch`` in the shapes the file takes: as is, in fixed-size chunks, or image by image."""
    x = np.ascontiguousarray(batch, dtype=entry.input_dtype)
    if entry.batch is None or x.shape[0] == entry.batch:
        return run_once(x)
    if entry.batch != 1:
        return np.concatenate([run_once(chunk) for chunk in fixed_chunks(x, entry.batch)])[: x.shape[0]]
    return np.concatenate([run_once(x[i : i + 1]) for i in range(x.shape[0])])


def fixed_chunks(x: np.ndarray, size: int) -> list[np.ndarray]:
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


def run_golden(model: EngineModel) -> GoldenResult:
    """Feed the golden input and compare with the top-5 and logits stored in the file."""
    card = model.entry.card
    if card is None or card.golden is None:
        return GoldenResult(passed=True, message="no golden self-test in the file")
    golden = card.golden
    try:
        logits = model.run(golden_input(golden.shape, golden.layout))[0].astype(np.float64)
    except ORT_ERRORS as exc:
        return GoldenResult(False, f"golden self-test could not run: {' '.join(str(exc).split())}")
    tolerance = golden.tolerance * golden.logit_range
    return compare_golden(logits, golden.top5, golden.top5_logits, tolerance, model.entry.labels)


def compare_golden(
    logits: np.ndarray,
    top5: tuple[int, ...],
    top5_logits: tuple[float, ...],
    tolerance: float,
    labels: Sequence[str] = (),
) -> GoldenResult:
    """Pass when the expected top-5 logits match within ``tolerance`` and no other class beats them.

    Near-ties inside the tolerance may swap places without failing the test. The message names the
    classes by ``labels`` (``tabby, tiger cat, ...``) when given, else by index.
    """
    if not top5 or max(top5) >= logits.shape[0]:
        return GoldenResult(False, f"golden self-test FAILED: expected classes {list(top5)} of {logits.shape[0]}")
    named = functools.partial(_class_names, labels=labels)
    expected = np.asarray(top5_logits, dtype=np.float64)
    difference = float(np.max(np.abs(logits[list(top5)] - expected)))
    others = np.delete(logits, list(top5))
    intruder = bool(others.size) and float(others.max()) > float(expected.min()) + tolerance
    actual_top5 = [int(i) for i in np.argsort(-logits, kind="stable")[: len(top5)]]
    if difference > tolerance:
        return GoldenResult(
            False,
            f"golden self-test FAILED: top-5 {named(actual_top5)} (expected {named(top5)}), "
            f"max logit difference {difference:.3g} > tolerance {tolerance:.3g}",
        )
    if intruder:
        return GoldenResult(False, f"golden self-test FAILED: top-5 {named(actual_top5)} (expected {named(top5)})")
    return GoldenResult(
        True, f"golden self-test passed: top-5 {named(actual_top5)}, max logit difference {difference:.2g}"
    )


def _class_names(indices: Sequence[int], labels: Sequence[str]) -> str:
    """``tabby, tiger cat, Egyptian cat`` when every index has a label, else ``[281, 282, 285]``."""
    if labels and all(0 <= i < len(labels) for i in indices):
        return ", ".join(printable(" ".join(str(labels[i]).split())) for i in indices)
    return str([int(i) for i in indices])


def parse_engine_choice(engine: str, device: str, precision: str) -> tuple[str, str, str]:
    """``(engine, device, precision)`` lower-cased and checked against :data:`ENGINES`, :data:`DEVICES` and
    :data:`PRECISION_HINTS` and against each other (ONNX Runtime has no GPU/NPU device nor bf16 hint; OpenVINO
    has no CUDA).

    Raises:
        ValueError: an unknown choice, or a combination no engine offers (the message says which).
    """
    engine, device, precision = (str(v).strip().lower() for v in (engine, device, precision))
    for value, choices, what in (
        (engine, ENGINES, "engine"),
        (device, DEVICES, "device"),
        (precision, PRECISION_HINTS, "precision hint"),
    ):
        if value not in choices:
            raise ValueError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
    if engine == "onnxruntime" and (device in ("gpu", "npu") or precision == "bf16"):
        asked = f"device {device}" if device in ("gpu", "npu") else "precision hint bf16"
        raise ValueError(f"ONNX Runtime offers no {asked} here (OpenVINO does: --engine openvino)")
    if device == "cuda" and (engine == "openvino" or precision == "bf16"):
        raise ValueError("CUDA runs on ONNX Runtime only, as exported (no --engine openvino, no bf16 hint)")
    return engine, device, precision


def has_amx() -> bool:
    """Whether this CPU has AMX (``amx_int8`` or ``amx_bf16``): where OpenVINO is the faster CPU engine."""
    return any(feature in cpu_info()[1] for feature in AMX_FEATURES)


def open_model(
    entry: ModelEntry, *, engine: str = "auto", device: str = "auto", precision: str = "as-exported"
) -> LoadedModel | OpenVinoModel:
    """Open ``entry`` on an engine and device and run its golden self-test.

    ``engine="auto"``: CUDA (ONNX Runtime) when it starts and ``device`` allows it; else OpenVINO when this CPU
    has AMX and OpenVINO is installed (or ``device`` is gpu/npu, or bf16 is asked for); else ONNX Runtime on the
    CPU. ``engine="openvino"`` that cannot open the file runs on ONNX Runtime's CPU instead, ``fallback_reason``
    saying why; a refused bf16 request is an error. What ran is in the model's ``engine``, ``device`` and
    ``precision``.

    Raises:
        ModelLoadError: the entry is unusable, or the engine refused it (one line naming the file).
        Bf16UnavailableError: bf16 asked for where the CPU does not compute it natively, or without OpenVINO.
        ValueError: an unknown or impossible choice (:func:`parse_engine_choice`).
    """
    engine, device, precision = parse_engine_choice(engine, device, precision)
    if engine == "onnxruntime" or device == "cuda":
        return load_model(entry, "auto" if device == "auto" else device)
    if engine == "auto" and device == "auto" and precision == "as-exported" and cuda_start_failure() is None:
        return load_model(entry, "auto")
    note = cuda_start_failure() if engine == "auto" and device == "auto" and cuda_listed() else None
    wants_openvino = engine == "openvino" or device in ("gpu", "npu") or precision == "bf16"
    from desktop_app.core import openvino_engine as ov  # it imports this module

    if not wants_openvino and not has_amx():
        return _with_note(load_model(entry, "cpu"), note)
    if not ov.openvino_available():
        why = "OpenVINO is not installed (pip install openvino)"
        if precision == "bf16":
            raise ov.Bf16UnavailableError(f"{entry.path.name}: bf16 refused: it runs on OpenVINO, and {why}")
        if wants_openvino:
            return _with_note(load_model(entry, "cpu"), f"{why}; running on ONNX Runtime CPU")
        return _with_note(load_model(entry, "cpu"), note)
    try:
        return ov.load_openvino(entry, "CPU" if device in ("auto", "cpu") else device.upper(), precision=precision)
    except ov.Bf16UnavailableError:
        raise
    except ov.OpenVinoLoadError as exc:
        if entry.error is not None:
            raise
        return _with_note(load_model(entry, "cpu"), f"{one_line(str(exc))}; running on ONNX Runtime CPU")


def _with_note(model: LoadedModel, note: str | None) -> LoadedModel:
    return model if note is None or model.fallback_reason else replace(model, fallback_reason=note)


def with_entry(model: EngineModel, entry: ModelEntry) -> EngineModel:
    """The same open session described by ``entry`` (its preprocessing or labels overridden, the same file).

    Raises:
        ValueError: ``entry`` describes another file.
    """
    if entry.path != model.entry.path:
        raise ValueError(f"{entry.path.name}: not the file of the open model ({model.entry.path.name})")
    if entry == model.entry:
        return model
    if not is_dataclass(model) or isinstance(model, type):
        raise ValueError(f"{type(model).__name__}: cannot take another description")
    return cast(EngineModel, replace(model, entry=entry))


def ran_text(model: EngineModel) -> str:
    """What ran, in words: ``ONNX Runtime CPU, int8`` / ``OpenVINO CPU, bf16`` / ``OpenVINO CPU, int8/fp32``
    (OpenVINO's precision is its compute precision for float layers; an int8 file's int8 layers run in int8
    whatever it is, so that file reads int8 and then the float layers' precision)."""
    name = "OpenVINO" if model.engine == "openvino" else "ONNX Runtime"
    layers: tuple[str, ...] = getattr(model, "runtime_precisions", ())
    if model.engine == "openvino" and "int8" in layers and model.precision != "int8":
        return f"{name} {model.device}, int8/{model.precision}"
    return f"{name} {model.device}, {model.precision}"


def int8_cpu_note(model: EngineModel) -> str | None:
    """One line when ``model`` runs int8 layers on a CPU whose int8 sums saturate (AVX2 without VNNI or AMX),
    else ``None``: the file then answers less accurately than it does on CPUs with them, on either engine."""
    if model.device.split(",")[0].strip().upper() != "CPU" or "int8" not in ran_text(model):
        return None
    name, features = cpu_info()
    if not int8_saturates(features):
        return None
    return (
        f"int8 is less accurate on this CPU ({name}: AVX2, no VNNI or AMX): both engines' int8 kernels "
        "saturate sums of int8 products here (EfficientNet-Lite0: 94.3% instead of 98.6% top-1 agreement with fp32 "
        "on 70 photos); the fp32 file is not affected"
    )


#: (file, mtime ns, size, engine, device, precision); ONNX Runtime's provider choices are engine "onnxruntime".
CacheKey = tuple[str, int, int, str, str, str]


class SessionCache:
    """Thread-safe cache of open models per (file, mtime, size, engine, device, precision choice).

    Concurrent requests for the same key load once (the others wait for it); different keys load in
    parallel. A changed file (new mtime or size) gets a fresh session and the stale one is dropped.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[CacheKey, LoadedModel | OpenVinoModel] = {}
        self._loading: dict[CacheKey, threading.Lock] = {}

    @overload
    def get(self, entry: ModelEntry, provider: str) -> LoadedModel: ...
    @overload
    def get(
        self,
        entry: ModelEntry,
        provider: None = None,
        *,
        engine: str = "auto",
        device: str = "auto",
        precision: str = "as-exported",
    ) -> LoadedModel | OpenVinoModel: ...

    def get(
        self,
        entry: ModelEntry,
        provider: str | None = None,
        *,
        engine: str = "auto",
        device: str = "auto",
        precision: str = "as-exported",
    ) -> LoadedModel | OpenVinoModel:
        """The cached model for ``entry``, loading it on first use with :func:`open_model`.

        ``provider`` (``auto`` / ``cuda`` / ``cpu``, the older form) means ONNX Runtime on that provider;
        without it ``engine``, ``device`` and ``precision`` choose.

        Raises:
            ModelLoadError: the file vanished, is unusable, or the engine refused it.
            ValueError: an unknown or impossible choice.
        """
        if provider is not None:
            engine, device, precision = "onnxruntime", parse_provider(provider), "as-exported"
        return self._get(entry, parse_engine_choice(engine, device, precision))

    def _get(self, entry: ModelEntry, choice: tuple[str, str, str]) -> LoadedModel | OpenVinoModel:
        key = self._key(entry, choice)
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
            model = open_model(entry, engine=choice[0], device=choice[1], precision=choice[2])
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
    def _key(entry: ModelEntry, choice: tuple[str, str, str]) -> CacheKey:
        try:
            stat = entry.path.stat()
        except OSError as exc:
            raise ModelLoadError(f"{entry.path.name}: cannot read file ({exc.strerror or exc})") from exc
        return (str(entry.path.resolve()), stat.st_mtime_ns, stat.st_size, *choice)
