"""``python -m exporter bench``: PyTorch eager fp32 vs ONNX Runtime fp32/int8 (and OpenVINO) in ONE run.

For one architecture it exports (or reuses) the fp32 and int8 files, then measures, interleaving
the variants so machine noise hits them alike (on a CPU that computes bfloat16 natively, e.g. with
AVX512-BF16 or AMX, also PyTorch under ``torch.autocast`` bf16 and OpenVINO running the fp32 file
with a bf16 inference precision): median and p90 latency at each batch size, images/s,
GMAC/s, the speed-up over PyTorch eager, and each variant's top-1 agreement and logit error against
PyTorch fp32 on real photos (:mod:`exporter.bench_photos`). A JSON record with the hardware, load,
library versions and session options is written next to the printout, stating each variant's engine and
device. ``--engine`` and ``--device`` (:mod:`exporter.bench_devices`) choose what runs besides PyTorch eager.

Example::

    python -m exporter bench --model resnet50 --runs 30 --json bench-resnet50.json
    python -m exporter bench --model resnet18 --weights random --image-size 64 --runs 3 --batches 1,2
    python -m exporter bench --model resnet18 --engine onnxruntime --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exporter.bench_devices import (
    BenchTarget,
    Runner,
    add_device_arguments,
    add_openvino,
    describe_variants,
    ort_session,
    target_from_args,
)
from exporter.errors import ExporterError
from workbench.atomic import write_text_atomic
from workbench.contract import ContractError, ModelCard
from workbench.cpu import cpu_info
from workbench.modelfile import ModelFileError, read_graph_info

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
    add_device_arguments(bench)
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
    target = target_from_args(args)  # CUDA that does not start, an absent OpenVINO device: said now
    record = run_bench(
        args.model,
        args.weights,
        image_size=args.image_size,
        runs=args.runs,
        warmup=args.warmup,
        batches=batches,
        threads=args.threads,
        folder=args.dir,
        openvino=target.openvino,
        bf16=not args.no_bf16,
        target=target,
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
    print(f"engines: {', '.join(record['engines'])} (PyTorch on the CPU, the others on {record['device']})")
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
    target: BenchTarget | None = None,
) -> dict[str, Any]:
    """Export or reuse the files, build every runner (``target``'s engines and device; default: the CPU, with
    OpenVINO when ``openvino``), measure accuracy then latency; the JSON record."""
    import torch

    import models
    from exporter.bench_photos import accuracy_set, grey_level_noise

    torch.set_num_threads(threads)
    target = target or BenchTarget(onnxruntime=True, openvino=openvino)
    spec = models.get_spec(name)
    weights = _auto_weights(name) if weights == "auto" else weights
    files, model, preprocess = _files_and_model(name, weights, image_size, folder)
    photos, photo_names = accuracy_set(preprocess)
    bf16 = bf16 and torch_native_bf16()
    runners, ov_info = _runners(model, files, threads, (photos.shape[1:], batches), bf16, target)
    reference = _logits(runners[BASELINE], photos)
    noisy = _logits(runners[BASELINE], grey_level_noise(photos, preprocess))
    stable = noisy.argmax(1) == reference.argmax(1)
    accuracy = _accuracy(runners, photos, reference, stable)
    env_before = environment(threads)
    inputs = {b: np.ascontiguousarray(np.resize(photos, (b, *photos.shape[1:]))) for b in batches}
    samples = time_variants(runners, inputs, runs, warmup)
    crop = preprocess.crop[0]
    gmacs = spec.gmacs * (crop / spec.crop_size) ** 2
    variants = describe_variants(list(runners), target)  # engine, device and precision of each
    return env_before | {
        "model": name,
        "engines": sorted({v["engine"] for v in variants.values()}),
        "device": target.device,
        "variants": variants,
        "weights": weights,
        "image_size": crop,
        "gmacs": gmacs,
        "runs": runs,
        "warmup": warmup,
        "files": {k: str(v) for k, v in files.items()},
        "session_options": _session_options(threads, bf16, target) | ov_info,
        "accuracy_photos": f"{len({n.split('#')[0] for n in photo_names})} real photos (not the calibration ones), "
        f"whole and mirrored = {len(photo_names)} images (exporter/bench_photos.py)",
        "fp32_noise_floor": {
            "top1_agreement": float(stable.mean()),
            "meaning": "PyTorch fp32 against itself with one grey level of Gaussian noise added to the photos",
        },
        "timings": [row | variants[row["variant"]] for row in as_dicts(summarise(samples, gmacs))],
        "accuracy": [row | variants[row["variant"]] for row in as_dicts(accuracy)],
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def _runners(
    model: Any,
    files: dict[str, Path],
    threads: int,
    shapes: tuple[tuple[int, ...], list[int]],
    bf16: bool,
    target: BenchTarget,
) -> tuple[dict[str, Runner], dict[str, Any]]:
    """PyTorch eager (and autocast bf16), then ONNX Runtime's and OpenVINO's variants as ``target`` says; with
    OpenVINO's notes for the session options. ``shapes``: one image's shape and the batch sizes."""
    runners = {BASELINE: _torch_runner(model)} | ({"pytorch-bf16": _torch_runner(model, bf16=True)} if bf16 else {})
    for precision, path in files.items() if target.onnxruntime else ():
        runners[f"ort-{precision}{target.suffix}"] = ort_runner(path, threads, target.device)
    if not target.openvino:
        return runners, {"openvino": "not run (--engine onnxruntime, or --device cuda)"}
    return runners, add_openvino(runners, files, threads, shapes[0], shapes[1], bf16, target.device)


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


def _session_options(threads: int, bf16: bool, target: BenchTarget) -> dict[str, str]:
    provider = "CUDAExecutionProvider" if target.device == "cuda" else "CPUExecutionProvider"
    return {
        "onnxruntime": f"{provider}, graph_optimization_level=ORT_ENABLE_ALL, "
        f"intra_op_num_threads={threads}, inter_op_num_threads=1, sequential"
        if target.onnxruntime
        else "not run (--engine openvino)",
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


def ort_runner(path: Path, threads: int, device: str = "cpu") -> Runner:
    """A batch -> logits call of an ORT session on ``path`` with all graph optimisations, on the CPU or CUDA.

    Raises:
        ExporterError: ``device="cuda"`` but CUDA does not run it (:func:`exporter.bench_devices.ort_session`).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's own coloured warnings stay out of the report
    session = ort_session(path, options, device)
    name = session.get_inputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        return session.run(None, {name: x})[0]

    return run


def _logits(run: Runner, batch: np.ndarray, chunk: int = 8) -> np.ndarray:
    return np.concatenate([run(batch[i : i + chunk]) for i in range(0, len(batch), chunk)]).astype(np.float32)
