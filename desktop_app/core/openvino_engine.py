"""The OpenVINO engine: open a catalogued ONNX file with OpenVINO, run it, check its golden self-test, time its layers.

* :func:`openvino_available` / :func:`openvino_devices` say whether OpenVINO is installed and which devices
  it reports (``CPU``, ``GPU``, ``NPU``).
* :func:`load_openvino` reads the file (external data only from inside the model's folder), compiles it on a
  device at a precision (``"as-exported"``: fp32 compute, the file's own int8 layers kept; ``"bf16"``: only
  where the CPU computes bfloat16 natively) and runs the file's golden self-test. :class:`OpenVinoModel` runs
  preprocessed batches like :class:`desktop_app.core.runtime.LoadedModel` and reports what really ran: the
  execution devices and the inference precision read back from the compiled model.
* :func:`profile_openvino` times each layer from OpenVINO's performance counters, named after the PyTorch
  modules through the file's node map, with the kernel that ran it (``brgconv_avx512_1x1_bf16``).

Example::

    python -c "from desktop_app.core.catalog import inspect_model; from desktop_app.core.openvino_engine import \\
load_openvino, profile_openvino; m = load_openvino(inspect_model('model.onnx'), precision='bf16'); \\
print(m.providers, m.precision, m.golden)"
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.providers import ModelLoadError, one_line
from desktop_app.core.runtime import GoldenResult, run_batches, run_golden
from workbench.cpu import cpu_info
from workbench.modelfile import ModelFileError, check_external_data

__all__ = [
    "BF16_GOLDEN_TOLERANCE",
    "PRECISIONS",
    "Bf16UnavailableError",
    "OpenVinoLoadError",
    "OpenVinoModel",
    "bf16_support",
    "load_openvino",
    "openvino_available",
    "openvino_devices",
]

#: Precision choices: the file's own precision (fp32 compute, int8 layers as quantised), or bfloat16 compute.
PRECISIONS = ("as-exported", "bf16")
#: CPU instruction sets that compute bfloat16 natively (as /proc/cpuinfo spells them).
BF16_FEATURES = ("avx512_bf16", "amx_bf16")
#: Golden self-test tolerance (fraction of the file's logit range) for bf16 compute: bfloat16 keeps 8 bits of
#: mantissa, so logits move by ~1% of their range on EfficientNet-Lite0 (0.0766 of 10.4) where fp32 moves by 1e-6.
BF16_GOLDEN_TOLERANCE = 0.03
#: Exceptions OpenVINO raises while reading, compiling or running a model (its C++ errors arrive as RuntimeError).
OV_ERRORS: tuple[type[Exception], ...] = (RuntimeError, ValueError, TypeError, OSError)
_TYPE_NAMES = {"f32": "fp32", "bf16": "bf16", "f16": "fp16", "i8": "int8", "u8": "int8", "i32": "int32"}


class OpenVinoLoadError(ModelLoadError):
    """OpenVINO could not open or compile a model; ``str(err)`` is one line naming the file and the reason."""


class Bf16UnavailableError(OpenVinoLoadError):
    """bf16 was asked for on a device that does not compute bfloat16 natively; the message names it and why."""


def openvino_available() -> bool:
    """Whether the ``openvino`` package can be imported."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def _core() -> Any:
    """One ``openvino.Core`` per process (it is thread-safe; each new one would load its device plugins again)."""
    import openvino as ov

    return ov.Core()


def openvino_devices() -> tuple[str, ...]:
    """The devices OpenVINO reports (``("CPU",)``, ``("CPU", "GPU", "NPU")``); ``()`` when it is not installed."""
    if not openvino_available():
        return ()
    return tuple(str(device) for device in _core().available_devices)


