"""``python -m exporter bench``: PyTorch eager fp32 vs ONNX Runtime fp32/int8 (and OpenVINO) in ONE run.

For one architecture it exports (or reuses) the fp32 and int8 files, then measures, interleaving
the variants so machine noise hits them alike (on a CPU that computes bfloat16 natively, e.g. with
AVX512-BF16 or AMX, also PyTorch under ``torch.autocast`` bf16 and OpenVINO running the fp32 file
with a bf16 inference precision): median and p90 latency at each batch size, images/s,
GMAC/s, the speed-up over PyTorch eager, and each variant's top-1 agreement and logit error against
PyTorch fp32 on real photos (:mod:`exporter.bench_photos`). A JSON record with the hardware, load,
library versions and session options is written next to the printout.

Example::

    python -m exporter bench --model resnet50 --runs 30 --json bench-resnet50.json
    python -m exporter bench --model resnet18 --weights random --image-size 64 --runs 3 --batches 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.errors import ExporterError
from workbench.atomic import write_text_atomic
from workbench.contract import ContractError, ModelCard
from workbench.cpu import cpu_info
from workbench.modelfile import ModelFileError, read_graph_info

Runner = Callable[[np.ndarray], np.ndarray]
BASELINE = "pytorch-fp32"
ROUNDS = 5
PAUSE_S = 0.05


@dataclass(frozen=True)
class Timing:
    variant: str
    batch: int
    median_ms: float
    p90_ms: float
    images_per_s: float
    gmacs_per_s: float
    speedup_vs_pytorch: float


@dataclass(frozen=True)
class Accuracy:
    variant: str
    images: int
    top1_agreement: float
    max_abs_diff: float
    max_rel_diff: float
    mean_abs_diff: float
    stable_images: int  # photos whose PyTorch fp32 top-1 survives one grey level of noise
    top1_agreement_stable: float  # agreement on those


def add_bench_parser(sub: argparse._SubParsersAction) -> None:
    from exporter.cliutil import WEIGHTS_HELP, DefaultsFormatter, ModelName, add_verbosity

    bench = sub.add_parser(
        "bench",
        help="benchmark PyTorch vs ONNX Runtime fp32/int8 (and OpenVINO) in one run",
        formatter_class=DefaultsFormatter,
    )
    bench.add_argument("--model", required=True, metavar="NAME", action=ModelName, help="architecture, e.g. resnet50")
    bench.add_argument(
        "--weights",
        default="imagenet",
        metavar="SOURCE",
        help=WEIGHTS_HELP + "; or auto: imagenet when available offline, else random (speed does not depend on "
        "the weights; the accuracy columns compare against PyTorch with the same weights)",
    )
    bench.add_argument("--image-size", type=int, metavar="PX", help="input size (default: the native one)")
    bench.add_argument("--runs", type=int, default=30, help="timed runs per variant and batch size")
    bench.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    bench.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    bench.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every runtime")
    bench.add_argument("--dir", metavar="DIR", help="where the ONNX files are kept (default: the models dir)")
    bench.add_argument("--json", metavar="PATH", help="write the JSON record here (default: bench-MODEL.json)")
    bench.add_argument("--no-openvino", action="store_true", help="skip OpenVINO even when it is installed")
    bench.add_argument(
        "--no-bf16",
        action="store_true",
        help="skip the bf16 variants (PyTorch autocast, OpenVINO bf16) run when the CPU has native bfloat16",
    )
    add_verbosity(bench, "only warnings and errors; no progress bars")


def cmd_bench(args: argparse.Namespace) -> int:
    batches = _parse_batches(args.batches)
    out = Path(args.json or f"bench-{args.model}.json")
    if not out.parent.is_dir():  # found out before minutes of measuring, not after
        raise ExporterError(f"--json {out}: folder {out.parent} does not exist")
    record = run_bench(
        args.model,
        args.weights,
        image_size=args.image_size,
        runs=args.runs,
        warmup=args.warmup,
        batches=batches,
        threads=args.threads,
        folder=args.dir,
        openvino=not args.no_openvino,
        bf16=not args.no_bf16,
    )
    print_report(record)
    try:
        write_text_atomic(out, json.dumps(record, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise ExporterError(f"--json {out}: cannot write the record ({exc.strerror or exc})") from exc
    print(f"\nJSON record: {out}")
    return 0


def _parse_batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ExporterError(f"--batches {text}: expected comma-separated integers such as 1,8") from None
    if not values or min(values) < 1:
        raise ExporterError(f"--batches {text}: batch sizes must be >= 1")
    return values


def time_variants(
    runners: dict[str, Runner], inputs: dict[int, np.ndarray], runs: int, warmup: int
) -> dict[tuple[str, int], list[float]]:
    """Seconds per call for every (variant, batch).

    The variants take turns in blocks (up to :data:`ROUNDS` blocks each), so a change of machine
    load affects them alike; a pause before each block lets the previous runtime's worker threads
    stop spinning (they would otherwise steal the cores from the next one).
    """
    from exporter.progress import Steps

    samples: dict[tuple[str, int], list[float]] = {}
    rounds = max(1, min(ROUNDS, runs))
    per_block = -(-runs // rounds)
    blocks = len(inputs) * rounds * len(runners)
    with Steps("bench: timing", blocks, every=len(runners), unit="block") as steps:
        for batch, x in inputs.items():
            for run in runners.values():
                for _ in range(warmup):
                    run(x)
            for round_ in range(rounds):
                for name, run in runners.items():
                    time.sleep(PAUSE_S)
                    run(x)  # untimed: wakes this runtime's threads
                    times = samples.setdefault((name, batch), [])
                    for _ in range(min(per_block, runs - len(times))):
                        start = time.perf_counter()
                        run(x)
                        times.append(time.perf_counter() - start)
                    steps.step(f"batch {batch}, round {round_ + 1}/{rounds}, {name}")
    return samples


def summarise(samples: dict[tuple[str, int], list[float]], gmacs: float) -> list[Timing]:
    """Median/p90 latency, throughput and the ratio to PyTorch eager for each (variant, batch)."""
    timings = []
    for (name, batch), seconds in samples.items():
        median = float(np.median(seconds))
        base = float(np.median(samples.get((BASELINE, batch), seconds)))
        timings.append(
            Timing(
                variant=name,
                batch=batch,
                median_ms=median * 1e3,
                p90_ms=float(np.percentile(seconds, 90)) * 1e3,
                images_per_s=batch / median,
                gmacs_per_s=gmacs * batch / median,
                speedup_vs_pytorch=base / median,
            )
        )
    return timings


def compare(reference: np.ndarray, got: np.ndarray, variant: str, stable: np.ndarray) -> Accuracy:
    """Top-1 agreement and logit errors of ``got`` against PyTorch fp32's ``reference``.

    ``stable`` marks the images whose reference top-1 does not change under one grey level of noise.
    """
    from exporter.quant.measure import agreement

    score = agreement(reference, got)
    diff = np.abs(reference - got)
    same = reference.argmax(1) == got.argmax(1)
    return Accuracy(
        variant=variant,
        images=int(score["images"]),
        top1_agreement=score["top1_agreement"],
        max_abs_diff=float(diff.max()),
        max_rel_diff=score["max_rel_diff"],
        mean_abs_diff=float(diff.mean()),
        stable_images=int(stable.sum()),
        top1_agreement_stable=float(same[stable].mean()) if stable.any() else 1.0,
    )


def environment(threads: int) -> dict[str, Any]:
    """Hardware, load and library versions for the JSON record."""
    from exporter.api import dist_version as version

    cpu, features = cpu_info()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "hardware": {
            "cpu": cpu,
            "cpu_features": list(features),
            "logical_cores": os.cpu_count(),
            "machine": platform.machine(),
        },
        "load_average_1_5_15": list(load) if load else None,
        "versions": {
            name: version(name)
            for name in ("torch", "onnx", "onnxruntime-gpu", "onnxruntime", "openvino", "numpy", "cnn-workbench")
        }
        | {"python": platform.python_version()},
        "threads": threads,
    }


def print_report(record: dict[str, Any]) -> None:
    """The human table: one line per (batch, variant), then the accuracy lines."""
    print(
        f"\n{record['model']} ({record['weights']}) {record['image_size']}px, {record['gmacs']:.2f} GMACs/image, "
        f"{record['threads']} threads, load {record['load_average_1_5_15']}"
    )
    hardware = record["hardware"]
    features = ", ".join(hardware["cpu_features"]) or "none of those it looks for"
    print(f"{hardware['cpu']} ({hardware['logical_cores']} logical cores; {features})")
    print(f"{'variant':16} {'batch':>5} {'median ms':>10} {'p90 ms':>8} {'img/s':>8} {'GMAC/s':>8} {'vs PyTorch':>10}")
    for t in sorted(record["timings"], key=lambda t: (t["batch"], -t["median_ms"])):
        print(
            f"{t['variant']:16} {t['batch']:5d} {t['median_ms']:10.2f} {t['p90_ms']:8.2f} {t['images_per_s']:8.1f} "
            f"{t['gmacs_per_s']:8.1f} {t['speedup_vs_pytorch']:9.2f}x"
        )
    print(f"\naccuracy against PyTorch fp32 on {record['accuracy_photos']}")
    floor = record["fp32_noise_floor"]["top1_agreement"]
    print(f"noise floor: PyTorch fp32 keeps its own top-1 on {floor:.1%} of them under one grey level of noise")
    print(
        f"{'variant':16} {'images':>6} {'top-1 agree':>11} {'on stable':>13} {'max |diff|':>10} {'of range':>9} "
        f"{'mean |diff|':>11}"
    )
    for a in record["accuracy"]:
        stable = f"{a['top1_agreement_stable']:.1%} of {a['stable_images']}"
        print(
            f"{a['variant']:16} {a['images']:6d} {a['top1_agreement']:10.1%} {stable:>13} {a['max_abs_diff']:10.3g} "
            f"{a['max_rel_diff']:9.2e} {a['mean_abs_diff']:11.3g}"
        )


def as_dicts(items: list[Timing] | list[Accuracy]) -> list[dict[str, Any]]:
    return [asdict(item) for item in items]


def run_bench(
    name: str,
    weights: str,
    *,
    image_size: int | None,
    runs: int,
    warmup: int,
    batches: list[int],
    threads: int,
    folder: str | None,
    openvino: bool,
    bf16: bool = True,
) -> dict[str, Any]:
    """Export or reuse the files, build every runner, measure accuracy then latency; the JSON record."""
    import torch

    import models
    from exporter.bench_photos import accuracy_set, grey_level_noise

    torch.set_num_threads(threads)
    spec = models.get_spec(name)
    weights = _auto_weights(name) if weights == "auto" else weights
    files, model, preprocess = _files_and_model(name, weights, image_size, folder)
    photos, photo_names = accuracy_set(preprocess)
    bf16 = bf16 and torch_native_bf16()
    runners = {BASELINE: _torch_runner(model)} | ({"pytorch-bf16": _torch_runner(model, bf16=True)} if bf16 else {})
    for precision, path in files.items():
        runners[f"ort-{precision}"] = ort_runner(path, threads)
    ov_info: dict[str, Any] = {}
    if openvino:
        ov_info = _add_openvino(runners, files, threads, photos.shape[1:], batches, bf16)
    reference = _logits(runners[BASELINE], photos)
    noisy = _logits(runners[BASELINE], grey_level_noise(photos, preprocess))
    stable = noisy.argmax(1) == reference.argmax(1)
    accuracy = _accuracy(runners, photos, reference, stable)
    env_before = environment(threads)
    inputs = {b: np.ascontiguousarray(np.resize(photos, (b, *photos.shape[1:]))) for b in batches}
    samples = time_variants(runners, inputs, runs, warmup)
    crop = preprocess.crop[0]
    gmacs = spec.gmacs * (crop / spec.crop_size) ** 2
    return env_before | {
        "model": name,
        "weights": weights,
        "image_size": crop,
        "gmacs": gmacs,
        "runs": runs,
        "warmup": warmup,
        "files": {k: str(v) for k, v in files.items()},
        "session_options": _session_options(threads, bf16) | ov_info,
        "accuracy_photos": f"{len({n.split('#')[0] for n in photo_names})} real photos (not the calibration ones), "
        f"whole and mirrored = {len(photo_names)} images (exporter/bench_photos.py)",
        "fp32_noise_floor": {
            "top1_agreement": float(stable.mean()),
            "meaning": "PyTorch fp32 against itself with one grey level of Gaussian noise added to the photos",
        },
        "timings": as_dicts(summarise(samples, gmacs)),
        "accuracy": as_dicts(accuracy),
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _accuracy(
    runners: dict[str, Runner], photos: np.ndarray, reference: np.ndarray, stable: np.ndarray
) -> list[Accuracy]:
    """Each variant's agreement with PyTorch fp32 on the photos, with a progress step per variant."""
    from exporter.progress import Steps

    found = []
    with Steps("bench: accuracy", len(runners), unit="variant") as steps:
        for variant, run in runners.items():
            found.append(compare(reference, _logits(run, photos), variant, stable))
            steps.step(variant)
    return found


