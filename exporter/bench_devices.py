"""Which engines and device ``python -m exporter bench`` measures: ``--engine`` and ``--device``, checked up front.

``--engine all`` (the default) runs every engine installed (ONNX Runtime, and OpenVINO when it is installed);
``onnxruntime`` or ``openvino`` runs that one only. PyTorch eager (on the CPU) always runs: it is the
reference for the speed-ups and the accuracy columns. ``--device cpu`` (the default) runs both engines on the
CPU; ``cuda`` runs ONNX Runtime's CUDAExecutionProvider (after ``onnxruntime.preload_dlls()`` where it
exists) and refuses to go on, naming the remedy, when CUDA does not really run (a session's
``get_providers()`` without it) rather than timing the CPU under the GPU's name; ``gpu`` and ``npu`` are
OpenVINO's Intel devices, refused with the list of ``openvino.Core().available_devices`` when absent.
:func:`target_from_args` does those checks before anything is exported or measured; :func:`ort_session`
and :func:`add_openvino` build the runners; :func:`describe_variants` states engine, device and precision
of every variant for the JSON record. ``--no-openvino`` (older form) means ``--engine onnxruntime``.

Example::

    python -m exporter bench --model resnet18 --engine onnxruntime --device cuda --runs 30
    python -m exporter bench --model resnet18 --engine openvino --device gpu
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.errors import ExporterError

__all__ = [
    "CUDA_REMEDY",
    "DEVICES",
    "ENGINES",
    "BenchTarget",
    "Runner",
    "add_device_arguments",
    "add_openvino",
    "cuda_problem",
    "describe_variants",
    "ort_session",
    "resolve_target",
    "target_from_args",
]

Runner = Callable[[np.ndarray], np.ndarray]
ENGINES = ("all", "onnxruntime", "openvino")
DEVICES = ("cpu", "cuda", "gpu", "npu")
CUDA_REMEDY = 'pip install "onnxruntime-gpu[cuda,cudnn]"'
_OPENVINO_DEVICES = ("cpu", "gpu", "npu")


@dataclass(frozen=True)
class BenchTarget:
    """What runs besides PyTorch eager: the engines and the device (``cpu``, ``cuda``, ``gpu``, ``npu``)."""

    onnxruntime: bool
    openvino: bool
    device: str = "cpu"
    openvino_required: bool = False  # asked for by name (or the only engine for the device): missing is an error

    @property
    def suffix(self) -> str:
        """Appended to the variant names off the CPU: ``ort-fp32-cuda``, ``openvino-int8-gpu``."""
        return "" if self.device == "cpu" else f"-{self.device}"


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--device`` and the older ``--no-openvino``."""
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="all",
        help="engines to measure besides PyTorch eager (always run on the CPU, as the reference); all: ONNX "
        "Runtime and, when installed, OpenVINO",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="where the engines run: cpu; cuda: ONNX Runtime's CUDAExecutionProvider (needs "
        f"{CUDA_REMEDY}; an error, never a CPU run, when CUDA does not start); gpu, npu: OpenVINO's Intel "
        "devices (an error when absent)",
    )
    parser.add_argument(
        "--no-openvino", action="store_true", help="older form of --engine onnxruntime (deprecated: use --engine)"
    )


def resolve_target(engine: str, device: str, no_openvino: bool = False) -> BenchTarget:
    """The engines for the flags (no check of the machine; :func:`target_from_args` does that).

    Raises:
        ExporterError: an impossible combination (e.g. ``--engine openvino --device cuda``), naming the flags.
    """
    if engine not in ENGINES or device not in DEVICES:
        raise ExporterError(f"--engine {engine} --device {device}: expected one of {ENGINES} and one of {DEVICES}")
    if no_openvino:
        if engine == "openvino":
            raise ExporterError(
                "--no-openvino contradicts --engine openvino (--no-openvino means --engine onnxruntime)"
            )
        engine = "onnxruntime"
    if device == "cuda":
        if engine == "openvino":
            raise ExporterError(
                "--engine openvino --device cuda: CUDA is ONNX Runtime's; OpenVINO runs on cpu, gpu, npu"
            )
        return BenchTarget(onnxruntime=True, openvino=False, device=device)
    if device != "cpu":
        if engine == "onnxruntime":
            raise ExporterError(
                f"--engine onnxruntime --device {device}: {device} is an OpenVINO device; "
                "ONNX Runtime runs on cpu, cuda"
            )
        return BenchTarget(onnxruntime=False, openvino=True, device=device, openvino_required=True)
    return BenchTarget(
        onnxruntime=engine != "openvino",
        openvino=engine != "onnxruntime",
        device=device,
        openvino_required=engine == "openvino",
    )


def target_from_args(args: argparse.Namespace) -> BenchTarget:
    """:func:`resolve_target` for the parsed flags, then the machine's check: CUDA starts, OpenVINO is installed
    and has the device. Runs before anything is exported or measured.

    Raises:
        ExporterError: what is missing and how to get it.
    """
    target = resolve_target(args.engine, args.device, args.no_openvino)
    if target.device == "cuda":
        problem = cuda_problem()
        if problem is not None:
            raise ExporterError(
                f"--device cuda: {problem}; needs an NVIDIA GPU and ONNX Runtime with CUDA and cuDNN: {CUDA_REMEDY}"
            )
    if target.openvino and target.openvino_required:
        _check_openvino_device(target.device)
    return target


def _check_openvino_device(device: str) -> None:
    try:
        import openvino as ov
    except ImportError:
        raise ExporterError(
            f"--engine openvino --device {device}: OpenVINO is not installed (pip install openvino)"
        ) from None
    available = list(ov.Core().available_devices)
    wanted = device.upper()
    if not any(name == wanted or name.startswith(wanted + ".") for name in available):
        raise ExporterError(
            f"--device {device}: OpenVINO has no {wanted} device here (available: {', '.join(available) or 'none'})"
        )


