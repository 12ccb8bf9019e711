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

import os
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

    Raises:
        ValueError: unknown provider choice.
        ModelLoadError: ONNX Runtime refused the model (message names the file).
    """
    wanted = requested_providers(provider)
    options = options or default_session_options()
    name = os.fspath(path)
    try:
        if CUDA_EP in wanted:
            options.log_severity_level = min(options.log_severity_level, 2)  # warnings carry the reason
            session, log = capture_fd2(lambda: ort.InferenceSession(name, options, providers=wanted))
        else:
            session, log = ort.InferenceSession(name, options, providers=wanted), ""
    except ORT_ERRORS as exc:
        raise ModelLoadError(f"{Path(name).name}: ONNX Runtime cannot open the model ({one_line(str(exc))})") from exc
    actual = tuple(session.get_providers())
    reason = None
    if CUDA_EP in wanted and CUDA_EP not in actual:
        reason = fallback_reason_from_log(log)
    return StartedSession(session=session, requested=parse_provider(provider), providers=actual, fallback_reason=reason)


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
