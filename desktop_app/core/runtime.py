"""The model runtime: open a catalogued file with ONNX Runtime, run it, check its golden self-test, cache sessions.

* :func:`load_model` opens a session on the chosen provider (auto / cuda / cpu), records what really
  runs and why CUDA fell back, and runs the file's golden self-test (:func:`run_golden`,
  :func:`compare_golden`).
* :class:`LoadedModel` runs preprocessed batches (looping for fixed-batch graphs).
* :class:`SessionCache` keeps one :class:`LoadedModel` per (file, file version, provider).

Finding and describing the files (:class:`~desktop_app.core.catalog.ModelEntry`) is :mod:`desktop_app.core.catalog`.

Example::

    python -c "from workbench.paths import models_dir; from desktop_app.core.catalog import scan_models; \\
from desktop_app.core.runtime import load_model; e = [m for m in scan_models(models_dir()) if m.usable][0]; \\
m = load_model(e); print(m.providers, m.golden)"
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import onnxruntime as ort

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.providers import ORT_ERRORS, ModelLoadError, create_session, parse_provider, short_provider_name
from workbench.contract import golden_input
from workbench.names import printable

__all__ = [
    "GoldenResult",
    "LoadedModel",
    "ModelLoadError",
    "SessionCache",
    "compare_golden",
    "load_model",
    "run_golden",
]


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
