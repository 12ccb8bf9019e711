"""``python -m desktop_app evaluate``: accuracy of one or more models on a labelled folder, CSV or VOC devkit.

Per model: images, top-1, top-5, images/s, median latency and what ran it, printed as a table; with
several models, their top-1 agreement. ``--out DIR`` writes ``predictions.csv``, ``report.json`` and
``report.html`` there (docs/evaluate.md), each complete or absent. A progress bar is drawn on a
terminal only. Exit codes as ``classify``: 0 every image worked, 1 some image failed, 2 bad usage or
nothing usable to evaluate (no labelled images, no class the model knows, an unwritable --out).

Example::

    python -m desktop_app evaluate ~/data/pets --model efficientnet_lite0 --model efficientnet_lite0-int8 --out pets
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
from tqdm import tqdm

from desktop_app import cli_engine, cli_log
from desktop_app.core.catalog import ModelEntry, choose_model
from desktop_app.core.evaluate import ModelEvaluation, compare, evaluate_model
from desktop_app.core.labelled import LabelledDataError, LabelledSet, read_labelled, read_mapping, unknown_counts
from desktop_app.core.providers import NO_NVIDIA_GPU
from desktop_app.core.runtime import int8_cpu_note, ran_text
from workbench.names import display_path, printable
from workbench.paths import dir_problem


class EvaluateUsageError(Exception):
    """Nothing usable to evaluate, or an unusable flag: one line on stderr, exit code 2."""


def add_parser(
    commands: argparse._SubParsersAction, add_engine_options: Callable[[argparse.ArgumentParser], None]
) -> None:
    """Register ``evaluate`` (``add_engine_options`` adds --models-dir and the engine flags, as for ``classify``)."""
    parser = commands.add_parser(
        "evaluate",
        help="accuracy of models on labelled images (headless)",
        description="Evaluate models on labelled images: an ImageFolder (DIR/<class>/*; with train/ val/ "
        "test/, test/ is used, else val/), a CSV/TSV of path,label, or a Pascal VOC 2012 devkit (its val "
        "split). Folder names are matched to the model's labels by name (case and separators ignored), by "
        "ImageNet WordNet id, or by --mapping. Exit code 0 when every image worked, 1 when some failed, "
        "2 on bad usage or when nothing can be evaluated.",
    )
    parser.add_argument("data", metavar="DATA", help="labelled images: a folder, a CSV/TSV file or a VOC devkit")
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME_OR_FILE",
        help="a model to evaluate (repeat for several: e.g. a file's fp32 and int8 versions); an .onnx file, "
        "or a file stem / display name / architecture in the models folder (default: the first usable model)",
    )
    add_engine_options(parser)
    parser.add_argument(
        "--split", metavar="NAME", help="the split folder or VOC image set to read (default: test, else val)"
    )
    parser.add_argument(
        "--mapping", metavar="FILE", type=Path, help="a CSV of class,label rows naming the model label of a class"
    )
    parser.add_argument("--top-k", type=int, default=5, metavar="K", help="classes kept per image (default: 5)")
    parser.add_argument(
        "--out", metavar="DIR", type=Path, help="write predictions.csv, report.json and report.html here"
    )


def run_evaluate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The ``evaluate`` command; returns the exit code (raises EvaluateUsageError for exit code 2)."""
    if args.top_k < 1:
        raise EvaluateUsageError(f"--top-k {args.top_k}: expected a whole number >= 1")
    if args.out is not None:
        _check_writable(args.out)
    try:
        labelled = read_labelled(args.data, split=args.split)
        mapping = read_mapping(args.mapping) if args.mapping is not None else None
    except LabelledDataError as exc:
        raise EvaluateUsageError(str(exc)) from exc
    for problem in labelled.problems:
        cli_log.log().warning("warning: %s", printable(problem))
    print(
        f"data: {display_path(labelled.root)} ({labelled.layout}"
        + (f", split {labelled.split}" if labelled.split else "")
        + f"): {len(labelled.items)} images, {len(labelled.classes)} classes",
        file=out,
    )
    entries = [choose_model(spec, args.models_dir) for spec in (args.model or [None])]
    evaluations = [_evaluate_one(entry, labelled, mapping, args, err) for entry in entries]
    usable = [e for e in evaluations if e.metrics.images]
    if not usable:
        raise EvaluateUsageError(f"{display_path(labelled.root)}: no image of a class the models know was classified")
    comparison = compare(evaluations) if len(evaluations) > 1 else None
    _print_summary(evaluations, out)
    if comparison is not None:
        _print_agreement(comparison.names, comparison.agreement, comparison.note, len(comparison.disagree), out)
    if args.out is not None:
        from desktop_app.core.report import write_report

        try:
            paths = write_report(args.out, labelled, evaluations, comparison)
        except OSError as exc:
            raise EvaluateUsageError(
                f"{display_path(args.out)}: cannot write the report ({exc.strerror or exc})"
            ) from exc
        print(f"report: {', '.join(display_path(p) for p in paths)}", file=out)
    failed = sum(len(e.failures) for e in evaluations)
    return 1 if failed else 0


