"""Command line of the workbench: the GUI by default, or headless ``classify`` and ``profile`` commands.

The headless commands use only the Qt-free core (no PySide6, no torch), for scripts and CI.
Exit codes: 0 every image worked, 1 some image failed or some path was skipped, 2 bad usage (no or
unusable model, bad flag). File names are written with ``names.display_path`` everywhere (an
undecodable byte of a name as ``\\xNN``), so output never fails in a strict UTF-8 (or ASCII) locale,
and ``--json`` is always valid JSON (no NaN: a model that gives non-finite output is an error line).

Example::

    python -m desktop_app                                   # the GUI
    python -m desktop_app classify photos/ cat.jpg --top-k 3 --json
    python -m desktop_app classify cat.jpg --engine openvino --precision-hint bf16   # engine flags: cli_engine.py
    python -m desktop_app classify cat.jpg --model zoo.onnx --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 \\
        --labels names.txt --remember-overrides    # a foreign file's assumptions overridden: cli_overrides.py
    python -m desktop_app classify photos/ -q      # results only (-v: what was opened, where; cli_log.py)
    python -m desktop_app profile cat.jpg --model resnet18 --runs 20 --depth 2 --csv timing.csv
    python -m desktop_app evaluate ~/data/pets --model resnet50 --model resnet50-int8 --out pets-report
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from PIL import Image

from desktop_app import cli_engine, cli_evaluate, cli_explain, cli_inspect, cli_log, cli_overrides
from desktop_app.cli_output import classify_csv, file_fields, finite_or_error, json_line, result_json
from desktop_app.core.catalog import ModelChoiceError, ModelEntry, choose_model
from desktop_app.core.classify import FileResult, classify_paths
from desktop_app.core.openvino_engine import OpenVinoModel
from desktop_app.core.openvino_profiling import profile_openvino
from desktop_app.core.overrides import OverrideStore
from desktop_app.core.profiling import (
    DEFAULT_RUNS,
    DEFAULT_WARMUP,
    GROUPINGS,
    ProfileReport,
    ProfileRow,
    aggregate,
    gap_note,
    group_by,
    input_batch,
    load_note,
    profile_model,
    to_csv,
    to_json,
)
from desktop_app.core.providers import PROVIDER_CHOICES, ModelLoadError, one_line
from desktop_app.core.runtime import EngineModel, LoadedModel, int8_cpu_note, ran_text
from workbench.atomic import write_text_atomic
from workbench.imageio import ImageLoadError, PathProblem, find_image_files, load_image
from workbench.names import display_path, printable
from workbench.version import package_version, prog_name

MODULE_FORM = "python -m desktop_app"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
COMMANDS = ("classify", "profile", "evaluate", "explain", "inspect")


class UsageError(Exception):
    """Bad usage reported as one line on stderr with exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog_name(MODULE_FORM),
        description="Classify photos with self-describing ONNX models and profile them layer by layer. "
        f"Without a command, the desktop app starts ({prog_name(MODULE_FORM)} [--models-dir DIR] [IMAGE ...]).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="{classify,profile,evaluate,explain,inspect}")
    classify = commands.add_parser(
        "classify",
        help="print the top-k classes of images (headless)",
        description="Print the top-k classes of each image. Exit code 0 when every image worked, "
        "1 when some failed, 2 on bad usage.",
    )
    classify.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    _add_model_options(classify)
    cli_overrides.add_override_arguments(classify)
    classify.add_argument("--top-k", type=_positive_int, default=5, metavar="K", help="classes per image (default: 5)")
    classify.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: file, labels, indices, probabilities, provider, engine, device, "
        "precision, fallback_reason, model, model_file, model_sha256 (or file, error); file_bytes_hex as well "
        "when the shown file name had to escape bytes; skipped paths come first",
    )
    classify.add_argument(
        "--csv",
        metavar="FILE",
        type=Path,
        help="also write FILE: one row per image and rank (file, rank, label, index, probability, model, "
        "model_sha256, error), written when all images are done",
    )
    _add_profile_parser(commands)
    cli_evaluate.add_parser(commands, cli_engine.add_run_options)
    cli_explain.add_parser(commands, _add_engine_options)
    cli_inspect.add_parser(commands, _add_engine_options)
    for command in commands.choices.values():
        cli_log.add_verbosity(command)
    return parser


