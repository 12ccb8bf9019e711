"""``python -m desktop_app inspect``: every layer of a model on one image, and where a second file drifts from it.

Prints one line per layer (PyTorch module names from the file's node map, ONNX names for foreign files):
output shape, mean, std, min, max and the share of zeros; int8 files show their dequantized values.
``--compare OTHER`` runs a second file of the same architecture (its int8 or fp16 version, say) on the
same image and adds each layer's signal-to-quantization-noise ratio in dB against the first
(``10*log10(sum(ref^2)/sum((ref-other)^2))``, matched by module name), then names the first layer below
``--threshold`` (default 20 dB). ``--csv`` writes the table (with a histogram per layer) atomically.
Exit codes: 0 done, 2 bad usage (unreadable image, unusable model, files of different architectures,
an unwritable --csv).

Example::

    python -m desktop_app inspect cat.jpg --model efficientnet_lite0-imagenet-1k-imagenet-fp32.onnx \\
        --compare efficientnet_lite0-imagenet-1k-imagenet-int8.onnx --csv layers.csv
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from desktop_app import cli_log
from desktop_app.core.catalog import ModelChoiceError, ModelEntry, choose_model
from desktop_app.core.inspect_layers import (
    DEFAULT_THRESHOLD_DB,
    InspectError,
    LayerComparison,
    LayerRun,
    check_comparable,
    compare_layers,
    first_below,
    inspect_layers,
    write_csv,
)
from desktop_app.core.providers import ModelLoadError, one_line
from workbench.imageio import ImageLoadError, load_image
from workbench.names import display_path, printable
from workbench.version import prog_name

MODULE_FORM = "python -m desktop_app"  # as desktop_app.cli names itself
EXIT_OK, EXIT_USAGE = 0, 2


class InspectUsageError(Exception):
    """Bad usage of ``inspect``: one line on stderr, exit code 2."""


def add_parser(
    commands: argparse._SubParsersAction, add_engine_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``inspect`` (``add_engine_options`` adds --models-dir and --provider, as for ``classify``)."""
    parser = commands.add_parser(
        "inspect",
        help="statistics of every layer on one image; per-layer SQNR against a second file (headless)",
        description="Inspect every layer of a model on one image (shape, mean, std, min, max, share of zeros), "
        "named after the PyTorch modules; with --compare, the per-layer SQNR of a second file of the same "
        "architecture (fp32 vs int8 or fp16) and the first layer below --threshold. Exit code 0 when done, "
        "2 on bad usage.",
    )
    parser.add_argument("image", metavar="IMAGE", help="the image to run")
    parser.add_argument(
        "--model",
        metavar="NAME_OR_FILE",
        help="an .onnx file, or a file stem / display name / architecture in the models folder "
        "(default: the first usable model, preferring efficientnet_lite0)",
    )
    add_engine_options(parser)
    parser.add_argument(
        "--compare", metavar="OTHER_FILE", help="a second file of the same architecture (e.g. the int8 version)"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD_DB,
        metavar="DB",
        help=f"name the first layer whose SQNR is below this many dB (default: {DEFAULT_THRESHOLD_DB:g})",
    )
    parser.add_argument("--csv", metavar="FILE", type=Path, help="also write the layer table to FILE as CSV")