def bf16_support(device: str = "CPU") -> str | None:
    """``None`` when ``device`` computes bfloat16 natively, else one line saying why not."""
    if device.upper() != "CPU":
        return f"bf16 is offered on the CPU only, not on OpenVINO device {device}"
    name, features = cpu_info()
    capabilities = tuple(str(c) for c in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    if "BF16" not in capabilities:
        return f"OpenVINO reports no BF16 capability on this CPU ({name}; it reports {', '.join(capabilities)})"
    if not any(feature in features for feature in BF16_FEATURES):
        return (
            f"this CPU ({name}) has neither avx512_bf16 nor amx_bf16: OpenVINO would emulate bfloat16, slower than fp32"
        )
    return None


@dataclass(frozen=True)
class OpenVinoModel:
    """A model compiled by OpenVINO for one :class:`ModelEntry`, and what actually runs it."""

    entry: ModelEntry
    compiled: Any = field(repr=False)  # openvino.CompiledModel
    model: Any = field(repr=False)  # openvino.Model as read from the file (profiling recompiles it)
    device: str  # the execution device(s) read back from the compiled model, e.g. "CPU"
    precision: str  # the inference precision read back from the compiled model: "fp32" / "bf16" / "fp16"
    requested: str  # "CPU" or "CPU bf16": what was asked for
    runtime_precisions: tuple[str, ...]  # precisions of the compute layers that ran, e.g. ("fp32", "int8")
    threads: int | None = None  # INFERENCE_NUM_THREADS asked for; None: OpenVINO's default
    fallback_reason: str | None = None  # always None: OpenVINO compiles where asked or raises
    golden: GoldenResult | None = None
    engine: str = "openvino"
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _request: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def providers(self) -> tuple[str, ...]:
        """``("OpenVINO CPU",)``: what runs the model, in the same form as ONNX Runtime's providers."""
        return tuple(f"OpenVINO {device.strip()}" for device in self.device.split(","))

    @property
    def provider_label(self) -> str:
        return self.providers[0] if self.providers else "OpenVINO ?"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits (float32, shape [N, classes]) for a preprocessed batch; loops for fixed-batch graphs.

        Raises:
            OpenVinoLoadError: OpenVINO failed to run the batch (one line naming the file).
        """
        return run_batches(self.entry, batch, self._run_once)

    def _run_once(self, x: np.ndarray) -> np.ndarray:
        with self._lock:  # an infer request runs one batch at a time
            request = self._request
            if request is None:
                request = self.compiled.create_infer_request()
                object.__setattr__(self, "_request", request)
            try:
                request.infer({self.entry.input_name: x})
                logits = np.array(request.get_tensor(self.entry.output_name).data, dtype=np.float32)
            except OV_ERRORS as exc:
                raise OpenVinoLoadError(
                    f"{self.entry.path.name}: OpenVINO failed to run: {one_line(str(exc))}"
                ) from exc
        return logits.reshape(x.shape[0], -1)


def _fail(path: Path, why: str) -> OpenVinoLoadError:
    return OpenVinoLoadError(f"{path.name}: OpenVINO cannot open the file: {why}")


def read_ov_model(path: Path) -> Any:
    """The file as an ``openvino.Model``, its external data read only from inside the model's folder.

    Raises:
        OpenVinoLoadError: the file cannot be read, or its external data escapes its folder.
    """
    try:
        check_external_data(onnx.load(str(path), load_external_data=False), path)
    except ModelFileError as exc:
        raise _fail(path, exc.reason) from exc
    except (OSError, ValueError, DecodeError, onnx.checker.ValidationError) as exc:
        raise _fail(path, f"the file cannot be read ({one_line(str(exc))})") from exc
    try:
        return _core().read_model(str(path))
    except OV_ERRORS as exc:
        raise _fail(path, one_line(str(exc))) from exc


def compile_config(precision: str, threads: int | None, *, perf_count: bool = False) -> dict[str, Any]:
    """The compile properties for a precision choice (fp32 is asked for explicitly: some CPUs default to bf16)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        config["INFERENCE_NUM_THREADS"] = threads
    if perf_count:
        config["PERF_COUNT"] = True
    return config


def type_name(value: object) -> str:
    """``"fp32"``, ``"bf16"``, ``"int8"``... for an OpenVINO element type (``<Type: 'bfloat16'>``, ``"f32"``)."""
    text = str(getattr(value, "get_type_name", lambda: value)())
    return _TYPE_NAMES.get(text, text)


def runtime_precisions(compiled: Any) -> tuple[str, ...]:
    """The precisions the compiled model's compute layers run in (from its runtime model), e.g. ``("fp32", "int8")``."""
    found: dict[str, None] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer = info["layerType"].astype(str) if "layerType" in info else ""
        if layer in ("Input", "Output", "Const", "Reorder", "Reshape") or "runtimePrecision" not in info:
            continue
        found[type_name(info["runtimePrecision"].astype(str))] = None
    return tuple(found)


def compile_ov(entry: ModelEntry, model: Any, device: str, config: dict[str, Any]) -> Any:
    """``core.compile_model`` with OpenVINO's errors turned into :class:`OpenVinoLoadError`."""
    try:
        return _core().compile_model(model, device, config)
    except OV_ERRORS as exc:
        raise OpenVinoLoadError(
            f"{entry.path.name}: OpenVINO cannot compile the model for {device}: {one_line(str(exc))}"
        ) from exc


def load_openvino(
    entry: ModelEntry, device: str = "CPU", *, precision: str = "as-exported", threads: int | None = None
) -> OpenVinoModel:
    """Compile ``entry`` with OpenVINO on ``device`` at ``precision`` and run its golden self-test.

    Raises:
        OpenVinoLoadError: OpenVINO is not installed, the entry is unusable, the device is not reported, or
            OpenVINO cannot read or compile the file (one line naming the file and the reason).
        Bf16UnavailableError: ``precision="bf16"`` on a device without native bfloat16 (names it and why).
        ValueError: unknown precision or threads < 1.
    """
    config = compile_config(precision, threads)
    if not openvino_available():
        raise OpenVinoLoadError(f"{entry.path.name}: OpenVINO is not installed (pip install openvino)")
    if entry.error is not None:
        raise OpenVinoLoadError(entry.error)
    devices = openvino_devices()
    if device not in devices and device not in {d.split(".")[0] for d in devices}:
        raise OpenVinoLoadError(f"{entry.path.name}: OpenVINO reports no device {device} (it has {', '.join(devices)})")
    if precision == "bf16":
        why = bf16_support(device)
        if why is not None:
            raise Bf16UnavailableError(f"{entry.path.name}: bf16 refused on {device}: {why}")
    source = read_ov_model(entry.path)
    compiled = compile_ov(entry, source, device, config)
    model = OpenVinoModel(
        entry=entry,
        compiled=compiled,
        model=source,
        device=", ".join(str(d) for d in compiled.get_property("EXECUTION_DEVICES")),
        precision=type_name(compiled.get_property("INFERENCE_PRECISION_HINT")),
        requested=device if precision == "as-exported" else f"{device} {precision}",
        runtime_precisions=runtime_precisions(compiled),
        threads=threads,
    )
    if entry.card is not None and entry.card.golden is not None:
        model = _with_golden(model)
    return model


def _with_golden(model: OpenVinoModel) -> OpenVinoModel:
    """The model with its golden self-test result, from :func:`desktop_app.core.runtime.run_golden` (it reads only
    ``entry`` and ``run``). bf16 compute is held to :data:`BF16_GOLDEN_TOLERANCE` of the logit range when the file's
    own tolerance (set for fp32) is tighter; the message says so."""
    card = model.entry.card
    probe, note = model, ""
    golden = card.golden if card is not None else None
    if (
        card is not None
        and golden is not None
        and model.precision == "bf16"
        and golden.tolerance < BF16_GOLDEN_TOLERANCE
    ):
        looser = replace(card, golden=replace(golden, tolerance=BF16_GOLDEN_TOLERANCE))
        probe = replace(model, entry=replace(model.entry, card=looser))
        note = f" (bf16: tolerance {BF16_GOLDEN_TOLERANCE:g} of the logit range; the file's is {golden.tolerance:g})"
    try:
        result = run_golden(probe)
    except OpenVinoLoadError as exc:
        result = GoldenResult(False, f"golden self-test could not run: {exc}")
    return replace(model, golden=GoldenResult(result.passed, result.message + note))