def _session_options(threads: int, bf16: bool) -> dict[str, str]:
    return {
        "onnxruntime": f"CPUExecutionProvider, graph_optimization_level=ORT_ENABLE_ALL, "
        f"intra_op_num_threads={threads}, inter_op_num_threads=1, sequential",
        "pytorch": f"eager, torch.inference_mode(), torch.set_num_threads({threads}), float32",
        "pytorch-bf16": "the same under torch.autocast('cpu', dtype=torch.bfloat16)"
        if bf16
        else "not run (--no-bf16, or no native bfloat16 on this CPU)",
    }


def _auto_weights(name: str) -> str:
    import models
    from exporter.hub import cached_checkpoint

    spec = models.get_spec(name)
    if spec.pretrained.package or (spec.pretrained.url and cached_checkpoint(spec.pretrained.url)):
        return "imagenet"
    return "random"


def _files_and_model(
    name: str, weights: str, image_size: int | None, folder: str | None
) -> tuple[dict[str, Path], Any, Any]:
    """The fp32 and int8 files (exported when missing), the PyTorch model and the preprocessing."""
    import models
    from exporter.api import export_model, output_name
    from exporter.cliutil import log
    from exporter.weights import resolve_weights
    from workbench.paths import models_dir

    resolved = resolve_weights(name, weights, progress=False)
    size = image_size if image_size != models.get_spec(name).crop_size else None
    files: dict[str, Path] = {}
    for precision in ("fp32", "int8"):
        target = models_dir(folder) / output_name(name, resolved.label_set, resolved.tag, precision, size)
        if not target.exists():
            log().info(f"bench: exporting {target.name} ...")
            export_model(name, weights, folder, image_size=image_size, progress=False, precision=precision)
        files[precision] = target
    try:
        card = ModelCard.from_metadata(read_graph_info(files["fp32"]).metadata)
    except (ModelFileError, ContractError) as exc:
        raise ExporterError(str(exc)) from exc
    if card is None:
        raise ExporterError(f"{files['fp32']}: no workbench metadata (not made by this exporter?)")
    return files, resolved.model, card.preprocess


