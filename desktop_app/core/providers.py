"""Execution-provider choice (auto / cuda / cpu) and session creation that reports what really runs.

onnxruntime-gpu silently falls back to the CPU when the CUDA provider cannot start (missing
libcudnn / libcublas, no GPU, ...). :func:`create_session` asks for the provider, then reads
``session.get_providers()`` to learn what actually runs and, when CUDA did not start, captures the
reason ONNX Runtime logged to stderr (file descriptor 2) during session creation.

Example::

    python -c "from desktop_app.core.providers import create_session; \\
s = create_session('model.onnx', 'cuda'); print(s.providers, s.fallback_reason)"
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import onnxruntime as ort
from onnx import TensorProto, helper
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from workbench.cpu import cpu_info
from workbench.paths import optimized_cache_dir

Provider = Literal["auto", "cuda", "cpu"]
PROVIDER_CHOICES: tuple[str, ...] = ("auto", "cuda", "cpu")
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
CACHE_MAX_ENTRIES = 24
CACHE_MODEL = "model.onnx"  # an entry is a folder: the optimised graph ...
CACHE_DATA = "model.data"  # ... and its weights as external data, which ORT memory-maps instead of copying
_STAGING_MAX_AGE_S = 3600.0  # a staging folder this old belongs to a process that died while saving

#: Exceptions ONNX Runtime raises while loading or running a model (pybind classes derive from Exception).
_ORT_ERROR_NAMES = (
    "Fail",
    "InvalidArgument",
    "NoSuchFile",
    "NoModel",
    "EngineError",
    "RuntimeException",
    "InvalidProtobuf",
    "ModelLoaded",
    "NotImplemented",
    "InvalidGraph",
    "EPFail",
)
ORT_ERRORS: tuple[type[BaseException], ...] = (
    *(cls for name in _ORT_ERROR_NAMES if isinstance(cls := getattr(_ort_state, name, None), type)),
    RuntimeError,
    ValueError,
    OSError,
)

_GENERIC_REASON = f"{CUDA_EP} did not start and ONNX Runtime gave no reason (is a CUDA GPU present?)"
_LOG_LINE = re.compile(r"\[([EW]):onnxruntime:[^\]]*\]\s*(.*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FD2_LOCK = threading.Lock()

T = TypeVar("T")


class ModelLoadError(RuntimeError):
    """ONNX Runtime could not open a model; ``str(err)`` is one line naming the file."""


@dataclass(frozen=True)
class StartedSession:
    """A created session plus what was asked for and what actually runs."""

    session: ort.InferenceSession
    requested: str
    providers: tuple[str, ...]
    fallback_reason: str | None
    optimized_cache: str | None = None  # "reused", "saved" or None (not cached)

    @property
    def provider_label(self) -> str:
        """Short name of the provider that runs the model, e.g. ``"CPU"`` or ``"CUDA"``."""
        return short_provider_name(self.providers[0]) if self.providers else "?"


def parse_provider(value: str) -> Provider:
    """Validate a provider choice (case-insensitive); ValueError lists the valid ones."""
    lowered = str(value).strip().lower()
    if lowered not in PROVIDER_CHOICES:
        raise ValueError(f"unknown provider {value!r}; choose one of {', '.join(PROVIDER_CHOICES)}")
    return lowered  # type: ignore[return-value]


def short_provider_name(ep: str) -> str:
    """``CUDAExecutionProvider`` -> ``CUDA``."""
    return ep.removesuffix("ExecutionProvider") or ep


def cuda_listed() -> bool:
    """Whether this onnxruntime build lists the CUDA provider (it may still fail to start)."""
    return CUDA_EP in ort.get_available_providers()


def requested_providers(provider: str) -> list[str]:
    """The ORT provider list for a choice: auto = CUDA when the build has it, else CPU."""
    choice = parse_provider(provider)
    if choice == "cpu" or (choice == "auto" and not cuda_listed()):
        return [CPU_EP]
    return [CUDA_EP, CPU_EP]


def default_session_options() -> ort.SessionOptions:
    """Graph optimisation ALL, default thread counts."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def create_session(
    path: str | os.PathLike[str], provider: str = "auto", options: ort.SessionOptions | None = None
) -> StartedSession:
    """Open ``path`` with the chosen provider and report what actually runs.

    Whether the CUDA provider can start at all is learnt once per process
    (:func:`cuda_start_failure`); when it cannot, CUDA requests open on the CPU with that reason.
    On the CPU with the default options, the graph ONNX Runtime optimised is saved in the
    optimized-model cache (:func:`optimized_cache_dir`) and reused next time, so opening a file
    again skips the optimisation passes; a changed file (mtime or size) gets a new entry. The
    entry keeps the weights as external data, which ONNX Runtime maps into memory instead of
    parsing and copying them (ResNet-50: session creation ~190 ms -> ~20 ms).

    Raises:
        ValueError: unknown provider choice.
        ModelLoadError: ONNX Runtime refused the model (message names the file).
    """
    wanted = requested_providers(provider)
    cuda_failure = cuda_start_failure() if CUDA_EP in wanted else None
    if cuda_failure is not None:
        wanted = [CPU_EP]  # the provider cannot start on this machine: go straight to the CPU
    cache = optimized_cache_path(path) if options is None and wanted == [CPU_EP] else None
    session = _open_cached(cache) if cache is not None else None
    status: str | None = "reused"
    log = ""
    if session is None:
        try:
            session, log, status = _open_file(os.fspath(path), options or default_session_options(), wanted, cache)
        except ModelLoadError:
            if cache is None:
                raise
            # Saving the optimised graph can be what failed (a full disk): the cache must not cost the
            # load, so the file is opened once more without it; a bad file fails again, with its reason.
            session, log, status = _open_file(os.fspath(path), default_session_options(), wanted, None)
    actual = tuple(session.get_providers())
    reason = cuda_failure
    if CUDA_EP in wanted and CUDA_EP not in actual:
        reason = fallback_reason_from_log(log)
    return StartedSession(
        session=session,
        requested=parse_provider(provider),
        providers=actual,
        fallback_reason=reason,
        optimized_cache=status,
    )


