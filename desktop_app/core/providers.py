"""Execution-provider choice (auto / cuda / cpu) and session creation that reports what really runs.

onnxruntime-gpu silently falls back to the CPU when the CUDA provider cannot start (missing
libcudnn / libcublas, no GPU, ...). :func:`create_session` asks for the provider, then reads
``session.get_providers()`` to learn what actually runs and, when CUDA did not start, captures the
reason ONNX Runtime logged to stderr (file descriptor 2) during session creation. Before the first CUDA
session, :func:`onnxruntime.preload_dlls` loads the CUDA and cuDNN libraries that
``pip install "cnn-workbench[cuda]"`` brings; when CUDA still does not start, the reason ends with the
remedy (:func:`cuda_remedy`: that pip command, or the NVIDIA driver that is missing). On a machine with
no NVIDIA GPU at all (:func:`nvidia_present`), Auto does not try CUDA and says so in one quiet line
(:data:`NO_NVIDIA_GPU`).

Example::

    python -c "from desktop_app.core.providers import create_session; \\
s = create_session('model.onnx', 'cuda'); print(s.providers, s.fallback_reason)"
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import hashlib
import io
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
#: The one quiet line Auto gives on a machine without an NVIDIA GPU (it does not try CUDA there).
NO_NVIDIA_GPU = "no NVIDIA GPU: using the CPU"
CUDA_EXTRA_COMMAND = 'pip install "cnn-workbench[cuda]"'
NO_DRIVER_REMEDY = "no NVIDIA driver found: install the NVIDIA driver"
LIBRARY_REMEDY = f"install ONNX Runtime's CUDA and cuDNN libraries: {CUDA_EXTRA_COMMAND}"
NO_CUDA_BUILD_REMEDY = (
    'replace onnxruntime by onnxruntime-gpu: pip uninstall onnxruntime; pip install "cnn-workbench[cuda]"'
)
#: Device nodes and driver files that show an NVIDIA GPU (Linux; WSL2 and Windows have the driver library only).
NVIDIA_DEVICE_FILES: tuple[str, ...] = ("/dev/nvidia0", "/dev/nvidiactl", "/dev/dxg")
NVIDIA_DRIVER_FILE = "/proc/driver/nvidia/version"
_DRIVER_LIBRARIES = ("nvcuda.dll",) if sys.platform == "win32" else ("libcuda.so.1", "libcuda.so")
_CUDA_LIBRARY = re.compile(
    r"(lib)?(cublas|cublasLt|cudnn|cudart|cufft|curand|nvrtc|nvJitLink)\w*[\w.]*\.(so|dll)", re.I
)
_MISSING = re.compile(r"cannot open shared object|No such file|error 126|LoadLibrary|Failed to load|not found", re.I)
_DRIVER_PROBLEM = re.compile(
    r"libcuda\.so|nvcuda\.dll|CUDA driver version is insufficient|no CUDA-capable device|cudaErrorNoDevice|"
    r"cudaErrorInsufficientDriver|cudaGetDeviceCount|found no NVIDIA driver",
    re.I,
)
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
    """The ORT provider list for a choice: auto = CUDA when the build has it and an NVIDIA GPU is present, else CPU."""
    choice = parse_provider(provider)
    if choice == "cpu" or (choice == "auto" and not (cuda_listed() and nvidia_present())):
        return [CPU_EP]
    return [CUDA_EP, CPU_EP]


def auto_skip_reason(provider: str) -> str | None:
    """:data:`NO_NVIDIA_GPU` when ``provider`` is auto and Auto skips CUDA for want of an NVIDIA GPU, else None."""
    if parse_provider(provider) == "auto" and cuda_listed() and not nvidia_present():
        return NO_NVIDIA_GPU
    return None


def nvidia_driver_present() -> bool:
    """Whether the NVIDIA driver is here: its /proc file (Linux) or its CUDA driver library loads (libcuda / nvcuda)."""
    if os.path.exists(NVIDIA_DRIVER_FILE):
        return True
    for name in _DRIVER_LIBRARIES:  # by name: the loader's own search (ctypes.util.find_library runs ldconfig)
        try:
            ctypes.CDLL(name)
        except OSError:
            continue  # not this name: try the next; no name loads -> no driver
        return True
    return False


def nvidia_present() -> bool:
    """Whether this machine has an NVIDIA GPU: a device node (/dev/nvidia0, WSL2's /dev/dxg) or the NVIDIA driver."""
    return any(os.path.exists(path) for path in NVIDIA_DEVICE_FILES) or nvidia_driver_present()


def cuda_remedy(error_text: str, *, driver_found: bool = True) -> str:
    """The fix for a CUDA start failure, from ONNX Runtime's error text: the pip command or the missing driver.

    A missing CUDA/cuDNN library (libcublasLt.so.13, libcudnn.so.9, cudart, ...) -> the ``cuda`` extra;
    libcuda / "no CUDA-capable device" / ``driver_found=False`` -> the NVIDIA driver (then the extra, when a
    library is missing too); a build without the CUDA provider -> onnxruntime-gpu; anything else -> both checks.
    """
    library_missing = bool(_CUDA_LIBRARY.search(error_text) and _MISSING.search(error_text))
    if not driver_found or _DRIVER_PROBLEM.search(error_text):
        return NO_DRIVER_REMEDY + (f", then {CUDA_EXTRA_COMMAND}" if library_missing else "")
    if library_missing:
        return LIBRARY_REMEDY
    if f"no {CUDA_EP}" in error_text:
        return NO_CUDA_BUILD_REMEDY
    return f"check the NVIDIA driver (nvidia-smi) and the CUDA libraries: {CUDA_EXTRA_COMMAND}"


def with_remedy(reason: str, *, driver_found: bool = True) -> str:
    """``reason`` followed by its remedy (:func:`cuda_remedy`), one line."""
    return one_line(f"{reason} — remedy: {cuda_remedy(reason, driver_found=driver_found)}")


@functools.cache
def preload_cuda_libraries() -> str:
    """Load the pip-installed CUDA/cuDNN libraries once per process (``onnxruntime.preload_dlls``); what it said.

    ``preload_dlls`` prints what it could not load to stdout; that text is returned (and kept out of a
    command's output). Empty when this onnxruntime has no ``preload_dlls``.
    """
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return ""
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        try:
            _, native = capture_fd2(preload)
        except (RuntimeError, OSError) as exc:  # a bad directory or a library that crashes on load
            return one_line(f"preload_dlls failed: {exc}")
    return one_line(_ANSI.sub("", said.getvalue() + native))


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
    cuda_failure = cuda_request_failure() if CUDA_EP in wanted else auto_skip_reason(provider)
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
        reason = with_remedy(fallback_reason_from_log(log), driver_found=nvidia_driver_present())
    return StartedSession(
        session=session,
        requested=parse_provider(provider),
        providers=actual,
        fallback_reason=reason,
        optimized_cache=status,
    )


def cuda_start_failure() -> str | None:
    """Why Auto cannot use CUDA: :data:`NO_NVIDIA_GPU` on a machine without one, else :func:`cuda_request_failure`."""
    if cuda_listed() and not nvidia_present():
        return NO_NVIDIA_GPU
    return cuda_request_failure()


@functools.cache
def cuda_request_failure() -> str | None:
    """Why the CUDA provider cannot start in this process (with the remedy), or None when it starts.

    Missing CUDA libraries (the usual reason onnxruntime-gpu falls back to the CPU) are a fact about
    the machine, not the model, so a one-node model is opened once with the CUDA provider and the
    answer kept: later requests skip the failing attempt (~200 ms for ResNet-50 here) and can use
    the CPU's optimized-model cache. A model that fails on a working GPU is still detected per session.
    The pip-installed CUDA libraries are preloaded first; the reason ends with its remedy (:func:`with_remedy`).
    """
    if not cuda_listed():
        return with_remedy(f"this onnxruntime build has no {CUDA_EP} (onnxruntime-gpu has it)")
    preloaded = preload_cuda_libraries()
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
    if CUDA_EP in session.get_providers():
        return None
    reason = fallback_reason_from_log(log)
    if reason == _GENERIC_REASON and preloaded:
        reason = preloaded  # ORT said nothing; preload_dlls named the libraries it could not load
    return with_remedy(reason, driver_found=nvidia_driver_present())


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
            preload_cuda_libraries()
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
