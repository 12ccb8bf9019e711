"""Command line of the workbench: the GUI by default, or headless ``classify`` and ``profile`` commands.

The headless commands use only the Qt-free core (no PySide6, no torch), for scripts and CI.
Exit codes: 0 every image worked, 1 some image failed, 2 bad usage (no or unusable model, bad flag).

Example::

    python -m desktop_app                                   # the GUI
    python -m desktop_app classify photos/ cat.jpg --top-k 3 --json
    python -m desktop_app profile cat.jpg --model resnet18 --runs 20 --depth 2 --csv timing.csv
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from desktop_app.core.catalog import ModelChoiceError, choose_model
from desktop_app.core.classify import FileResult, classify_paths
from desktop_app.core.imageio import ImageLoadError, iter_image_files, load_image
from desktop_app.core.paths import ENV_VAR
from desktop_app.core.profiling import ProfileReport, ProfileRow, aggregate, profile_model, to_csv, to_json
from desktop_app.core.providers import PROVIDER_CHOICES, ModelLoadError, one_line
from desktop_app.core.session import LoadedModel, ModelEntry, load_model

PROG = "python -m desktop_app"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("classify", "profile")


class UsageError(Exception):
    """Bad usage reported as one line on stderr with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify photos with self-describing ONNX models and profile them layer by layer. "
        f"Without a command, the desktop app starts ({PROG} [--models-dir DIR] [IMAGE ...]).",
    )
    commands = parser.add_subparsers(dest="command", metavar="{classify,profile}")
    classify = commands.add_parser(
        "classify",
        help="print the top-k classes of images (headless)",
        description="Print the top-k classes of each image. Exit code 0 when every image worked, "
        "1 when some failed, 2 on bad usage.",
    )
    classify.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    _add_model_options(classify)
    classify.add_argument("--top-k", type=_positive_int, default=5, metavar="K", help="classes per image (default: 5)")
    classify.add_argument(
        "--json", action="store_true", help="one JSON object per line: file, labels, indices, probabilities, provider"
    )
    profile = commands.add_parser(
        "profile",
        help="print per-layer timings from ONNX Runtime's profiler (headless)",
        description="Time every layer of a model on one image with ONNX Runtime's profiler: median over "
        "--runs runs after --warmup runs; the first run is reported separately.",
    )
    profile.add_argument("image", metavar="IMAGE", help="the image to run the model on")
    _add_model_options(profile)
    profile.add_argument("--runs", type=_positive_int, default=20, metavar="N", help="timed runs (default: 20)")
    profile.add_argument(
        "--warmup", type=_positive_int, default=3, metavar="W", help="warm-up runs, the first included (default: 3)"
    )
    profile.add_argument(
        "--depth",
        type=_non_negative_int,
        default=0,
        metavar="D",
        help="aggregate to module depth D (1: layer3, 2: layer3.1); 0 shows single nodes (default: 0)",
    )
    profile.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    profile.add_argument("--csv", metavar="FILE", type=Path, help="also write the table to FILE as CSV")
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="NAME_OR_FILE",
        help="an .onnx file, or a file stem / display name / architecture in the models folder "
        "(default: the first usable model, preferring efficientnet_lite0)",
    )
    parser.add_argument(
        "--models-dir", metavar="DIR", help=f"models folder (default: ${ENV_VAR} or the per-user folder)"
    )
    parser.add_argument(
        "--provider", choices=PROVIDER_CHOICES, default="auto", help="execution provider to ask for (default: auto)"
    )


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if not args_list or (args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help")):
        return launch_gui(args_list)
    args = build_parser().parse_args(args_list)
    try:
        if args.command == "classify":
            return run_classify(args, sys.stdout, sys.stderr)
        return run_profile(args, sys.stdout, sys.stderr)
    except (UsageError, ModelChoiceError, ModelLoadError) as exc:
        print(f"{PROG} {args.command}: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def launch_gui(argv: list[str]) -> int:
    """Start the desktop app (PySide6 is imported only here)."""
    try:
        from desktop_app.view.app import main as gui_main
    except ImportError as exc:
        print(
            f"{PROG}: error: the desktop app cannot start ({exc}); the headless commands still work: "
            f"{PROG} classify --help",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return int(gui_main(argv))


def _load(args: argparse.Namespace, err: TextIO) -> LoadedModel:
    entry = choose_model(args.model, args.models_dir)
    model = load_model(entry, args.provider)
    _warn_about(model, entry, args.provider, err)
    return model


def _warn_about(model: LoadedModel, entry: ModelEntry, provider: str, err: TextIO) -> None:
    for notice in entry.notices:
        print(f"note: {entry.path.name}: {notice}", file=err)
    if model.fallback_reason and provider == "cuda":
        print(
            f"warning: CUDA was requested but did not start; running on {model.provider_label}: "
            f"{model.fallback_reason}",
            file=err,
        )
    if model.golden is not None and not model.golden.passed:
        print(f"warning: {entry.path.name}: {model.golden.message}", file=err)


def run_classify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        files = iter_image_files(args.paths)
    except OSError as exc:
        raise UsageError(f"cannot list {exc.filename or 'a folder'}: {exc.strerror or exc}") from exc
    if not files:
        raise UsageError(f"no image files found in {', '.join(args.paths)}")
    model = _load(args, err)
    if not args.json:
        print(f"model: {model.entry.name} ({model.entry.path.name}) on {model.provider_label}", file=out)
    failed = 0
    for result in classify_paths(model, files, args.top_k):
        failed += not result.ok
        if args.json:
            print(json.dumps(_result_json(result, model), ensure_ascii=False), file=out, flush=True)
        else:
            _print_result(result, out, err)
    if not args.json:
        print(f"{len(files) - failed} of {len(files)} images classified, {failed} failed", file=err)
    return EXIT_FAILED if failed else EXIT_OK


def _result_json(result: FileResult, model: LoadedModel) -> dict[str, object]:
    if result.prediction is None:
        return {"file": str(result.path), "error": result.error}
    prediction = result.prediction
    return {
        "file": str(result.path),
        "labels": list(prediction.labels),
        "indices": list(prediction.indices),
        "probabilities": [round(p, 6) for p in prediction.probabilities],
        "provider": model.providers[0] if model.providers else None,
    }


def _print_result(result: FileResult, out: TextIO, err: TextIO) -> None:
    if result.prediction is None:
        out.flush()
        print(f"error: {result.error}", file=err, flush=True)
        return
    print(str(result.path), file=out)
    prediction = result.prediction
    for rank, (index, label, probability) in enumerate(
        zip(prediction.indices, prediction.labels, prediction.probabilities, strict=True), start=1
    ):
        print(f"  {rank}. {100 * probability:6.2f}%  {label}  [{index}]", file=out)
    out.flush()


def run_profile(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    entry = choose_model(args.model, args.models_dir)
    if entry.preprocess is None:
        raise UsageError(f"{entry.path.name}: model has no preprocessing")
    try:
        image = load_image(args.image, min_side=entry.preprocess.resize)
    except ImageLoadError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    report = profile_model(entry, image, provider=args.provider, runs=args.runs, warmup=args.warmup)
    for notice in entry.notices:
        print(f"note: {entry.path.name}: {notice}", file=err)
    if report.fallback_reason and args.provider == "cuda":
        print(f"warning: CUDA was requested but did not start: {report.fallback_reason}", file=err)
    rows = aggregate(report, args.depth)
    if args.csv is not None:
        try:
            args.csv.write_text(to_csv(rows), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{args.csv}: cannot write CSV ({exc.strerror or exc})") from exc
    if args.json:
        print(to_json(report, rows), file=out)
    else:
        print_profile(report, rows, out)
    return EXIT_OK


def print_profile(report: ProfileReport, rows: Sequence[ProfileRow], out: TextIO) -> None:
    """The per-layer table plus the totals (sum of layer times vs measured wall time, first run)."""
    width = max([len("module"), *(len(r.module) for r in rows)])
    ops = max([len("op types"), *(len(r.op_types) for r in rows)])
    print(f"model: {report.model} on {', '.join(report.providers)}", file=out)
    print(f"{'module':<{width}}  {'op types':<{ops}}  provider  median ms  share %  first run ms", file=out)
    for r in rows:
        print(
            f"{r.module:<{width}}  {r.op_types:<{ops}}  {r.provider:<8}  {r.median_ms:9.3f}  {r.share:7.1f}"
            f"  {r.first_run_ms:12.3f}",
            file=out,
        )
    print(
        f"sum of layer times {report.layer_sum_ms:.3f} ms; measured wall time {report.wall_ms:.3f} ms "
        f"(median of {report.runs} runs after {report.warmup} warm-up); "
        f"first run {report.first_run_ms:.3f} ms wall, {report.first_run_node_sum_us / 1000:.3f} ms in layers",
        file=out,
    )