@functools.cache
def cuda_start_failure() -> str | None:
    """Why the CUDA provider cannot start in this process, or None when it starts.

    Missing CUDA libraries (the usual reason onnxruntime-gpu falls back to the CPU) are a fact about
    the machine, not the model, so a one-node model is opened once with the CUDA provider and the
    answer kept: later requests skip the failing attempt (~200 ms for ResNet-50 here) and can use
    the CPU's optimized-model cache. A model that fails on a working GPU is still detected per session.
    """
    if not cuda_listed():
        return f"this onnxruntime build has no {CUDA_EP} (onnxruntime-gpu has it)"
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "cuda_probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    options = ort.SessionOptions()
    options.log_severity_level = 2  # warnings carry the reason
    session, log = capture_fd2(
        lambda: ort.InferenceSession(probe.SerializeToString(), options, providers=[CUDA_EP, CPU_EP])
    )
    return None if CUDA_EP in session.get_providers() else fallback_reason_from_log(log)


def optimized_cache_path(path: str | os.PathLike[str]) -> Path | None:
    """The cache entry for ``path`` as it is now (None when caching is off or the file is unreadable).

    The entry's folder name hashes the absolute path, the file's mtime and size, the ONNX Runtime
    version and the CPU (saved graphs can hold CPU-specific kernels), so any change misses the old
    entry.
    """
    folder = optimized_cache_dir()
    if folder is None:
        return None
    file = Path(path).absolute()
    try:
        stat = file.stat()
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # unreadable model (ORT reports it) or unwritable cache: open without caching
    where = hashlib.sha256(str(file).encode()).hexdigest()[:12]
    version = f"{stat.st_mtime_ns}|{stat.st_size}|{ort.__version__}|{platform.machine()}|{_cpu_key()}"
    return folder / f"{file.stem}.{where}.{hashlib.sha256(version.encode()).hexdigest()[:12]}" / CACHE_MODEL


def _open_cached(cache: Path) -> ort.InferenceSession | None:
    """The session from a cache entry; None when there is none or it is damaged (then it is dropped)."""
    if not cache.is_file():
        return None
    options = default_session_options()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(os.fspath(cache), options, providers=[CPU_EP])
    except ORT_ERRORS:
        _remove_entry(cache.parent)  # truncated or edited entry: the caller optimises the file again
        return None
    _touch(cache.parent)
    return session


def _open_file(
    name: str, options: ort.SessionOptions, wanted: list[str], cache: Path | None
) -> tuple[ort.InferenceSession, str, str | None]:
    """(session, what ORT logged, cache status) for the model file itself, saving its optimised graph to ``cache``."""
    if cache is not None:
        try:
            _save_optimized_graph(options, _staging(cache))
        except OSError:
            cache = None  # the cache folder cannot be written (full or read-only disk): open without it
    try:
        if CUDA_EP in wanted:
            options.log_severity_level = min(options.log_severity_level, 2)  # warnings carry the reason
            session, log = capture_fd2(lambda: ort.InferenceSession(name, options, providers=wanted))
        else:
            session, log = ort.InferenceSession(name, options, providers=wanted), ""
    except ORT_ERRORS as exc:
        if cache is not None:
            shutil.rmtree(_staging(cache), ignore_errors=True)
        raise ModelLoadError(f"{Path(name).name}: ONNX Runtime cannot open the model ({one_line(str(exc))})") from exc
    return session, log, _commit(cache) if cache is not None else None


