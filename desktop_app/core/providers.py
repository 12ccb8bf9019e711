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

import hashlib
import os
import platform
import re
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

Provider = Literal["auto", "cuda", "cpu"]
PROVIDER_CHOICES: tuple[str, ...] = ("auto", "cuda", "cpu")
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"
CACHE_ENV_VAR = "CNN_WORKBENCH_CACHE"
CACHE_MAX_ENTRIES = 24

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

    On the CPU with the default options, the graph ONNX Runtime optimised is saved in the
    optimized-model cache (:func:`optimized_cache_dir`) and reused next time, so opening a file
    again skips the optimisation passes; a changed file (mtime or size) gets a new entry.

    Raises:
        ValueError: unknown provider choice.
        ModelLoadError: ONNX Runtime refused the model (message names the file).
    """
    wanted = requested_providers(provider)
    name = os.fspath(path)
    cache = optimized_cache_path(name) if options is None and wanted == [CPU_EP] else None
    options = options or default_session_options()
    status: str | None = None
    if cache is not None and cache.is_file():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        name, status = os.fspath(cache), "reused"
    elif cache is not None:
        options.optimized_model_filepath = os.fspath(_partial(cache))
        options.log_severity_level = max(options.log_severity_level, 3)  # "hardware specific" warning: known
        status = "saved"
    try:
        if CUDA_EP in wanted:
            options.log_severity_level = min(options.log_severity_level, 2)  # warnings carry the reason
            session, log = capture_fd2(lambda: ort.InferenceSession(name, options, providers=wanted))
        else:
            session, log = ort.InferenceSession(name, options, providers=wanted), ""
    except ORT_ERRORS as exc:
        raise ModelLoadError(f"{Path(name).name}: ONNX Runtime cannot open the model ({one_line(str(exc))})") from exc
    if status == "saved" and cache is not None:
        status = _commit(cache)
    actual = tuple(session.get_providers())
    reason = None
    if CUDA_EP in wanted and CUDA_EP not in actual:
        reason = fallback_reason_from_log(log)
    return StartedSession(
        session=session,
        requested=parse_provider(provider),
        providers=actual,
        fallback_reason=reason,
        optimized_cache=status,
    )


def optimized_cache_dir() -> Path | None:
    """Where optimised graphs are kept: ``$CNN_WORKBENCH_CACHE`` (``off`` disables), else the per-user cache."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env is not None and env.strip().lower() in ("", "0", "off", "no", "false"):
        return None
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cnn-workbench" / "optimized"


def optimized_cache_path(path: str | os.PathLike[str]) -> Path | None:
    """The cache entry for ``path`` as it is now (None when caching is off or the file is unreadable).

    The name hashes the absolute path, the file's mtime and size, the ONNX Runtime version and the
    CPU (saved graphs can hold CPU-specific kernels), so any change misses the old entry.
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
    version = f"{stat.st_mtime_ns}|{stat.st_size}|{ort.__version__}|{platform.machine()}|{_cpu_model()}"
    return folder / f"{file.stem}.{where}.{hashlib.sha256(version.encode()).hexdigest()[:12]}.onnx"


def _partial(cache: Path) -> Path:
    return cache.with_name(cache.name + f".{os.getpid()}.{threading.get_ident()}.part")


def _commit(cache: Path) -> str | None:
    """Move the freshly written graph into place and drop older entries of the same file."""
    partial = _partial(cache)
    if not partial.is_file():
        return None
    stem, where = cache.name.split(".")[:2]
    for stale in cache.parent.glob(f"{stem}.{where}.*.onnx"):
        if stale != cache:
            stale.unlink(missing_ok=True)
    os.replace(partial, cache)
    entries = sorted(cache.parent.glob("*.onnx"), key=lambda e: e.stat().st_mtime, reverse=True)
    for old in entries[CACHE_MAX_ENTRIES:]:
        old.unlink(missing_ok=True)
    return "saved"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                return line
    except OSError:
        return platform.processor()
    return platform.processor()


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