def _add_profile_parser(commands: argparse._SubParsersAction) -> None:
    """``profile IMAGE``: per-layer timings (the subcommand's options)."""
    profile = commands.add_parser(
        "profile",
        help="print per-layer timings from ONNX Runtime's profiler or OpenVINO's counters (headless)",
        description="Time every layer of a model on one image with ONNX Runtime's profiler (or OpenVINO's "
        "performance counters with --engine openvino): median, p90, min and max over --runs runs after --warmup "
        "runs; ONNX Runtime's first run is reported separately.",
    )
    profile.add_argument("image", metavar="IMAGE", help="the image to run the model on")
    _add_model_options(profile)
    profile.add_argument(
        "--runs", type=_positive_int, default=DEFAULT_RUNS, metavar="N", help=f"timed runs (default: {DEFAULT_RUNS})"
    )
    profile.add_argument(
        "--warmup",
        type=_positive_int,
        default=DEFAULT_WARMUP,
        metavar="W",
        help=f"warm-up runs, the first included (default: {DEFAULT_WARMUP})",
    )
    profile.add_argument(
        "--depth",
        type=_non_negative_int,
        default=0,
        metavar="D",
        help="aggregate to module depth D (1: layer3, 2: layer3.1); 0 shows single nodes (default: 0)",
    )
    profile.add_argument(
        "--group-by",
        choices=("module", *GROUPINGS),
        default="module",
        help="sum the rows by module (to --depth), by op type or by provider (on OpenVINO: by the kernel that "
        "ran each layer) (default: module)",
    )
    profile.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON instead of a table: timings, model file and sha256, image, versions, "
        "CPU, threads and load",
    )
    profile.add_argument("--csv", metavar="FILE", type=Path, help="also write the table to FILE as CSV")


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="NAME_OR_FILE",
        help="an .onnx file, or a file stem / display name / architecture in the models folder "
        "(default: the first usable model, preferring efficientnet_lite0)",
    )
    cli_engine.add_run_options(parser)


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    """``--models-dir`` and ``--provider`` (ONNX Runtime only): ``explain`` and ``inspect`` read ORT sessions."""
    cli_engine.add_models_dir(parser)
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
    if not args_list or (args_list[0] not in COMMANDS and args_list[0] not in ("-h", "--help", "--version")):
        return launch_gui(args_list)
    escape_unencodable(sys.stdout, sys.stderr)
    args = build_parser().parse_args(args_list)
    cli_log.setup_logging(args.verbosity, sys.stderr)
    try:
        if args.command == "classify":
            return run_classify(args, sys.stdout, sys.stderr)
        if args.command == "evaluate":
            return cli_evaluate.run_evaluate(args, sys.stdout, sys.stderr)
        if args.command == "explain":
            return cli_explain.run_explain(args, sys.stdout, sys.stderr)
        if args.command == "inspect":
            return cli_inspect.run_inspect(args, sys.stdout, sys.stderr)
        return run_profile(args, sys.stdout, sys.stderr)
    except cli_engine.StrictError as exc:
        print(f"{prog_name(MODULE_FORM)} {args.command}: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except (UsageError, cli_evaluate.EvaluateUsageError, cli_engine.FlagError, ModelChoiceError, ModelLoadError) as exc:
        print(f"{prog_name(MODULE_FORM)} {args.command}: error: {printable(one_line(str(exc)))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{prog_name(MODULE_FORM)}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


def escape_unencodable(*streams: TextIO | None) -> None:
    """Let ``streams`` write a character their encoding lacks as ``\\xNN`` instead of raising (e.g. a label
    "café" in an ASCII locale); file names are escaped before they get there, and JSON is pure ASCII then."""
    for stream in streams:
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def ascii_only(stream: TextIO) -> bool:
    """Whether JSON for ``stream`` must escape non-ASCII (its encoding is not UTF-8)."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return False  # an in-memory stream holds any text
    try:
        return codecs.lookup(encoding).name != "utf-8"
    except LookupError:
        return True


def launch_gui(argv: list[str]) -> int:
    """Start the desktop app (PySide6 is imported only here)."""
    try:
        from desktop_app.view.app import main as gui_main
    except ImportError as exc:
        prog = prog_name(MODULE_FORM)
        print(
            f"{prog}: error: the desktop app cannot start ({exc}); the headless commands still work: "
            f"{prog} classify --help",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return int(gui_main(argv))


def _load(args: argparse.Namespace, entry: ModelEntry | None = None) -> EngineModel:
    """Open the chosen model as the engine flags ask, warn about fallbacks; ``--strict`` raises StrictError."""
    entry = entry or choose_model(args.model, args.models_dir)
    model = cli_engine.open_from_args(entry, args)
    _warn_about(model, entry, cli_engine.choice_of(args)[1])
    cli_engine.check_strict(args, model)
    return model


def _warn_about(model: EngineModel, entry: ModelEntry, provider: str) -> None:
    """Notes (INFO) and warnings about what was opened, through the commands' log (:mod:`desktop_app.cli_log`)."""
    log = cli_log.log()
    for notice in entry.notices:
        log.info("note: %s: %s", display_path(entry.path.name), printable(notice))
    if model.fallback_reason and provider == "cuda":
        log.warning(
            "warning: CUDA was requested but did not start; running on %s: %s",
            model.provider_label,
            model.fallback_reason,
        )
    elif model.fallback_reason and model.engine == "onnxruntime" and model.device == "CPU":
        log.info("note: running on %s: %s", ran_text(model), printable(model.fallback_reason))
    if (saturates := int8_cpu_note(model)) is not None:
        log.info("note: %s: %s", display_path(entry.path.name), saturates)
    if model.golden is not None and not model.golden.passed:
        log.warning("warning: %s: %s", display_path(entry.path.name), printable(model.golden.message))
    log.debug("opened %s (%s) on %s; providers %s", display_path(entry.path), entry.name, ran_text(model),
              ", ".join(model.providers))  # fmt: skip
    if entry.preprocess is not None:
        log.debug("preprocessing: %s", json.dumps(entry.preprocess.to_dict()))


def run_classify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Classify every image under ``args.paths``; a skipped path or a failed image is one error, the rest go on."""
    found = find_image_files(args.paths)
    if not found.files and not found.problems:
        raise UsageError(f"no image files found in {', '.join(display_path(p) for p in args.paths)}")
    model = None
    if found.files:
        entry = cli_overrides.resolve_entry(choose_model(args.model, args.models_dir), args, OverrideStore())
        model = _load(args, entry)
    if model is not None and not args.json:
        print(
            f"model: {printable(model.entry.name)} ({display_path(model.entry.path.name)}) on {ran_text(model)}",
            file=out,
        )
    as_ascii = ascii_only(out)
    for problem in found.problems:
        _print_problem(problem, args.json, as_ascii, out, err)
    rows: list[FileResult] = []
    failed = _classify_files(model, found.files, args, out, err, rows) if model is not None else 0
    if args.csv is not None and model is not None:
        try:
            write_text_atomic(args.csv, classify_csv(rows, model))  # renamed into place: never half a CSV
        except OSError as exc:
            raise UsageError(f"{display_path(args.csv)}: cannot write CSV ({exc.strerror or exc})") from exc
    if not args.json:
        total, skipped = len(found.files), len(found.problems)
        cli_log.log().info(
            f"{total - failed} of {total} images classified, {failed} failed"
            + (f", {skipped} paths skipped" if skipped else "")
        )
    return EXIT_FAILED if failed or found.problems else EXIT_OK


def _classify_files(
    model: EngineModel,
    files: Sequence[Path],
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    keep: list[FileResult],
) -> int:
    """Classify and print ``files`` one by one (a line, or a JSON object, each); returns how many failed.

    With ``--csv`` the results are also appended to ``keep``."""
    as_ascii = ascii_only(out)
    failed = 0
    for result in classify_paths(model, files, args.top_k):
        result = finite_or_error(result)
        failed += not result.ok
        if args.csv is not None:
            keep.append(result)
        if args.json:
            print(json_line(result_json(result, model), as_ascii), file=out, flush=True)
        else:
            _print_result(result, out, err)
    return failed


def _print_problem(problem: PathProblem, as_json: bool, as_ascii: bool, out: TextIO, err: TextIO) -> None:
    if as_json:
        print(json_line({**file_fields(problem.path), "error": str(problem)}, as_ascii), file=out, flush=True)
    else:
        print(f"error: {problem}", file=err, flush=True)


def _print_result(result: FileResult, out: TextIO, err: TextIO) -> None:
    if result.prediction is None:
        out.flush()
        print(f"error: {result.error}", file=err, flush=True)
        return
    print(display_path(result.path), file=out)
    prediction = result.prediction
    for rank, (index, label, probability) in enumerate(
        zip(prediction.indices, prediction.labels, prediction.probabilities, strict=True), start=1
    ):
        print(f"  {rank}. {100 * probability:6.2f}%  {printable(label)}  [{index}]", file=out)
    out.flush()


def run_profile(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    entry = choose_model(args.model, args.models_dir)
    if entry.preprocess is None:
        raise UsageError(f"{display_path(entry.path.name)}: model has no preprocessing")
    try:
        image = load_image(args.image, min_side=entry.preprocess.resize)
    except ImageLoadError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_FAILED
    model = _load(args, entry)
    if isinstance(model, OpenVinoModel):
        return _profile_openvino(model, image, args, out)
    assert isinstance(model, LoadedModel)  # open_model returns one of the two
    report = profile_model(model, image, runs=args.runs, warmup=args.warmup)
    rows = aggregate(report, args.depth) if args.group_by == "module" else group_by(report, args.group_by)
    if args.csv is not None:
        try:
            write_text_atomic(args.csv, to_csv(rows))  # a temporary file renamed into place: never half a CSV
        except OSError as exc:
            raise UsageError(f"{display_path(args.csv)}: cannot write CSV ({exc.strerror or exc})") from exc
    if args.json:
        try:
            text = to_json(report, rows, image=display_path(args.image), ensure_ascii=ascii_only(out))
        except ValueError as exc:  # allow_nan=False: a non-finite timing is refused, never written as NaN
            print(f"error: {printable(report.model)}: the profile holds non-finite numbers ({exc})", file=err)
            return EXIT_FAILED
        print(text, file=out)
    else:
        print_profile(report, rows, out)
    return EXIT_OK


def _profile_openvino(model: OpenVinoModel, image: Image.Image, args: argparse.Namespace, out: TextIO) -> int:
    """``profile`` on OpenVINO: its performance counters per layer, in module names, with the kernel column;
    ``--depth``/``--group-by`` sum them into blocks, op types or kernels."""
    profile = profile_openvino(model, input_batch(model.entry, image), runs=args.runs, warmup=args.warmup)
    groups = cli_engine.openvino_groups(profile, args.depth, args.group_by)
    if args.csv is not None:
        try:
            write_text_atomic(args.csv, cli_engine.openvino_profile_csv(profile, groups))
        except OSError as exc:
            raise UsageError(f"{display_path(args.csv)}: cannot write CSV ({exc.strerror or exc})") from exc
    if args.json:
        grouping = (args.group_by, args.depth)
        text = cli_engine.openvino_profile_json(
            model, profile, ascii_only(out), groups, grouping, image=display_path(args.image)
        )
        print(text, file=out)
    else:
        cli_engine.print_openvino_profile(model.entry.name, profile, None, out, groups, args.group_by)
    return EXIT_OK


def print_profile(report: ProfileReport, rows: Sequence[ProfileRow], out: TextIO) -> None:
    """The per-layer table plus the totals (sum of layer times vs measured wall time, first run)."""
    modules = [printable(r.module) for r in rows]
    op_types = [printable(r.op_types) for r in rows]
    width = max([len("module"), *map(len, modules)])
    ops = max([len("op types"), *map(len, op_types)])
    print(f"model: {printable(report.model)} on ONNX Runtime {', '.join(report.providers)}", file=out)
    print(
        f"{'module':<{width}}  {'op types':<{ops}}  kernel    median ms     p90 ms     min ms     max ms  share %"
        "  first run ms",
        file=out,
    )
    for r, module, op in zip(rows, modules, op_types, strict=True):
        spread = "  ".join(f"{t / 1000:9.3f}" for t in (r.p90_us, r.min_us, r.max_us))
        print(
            f"{module:<{width}}  {op:<{ops}}  {r.provider:<8}  {r.median_ms:9.3f}  {spread}  {r.share:7.1f}"
            f"  {r.first_run_ms:12.3f}",
            file=out,
        )
    print(
        f"sum of layer times {report.layer_sum_ms:.3f} ms; measured wall time {report.wall_ms:.3f} ms "
        f"(median of {report.runs} runs after {report.warmup} warm-up); "
        f"first run {report.first_run_ms:.3f} ms wall, {report.first_run_node_sum_us / 1000:.3f} ms in layers",
        file=out,
    )
    print(gap_note(report), file=out)
    if load_note(report):
        print(load_note(report), file=out)