def cuda_problem() -> str | None:
    """``None`` when a session of ONNX Runtime really runs on CUDA (tried on a one-node model), else why not."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return f"onnxruntime {ort.__version__} has no CUDAExecutionProvider (the CPU build is installed)"
    tensor = helper.make_tensor_value_info
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "cuda-probe",
        [tensor("x", TensorProto.FLOAT, [1])],
        [tensor("y", TensorProto.FLOAT, [1])],
    )
    probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    ran = _cuda_session(onnx.ModelProto.SerializeToString(probe), ort.SessionOptions()).get_providers()
    if "CUDAExecutionProvider" not in ran:
        return "CUDA did not start (ONNX Runtime fell back to the CPU; its log above says why)"
    return None


def _cuda_session(model: str | bytes, options: Any) -> Any:
    import onnxruntime as ort

    preload = getattr(ort, "preload_dlls", None)
    if callable(preload):  # onnxruntime-gpu >= 1.21: load CUDA and cuDNN from the nvidia-* wheels when present
        with contextlib.redirect_stdout(sys.stderr):  # its "Failed to load ..." lines are a log, not the report
            preload()
    return ort.InferenceSession(model, options, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])


def ort_session(path: Path, options: Any, device: str = "cpu") -> Any:
    """An ONNX Runtime session on ``path``: the CPU provider, or CUDA (``device="cuda"``) checked to really run.

    Raises:
        ExporterError: ``cuda`` asked for but the session runs without CUDAExecutionProvider (with the remedy).
    """
    import onnxruntime as ort

    if device != "cuda":
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session = _cuda_session(str(path), options)
    ran = session.get_providers()
    if "CUDAExecutionProvider" not in ran:
        raise ExporterError(
            f"{path.name}: --device cuda, but ONNX Runtime runs it on {', '.join(ran)}: CUDA did not start "
            f"(its log above says why); needs an NVIDIA GPU and ONNX Runtime with CUDA and cuDNN: {CUDA_REMEDY}"
        )
    return session


def describe_variants(names: list[str], target: BenchTarget) -> dict[str, dict[str, str]]:
    """Variant name -> its engine, device and precision (``ort-int8-cuda`` -> onnxruntime, cuda, int8)."""
    engines = {"pytorch": "pytorch", "ort": "onnxruntime", "openvino": "openvino"}
    described = {}
    for name in names:
        prefix, precision = name.split("-")[:2]
        device = "cpu" if prefix == "pytorch" else target.device
        described[name] = {"engine": engines[prefix], "device": device, "precision": precision}
    return described


def add_openvino(
    runners: dict[str, Runner],
    files: dict[str, Path],
    threads: int,
    shape: tuple[int, ...],
    batches: list[int],
    bf16: bool = False,
    device: str = "cpu",
) -> dict[str, Any]:
    """OpenVINO runners on ``device`` for the same ONNX files (int8 from the QDQ file), compiled per batch size.

    ``bf16`` (CPU only): also the fp32 file with a bf16 inference precision, when OpenVINO's CPU plugin has it.
    A file OpenVINO cannot take is skipped, with the reason in the returned notes.
    """
    try:
        import openvino as ov
    except ImportError:
        return {"openvino": "not installed"}
    core = ov.Core()
    name, suffix = device.upper(), "" if device == "cpu" else f"-{device}"
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if name == "CPU":
        config |= {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    variants = {precision: (path, config) for precision, path in files.items()}
    if bf16 and name == "CPU" and "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        variants["bf16"] = (files["fp32"], config | {"INFERENCE_PRECISION_HINT": "bf16"})
    skipped: dict[str, str] = {}
    for precision, (path, options) in variants.items():
        compiled: dict[int, Any] = {}
        try:
            for batch in sorted({*batches, 8}):
                model = core.read_model(str(path))
                model.reshape({model.inputs[0].any_name: [batch, *shape]})
                compiled[batch] = core.compile_model(model, name, options)
        except RuntimeError as exc:  # OpenVINO cannot take this file: the other variants still run
            skipped[f"openvino-{precision}{suffix}"] = f"skipped: {_ov_reason(exc)}"
            print(f"{path.name}: OpenVINO {skipped[f'openvino-{precision}{suffix}']}", flush=True)
            continue
        runners[f"openvino-{precision}{suffix}"] = _ov_runner(compiled)
    bf16_note = ", openvino-bf16: the fp32 file with INFERENCE_PRECISION_HINT=bf16" if "bf16" in variants else ""
    return {"openvino": f"openvino {ov.__version__}, {name}, static shapes per batch, {config}{bf16_note}"} | skipped


def _ov_reason(exc: BaseException) -> str:
    """The informative line of an OpenVINO error (its first lines only say where it was raised)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return next((line for line in lines if not line.startswith("Exception from")), lines[0] if lines else repr(exc))


def _ov_runner(compiled: dict[int, Any]) -> Runner:
    def run(x: np.ndarray) -> np.ndarray:
        """Static shapes: a batch size that was not compiled runs in chunks of 8, the last one zero-padded."""
        n = x.shape[0]
        if n in compiled:
            return compiled[n](x)[0]
        outs = []
        for i in range(0, n, 8):
            chunk = x[i : i + 8]
            padded = np.concatenate([chunk, np.zeros((8 - len(chunk), *x.shape[1:]), x.dtype)])
            outs.append(compiled[8](padded)[0][: len(chunk)])
        return np.concatenate(outs)

    return run