def run_inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The ``inspect`` command; returns the exit code (bad usage: one line on ``err``, 2)."""
    try:
        return _inspect(args, out, err)
    except (InspectUsageError, InspectError, ModelChoiceError, ModelLoadError) as exc:
        print(f"{prog_name(MODULE_FORM)} inspect: error: {printable(one_line(str(exc)))}", file=err)
        return EXIT_USAGE


def _inspect(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.csv is not None and not args.csv.parent.resolve().is_dir():
        raise InspectUsageError(f"{display_path(args.csv)}: its folder does not exist")
    entry = choose_model(args.model, args.models_dir)
    other = choose_model(args.compare, args.models_dir) if args.compare is not None else None
    if other is not None:
        check_comparable(entry, other)
    try:
        image = load_image(args.image)
    except ImageLoadError as exc:
        raise InspectUsageError(str(exc)) from exc
    for model in (entry, other) if other is not None else (entry,):
        for notice in model.notices:
            cli_log.log().info("note: %s: %s", display_path(model.path.name), printable(notice))
    run = inspect_layers(entry, image, args.provider)
    comparison = None
    if other is not None:
        comparison = compare_layers(run, inspect_layers(other, image, args.provider))
    print(f"model: {printable(entry.name)} ({display_path(entry.path.name)}), {len(run.rows)} layers", file=out)
    if other is not None:
        print(f"compared with: {printable(other.name)} ({display_path(other.path.name)})", file=out)
    print_table(run, comparison, out)
    if comparison is not None:
        print(summary(comparison, args.threshold, _model_name(other)), file=out)
        if comparison.unmatched:
            print(
                f"{len(comparison.unmatched)} layers (sqnr_db '-') have no counterpart in {_model_name(other)} "
                "(e.g. a convolution whose activation the quantizer folded into it)",
                file=out,
            )
    if args.csv is not None:
        try:
            write_csv(args.csv, run.rows, comparison)
        except OSError as exc:
            raise InspectUsageError(f"{display_path(args.csv)}: cannot write ({exc.strerror or exc})") from exc
        print(f"csv: {display_path(args.csv)}", file=out)
    return EXIT_OK


def _model_name(entry: ModelEntry | None) -> str:
    return display_path(entry.path.name) if entry is not None else ""


def format_db(value: float) -> str:
    """An SQNR for people: "inf" for identical layers, else one decimal."""
    return "inf" if math.isinf(value) and value > 0 else "-inf" if math.isinf(value) else f"{value:.1f}"


def summary(comparison: LayerComparison, threshold: float, other: str) -> str:
    """One line: the first layer below ``threshold`` dB, or that none is (with the lowest)."""
    first = first_below(comparison, threshold)
    if first is not None:
        return (
            f"first layer below {threshold:g} dB: {printable(first.module)} ({format_db(first.sqnr_db)} dB) in {other}"
        )
    lowest = min(comparison.rows, key=lambda r: r.sqnr_db)
    return (
        f"every layer is at or above {threshold:g} dB (lowest: {printable(lowest.module)}, "
        f"{format_db(lowest.sqnr_db)} dB)"
    )


def print_table(run: LayerRun, comparison: LayerComparison | None, out: TextIO) -> None:
    """The layer table: module, op, shape, mean, std, min, max, zeros (and SQNR)."""
    sqnr = {r.module: r.sqnr_db for r in comparison.rows} if comparison is not None else None
    width = min(max((len(printable(r.module)) for r in run.rows), default=6), 48)
    head = f"{'layer':<{width}}  {'op':<18} {'shape':<18} {'mean':>10} {'std':>10} {'min':>10} {'max':>10} {'zeros':>6}"
    print(head + ("  sqnr_db" if sqnr is not None else ""), file=out)
    for row in run.rows:
        shape = "x".join(map(str, row.shape))
        line = (
            f"{printable(row.module):<{width}}  {row.op_type:<18} {shape:<18} {row.mean:>10.4g} {row.std:>10.4g} "
            f"{row.min:>10.4g} {row.max:>10.4g} {100 * row.zeros:>5.1f}%"
        )
        if sqnr is not None:
            value = sqnr.get(row.module)
            line += f"  {'-' if value is None else format_db(value):>7}"
        print(line, file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m desktop_app.cli_inspect inspect ...``: the command on its own, until ``desktop_app.cli`` has it."""
    from desktop_app.cli import _add_engine_options, escape_unencodable

    escape_unencodable(sys.stdout, sys.stderr)
    parser = argparse.ArgumentParser(prog=prog_name(MODULE_FORM))
    add_parser(parser.add_subparsers(dest="command", required=True), _add_engine_options)
    return run_inspect(parser.parse_args(argv), sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