def torch_native_bf16() -> bool:
    """Whether PyTorch's oneDNN backend computes bfloat16 natively on this CPU (AVX512-BF16, AMX)."""
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def _torch_runner(model: Any, bf16: bool = False) -> Runner:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(torch.from_numpy(x)).float().numpy()

    return run


def ort_runner(path: Path, threads: int) -> Runner:
    """A batch -> logits call of an ORT CPU session on ``path`` with all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's own coloured warnings stay out of the report
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x})[0]

    return run


def _add_openvino(
    runners: dict[str, Runner],
    files: dict[str, Path],
    threads: int,
    shape: tuple[int, ...],
    batches: list[int],
    bf16: bool = False,
) -> dict[str, Any]:
    """OpenVINO CPU runners for the same ONNX files (int8 from the QDQ file), compiled per batch size.

    ``bf16``: also the fp32 file with a bf16 inference precision, when OpenVINO's CPU plugin has it.
    """
    try:
        import openvino as ov
    except ImportError:
        return {"openvino": "not installed"}
    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    variants = {precision: (path, config) for precision, path in files.items()}
    if bf16 and "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        variants["bf16"] = (files["fp32"], config | {"INFERENCE_PRECISION_HINT": "bf16"})
    skipped: dict[str, str] = {}
    for precision, (path, options) in variants.items():
        compiled: dict[int, Any] = {}
        try:
            for batch in sorted({*batches, 8}):
                model = core.read_model(str(path))
                model.reshape({model.inputs[0].any_name: [batch, *shape]})
                compiled[batch] = core.compile_model(model, "CPU", options)
        except RuntimeError as exc:  # OpenVINO cannot take this file: the other variants still run
            skipped[f"openvino-{precision}"] = f"skipped: {_ov_reason(exc)}"
            print(f"{path.name}: OpenVINO {skipped[f'openvino-{precision}']}", flush=True)
            continue
        runners[f"openvino-{precision}"] = _ov_runner(compiled)
    bf16_note = ", openvino-bf16: the fp32 file with INFERENCE_PRECISION_HINT=bf16" if "bf16" in variants else ""
    return {"openvino": f"openvino {ov.__version__}, CPU, static shapes per batch, {config}{bf16_note}"} | skipped


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


def _logits(run: Runner, batch: np.ndarray, chunk: int = 8) -> np.ndarray:
    return np.concatenate([run(batch[i : i + chunk]) for i in range(0, len(batch), chunk)]).astype(np.float32)