def _check_writable(folder: Path) -> None:
    """Fail before the long run when ``--out`` cannot be a writable folder."""
    problem = dir_problem(folder)
    if problem is not None:
        raise EvaluateUsageError(f"--out: {problem}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvaluateUsageError(f"--out {display_path(folder)}: cannot create it ({exc.strerror or exc})") from exc
    if not os.access(folder, os.W_OK | os.X_OK):
        raise EvaluateUsageError(f"--out {display_path(folder)}: folder is not writable")


def _evaluate_one(
    entry: ModelEntry, labelled: LabelledSet, mapping: dict[str, str] | None, args: argparse.Namespace, err: TextIO
) -> ModelEvaluation:
    model = cli_engine.open_from_args(entry, args)
    for notice in entry.notices:
        cli_log.log().info("note: %s: %s", display_path(entry.path.name), printable(notice))
    if model.fallback_reason == NO_NVIDIA_GPU:  # Auto did not try CUDA: one quiet line, as classify says it
        cli_log.log().info("note: running on %s: %s", ran_text(model), NO_NVIDIA_GPU)
    elif model.fallback_reason and model.device == "CPU" and cli_engine.choice_of(args)[1] != "cpu":
        cli_log.log().warning("warning: running on %s: %s", ran_text(model), printable(model.fallback_reason))
    if (saturates := int8_cpu_note(model)) is not None:  # the accuracy measured here is this CPU's, not the file's
        cli_log.log().info("note: %s: %s", display_path(entry.path.name), saturates)
    cli_engine.check_strict(args, model)
    bar = tqdm(
        total=len(labelled.items),
        desc=printable(entry.name)[:30],
        unit="img",
        file=err,
        disable=not _is_terminal(err) or cli_log.quiet(),
        leave=False,
    )
    try:
        evaluation = evaluate_model(
            model, labelled, mapping=mapping, top_k=args.top_k, progress=lambda done, _total: bar.update(1)
        )
    except LabelledDataError as exc:
        raise EvaluateUsageError(str(exc)) from exc
    finally:
        bar.close()
    unknown = unknown_counts(labelled, evaluation.match)
    for name in evaluation.match.unknown:
        reason = evaluation.match.reasons.get(name, "no label of the model matches it")
        cli_log.log().warning(
            f"warning: {printable(entry.name)}: class {printable(name)!r} ({unknown.get(name, 0)} images) is not "
            f"one of the model's labels ({printable(reason)}); its images count as unknown"
        )
    for _item, error in evaluation.failures:
        print(f"error: {printable(error)}", file=err)
    return evaluation


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def _print_summary(evaluations: Sequence[ModelEvaluation], out: TextIO) -> None:
    header = ("model", "ran on", "images", "failed", "unknown", "top-1", "top-5", "img/s", "latency ms")
    rows = []
    for e in evaluations:
        ips = e.images_per_second
        rows.append(
            (
                printable(e.name),
                ran_text(e.model),
                str(e.metrics.images),
                str(len(e.failures)),
                str(e.metrics.unknown_images),
                _percent(e.metrics.top1),
                _percent(e.metrics.top5),
                "—" if ips is None else f"{ips:.1f}",
                "—" if e.latency_ms is None else f"{e.latency_ms:.2f}",
            )
        )
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(len(header))]
    for line in (header, *rows):
        cells = [line[0].ljust(widths[0]), line[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(line[2:], widths[2:], strict=True)]
        print("  ".join(cells), file=out)


def _print_agreement(names: Sequence[str], agreement: np.ndarray, note: str | None, disagree: int, out: TextIO) -> None:
    print("top-1 agreement:", file=out)
    shown = [printable(n) for n in names]
    width = max(len(n) for n in shown)
    for name, row in zip(shown, agreement, strict=True):
        print(f"  {name:<{width}}  " + "  ".join(f"{100 * float(v):6.2f}%" for v in row), file=out)
    print(f"  images where the models disagree: {disagree}", file=out)
    if note:
        print(f"  note: {note}", file=out)