def _staging(cache: Path) -> Path:
    """The private folder one session writes its entry into before it is moved into place."""
    entry = cache.parent
    return entry.with_name(entry.name + f".{os.getpid()}.{threading.get_ident()}.part")


def _save_optimized_graph(options: ort.SessionOptions, staging: Path) -> None:
    """Make the session save its optimised graph (weights as external data) into ``staging``."""
    staging.mkdir(parents=True, exist_ok=True)
    options.optimized_model_filepath = os.fspath(staging / CACHE_MODEL)
    options.add_session_config_entry("session.optimized_model_external_initializers_file_name", CACHE_DATA)
    options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "1024")
    options.log_severity_level = max(options.log_severity_level, 3)  # "hardware specific" warning: known


def _touch(entry: Path) -> None:
    """Mark an entry as used (pruning drops the least recently used); a read-only cache just ages."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def _commit(cache: Path) -> str | None:
    """Move the freshly written entry into place, drop older entries of the same file, prune the cache.

    The folder is renamed in one step, so a reader sees a whole entry or none; if another process
    saved the same entry first, this copy is discarded.
    """
    staging, entry = _staging(cache), cache.parent
    if not (staging / CACHE_MODEL).is_file():
        shutil.rmtree(staging, ignore_errors=True)
        return None
    same_file = glob.escape(entry.name.rsplit(".", 1)[0])  # "<stem>.<path hash>", any version
    for stale in entry.parent.glob(f"{same_file}.*"):
        if stale != entry and not stale.name.endswith(".part"):
            _remove_entry(stale)
    try:
        os.rename(staging, entry)
    except OSError:  # another process saved the same entry first
        shutil.rmtree(staging, ignore_errors=True)
        return "saved" if cache.is_file() else None
    _prune(entry.parent)
    return "saved"


def _prune(folder: Path) -> None:
    """Keep the CACHE_MAX_ENTRIES most recently used entries; drop dead staging folders."""
    now = time.time()
    entries: list[tuple[float, Path]] = []
    for item in folder.iterdir():
        try:
            mtime = item.stat().st_mtime
        except OSError:
            continue  # removed meanwhile by another process
        if item.name.endswith(".part"):
            if item.is_dir() and now - mtime > _STAGING_MAX_AGE_S:
                shutil.rmtree(item, ignore_errors=True)
        elif (item / CACHE_MODEL).is_file():
            entries.append((mtime, item))
        elif item.suffix == ".onnx" and item.is_file():
            item.unlink(missing_ok=True)  # single-file entry of an earlier version
    entries.sort(reverse=True)
    for _, old in entries[CACHE_MAX_ENTRIES:]:
        _remove_entry(old)


def _remove_entry(item: Path) -> None:
    if item.is_dir():
        shutil.rmtree(item, ignore_errors=True)  # Windows: a folder in use by another process stays
    else:
        item.unlink(missing_ok=True)


def _cpu_key() -> str:
    name, features = cpu_info()
    return f"{name}|{','.join(features)}"


def capture_fd2(func: Callable[[], T]) -> tuple[T, str]:
    """Run ``func`` with file descriptor 2 redirected to a temp file; return its result and the text.

    Native libraries (ONNX Runtime's logger) write straight to fd 2, bypassing ``sys.stderr``.
    A process-wide lock serialises captures; anything other threads write meanwhile is captured too.
    """
    with _FD2_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            try:
                result = func()
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode("utf-8", errors="replace")
    return result, text


def fallback_reason_from_log(log: str) -> str:
    """One line from what ORT logged when CUDA did not start (generic text when it logged nothing)."""
    messages: list[str] = []
    for raw in _ANSI.sub("", log).splitlines():
        match = _LOG_LINE.search(raw)
        if not match:
            continue
        message = match.group(2)
        if "FAIL : " in message:
            message = message.split("FAIL : ", 1)[1]
        message = re.sub(r"(/[^\s/]+)+/(lib[\w.+-]+\.so[\w.]*)", r"\2", message)  # shorten library paths
        message = message.split(" Please install", 1)[0].strip()
        if message and message not in messages:
            messages.append(message)
    return one_line(" — ".join(messages)) if messages else _GENERIC_REASON


def one_line(text: str) -> str:
    """Collapse whitespace (including newlines) into single spaces."""
    return " ".join(str(text).split())
