"""The ``train`` subcommand: argparse registration and the run from data folder to exported ONNX file.

``python -m exporter train`` reads an ImageFolder (``--data``) or a VOC 2012 devkit (``--voc``), trains
(full fine-tuning / from scratch, or ``--freeze-backbone``), keeps the best checkpoint by validation top-1,
measures it on the test split and exports it, with the metrics in the ONNX metadata, to the models folder.
Everything a run writes goes to ``--out``: ``split.json``, ``log.csv``/``log.json``, ``best.pt``, ``last.pt``
(resumable; also written on Ctrl+C) and ``<name>.pt`` (the exported checkpoint); without ``--out`` that is
``runs/<data folder>-<model>``. The data folder is checked before anything else. ``--resume`` continues with
the run's own plan, its ``--models-dir`` and ``--cache-dir`` included (a flag given again overrides them).
Temporary files that a killed run left in the run folder are removed when the next run starts there.

Example::

    python -m exporter train --model resnet18 --data ~/digits --weights random --image-size 32 \\
        --epochs 8 --batch-size 64 --lr 0.002 --optimizer adamw --out runs/digits
    python -m exporter train --resume runs/digits/last.pt
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import models
from exporter.cliutil import WEIGHTS_HELP, DefaultsFormatter, ModelName, add_verbosity, prog_name, setup_logging
from exporter.errors import ExporterError
from exporter.train import checkpoint
from exporter.train.data import TrainDataError, read_image_folder
from exporter.train.distributed import Dist, init_distributed, shutdown
from exporter.train.loop import Interrupted, TrainConfig, accuracy_text, stop_request
from exporter.train.plan import Plan
from exporter.train.run import build_run
from workbench.atomic import ATOMIC_TEMP, remove_stale_temps, write_atomic, write_text_atomic

LR_DEFAULTS = {"sgd": 0.05, "adamw": 1e-3}
# Files of the run folder that <name>.pt must not overwrite (best.pt, last.pt, log.json, split.json, ...).
RESERVED_STEMS = {"best", "last", "log", "split", "bad_images"}
LAYOUT = (
    "DIR/<class>/<image files> (split 8:1:1 per class) or DIR/train|val|test/<class>/<image files> (test/ optional)"
)


def add_train_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``train`` on the exporter's subcommands (every default is shown in its ``--help``)."""
    p = sub.add_parser(
        "train",
        help="fine-tune or train a model on ImageFolder / Pascal VOC data, then export it",
        description="Train any registered architecture on an ImageFolder or a VOC 2012 devkit and export "
        "the best checkpoint (by val top-1) with its metrics. See docs/training.md.",
        formatter_class=DefaultsFormatter,
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", metavar="DIR", help=f"ImageFolder: {LAYOUT}")
    src.add_argument("--voc", metavar="PATH", help="a Pascal VOC 2012 devkit folder (JPEGImages/, Annotations/, ...)")
    p.add_argument("--model", metavar="NAME", action=ModelName, help="architecture (see `list`)")
    p.add_argument("--weights", metavar="SOURCE", default="imagenet", help="starting weights: " + WEIGHTS_HELP)
    p.add_argument("--freeze-backbone", action="store_true", help="train only a new head on cached features")
    p.add_argument("--epochs", type=int, default=10, metavar="N", help="passes over the training split")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="global batch size (split over processes)")
    p.add_argument("--optimizer", choices=("sgd", "adamw"), default="sgd", help="optimizer")
    p.add_argument("--lr", type=float, help="peak learning rate (default: sgd 0.05, adamw 0.001)")
    p.add_argument("--weight-decay", type=float, default=5e-5, help="weight decay")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warm-up, in epochs")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing of the training loss")
    p.add_argument(
        "--image-size", type=int, metavar="PX", help="train and export at this square size (default: the native one)"
    )
    p.add_argument("--crop-scale", type=float, default=0.08, help="random resized crop: smallest area fraction")
    p.add_argument("--shift", type=float, default=0.1, help="random shift, fraction of the size")
    p.add_argument("--shear", type=float, default=10.0, help="random shear, degrees")
    p.add_argument("--zoom", type=float, default=0.1, help="random zoom, +- fraction")
    p.add_argument("--hflip", type=float, default=0.5, help="horizontal flip probability")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the initialisation and the augmentation")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--no-amp", action="store_true", help="no mixed precision on CUDA")
    p.add_argument(
        "--out", metavar="DIR", help="run folder for checkpoints, split.json and logs (default: runs/<data>-<model>)"
    )
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue a run from its last.pt")
    p.add_argument("--name", help="name of the exported model (default: the run folder's name)")
    p.add_argument("--models-dir", metavar="DIR", help="where the ONNX file goes (default: the models directory)")
    p.add_argument("--no-export", action="store_true", help="do not export the best checkpoint to ONNX")
    p.add_argument(
        "--cache-dir", metavar="DIR", help="feature cache for --freeze-backbone (default: the user cache folder)"
    )
    p.add_argument("--stop-after-steps", type=int, default=0, help=argparse.SUPPRESS)
    add_verbosity(p, "no progress bar: the epoch summaries, warnings and errors only")
    return p


def check_data(args: argparse.Namespace) -> None:
    """The data folder first: it exists and has a layout training can read (a clear message naming it if not)."""
    if args.data:
        try:
            read_image_folder(Path(args.data).expanduser(), args.seed)
        except TrainDataError as exc:
            raise ExporterError(f"--data: {exc}; expected {LAYOUT}") from None
    elif args.voc:
        root = Path(args.voc).expanduser()
        missing = [name for name in ("JPEGImages", "Annotations") if not (root / name).is_dir()]
        if missing:
            raise ExporterError(
                f"--voc {args.voc}: not a VOC 2012 devkit folder (no {' or '.join(missing)}/ in it; expected "
                f"{root}/JPEGImages/*.jpg, {root}/Annotations/*.xml, {root}/ImageSets/Main/*.txt)"
            )
    else:
        raise ExporterError(f"--data DIR or --voc PATH is required (an ImageFolder: {LAYOUT})")


def default_out(args: argparse.Namespace) -> Path:
    """``runs/<data folder name>-<model>`` under the current folder: the run folder when --out is not given."""
    source = Path(args.data or args.voc).expanduser().resolve()
    return Path("runs") / f"{source.name or 'data'}-{args.model}"


def plan_from_args(args: argparse.Namespace) -> tuple[Plan, Path, dict[str, Any] | None]:
    """The run's plan and folder, from the flags or (``--resume``) from the checkpoint."""
    if args.resume:
        ckpt = checkpoint.load_resumable(args.resume, args.model)
        try:
            plan = Plan(**ckpt.get("config", {}))
        except TypeError as exc:
            raise checkpoint.CheckpointError(f"{args.resume}: its run configuration is unreadable ({exc})") from exc
        plan.train |= {"workers": args.workers, "stop_after_steps": args.stop_after_steps}
        plan.models_dir = _absolute(args.models_dir) or plan.models_dir
        plan.cache_dir = _absolute(args.cache_dir) or plan.cache_dir
        return plan, Path(args.out or Path(args.resume).expanduser().parent), ckpt
    check_data(args)
    if not args.model:
        raise ExporterError("--model is required (or --resume a checkpoint)")
    _check_numbers(args)
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr or LR_DEFAULTS[args.optimizer],
        optimizer=args.optimizer, momentum=args.momentum, weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs, label_smoothing=args.label_smoothing, seed=args.seed,
        workers=args.workers, amp=not args.no_amp, stop_after_steps=args.stop_after_steps,
    )  # fmt: skip
    out = Path(args.out).expanduser() if args.out else default_out(args)
    plan = Plan(
        model=args.model, data=args.data and str(Path(args.data).expanduser().resolve()),
        voc=args.voc and str(Path(args.voc).expanduser().resolve()), weights=args.weights,
        image_size=args.image_size, freeze_backbone=args.freeze_backbone, crop_scale=args.crop_scale,
        shift=args.shift, shear=args.shear, zoom=args.zoom, hflip=args.hflip,
        name=args.name or out.resolve().name, train=asdict(cfg),
        models_dir=_absolute(args.models_dir), cache_dir=_absolute(args.cache_dir),
    )  # fmt: skip
    return plan, out, None


def _absolute(folder: str | None) -> str | None:
    """A folder flag as an absolute path, so a resumed run started elsewhere finds the same folder."""
    return str(Path(folder).expanduser().absolute()) if folder else None


def _check_numbers(args: argparse.Namespace) -> None:
    checks = [
        (args.epochs >= 1, f"--epochs {args.epochs}: must be >= 1"),
        (args.batch_size >= 1, f"--batch-size {args.batch_size}: must be >= 1"),
        (args.lr is None or args.lr > 0, f"--lr {args.lr}: must be > 0"),
        (0 < args.crop_scale <= 1, f"--crop-scale {args.crop_scale}: must be in (0, 1]"),
        (0 <= args.hflip <= 1, f"--hflip {args.hflip}: must be in [0, 1]"),
        (0 <= args.label_smoothing < 1, f"--label-smoothing {args.label_smoothing}: must be in [0, 1)"),
        (args.workers >= 0, f"--workers {args.workers}: must be >= 0"),
    ]
    spec = models.get_spec(args.model)
    if args.image_size is not None:
        checks.append((args.image_size >= max(spec.min_size[0], 8), f"--image-size {args.image_size}: too small"))
    for ok, message in checks:
        if not ok:
            raise ExporterError(message)


def run_train(args: argparse.Namespace) -> int:
    """Entry point of ``python -m exporter train`` (returns the exit code; 130 after Ctrl+C)."""
    group = init_distributed()
    try:
        return _run(args, group)
    finally:
        shutdown(group)


def _run(args: argparse.Namespace, group: Dist) -> int:
    from exporter.api import writable_dir

    plan, out, resumed = plan_from_args(args)
    if group.main:
        writable_dir(out, "run folder")
        for note in remove_stale_temps(out, ATOMIC_TEMP).notes():
            _say(group, note)
    run = build_run(plan, out, group, plan.cache_dir)
    if group.main:
        write_text_atomic(out / "split.json", json.dumps(run.splits.to_json(), indent=1) + "\n")
    if resumed is not None:
        run.trainer.restore(resumed)
        _say(group, f"resuming {plan.model} at epoch {run.trainer.state.epoch + 1}, batch {run.trainer.state.batch}")
    try:
        with stop_request() as stop:
            run.trainer.fit(stop)
    except Interrupted as exc:
        _say(group, f"interrupted: resumable checkpoint {exc.path}\ncontinue with: {prog_name()} train "
             f"--resume {exc.path}")  # fmt: skip
        return 130
    metrics = run.finish()
    if group.main:
        final = out / f"{export_stem(plan.name)}.pt"
        with (out / "best.pt").open("rb") as best:
            write_atomic(final, lambda f: shutil.copyfileobj(best, f))
        _say(group, final_summary(metrics, len(run.splits.classes)))
        if not args.no_export:
            _export(plan, final, plan.models_dir)
    return 0


def final_summary(metrics: dict[str, Any], classes: int) -> str:
    """``test (30 images): loss 0.4123, top-1 93.33%`` (``val`` when there is no test split; top-5 from 5 classes)."""
    split = "val" if metrics.get("test_is_val") else "test"
    images = int(metrics.get("test_images", 0))
    return f"{split} ({images} images): loss {metrics['test_loss']:.4f}, {accuracy_text(metrics, 'test', classes)}"


def _export(plan: Plan, checkpoint_path: Path, models_dir: str | None) -> None:
    from exporter.api import describe, export_model

    native = models.get_spec(plan.model).crop_size
    size = plan.image_size if plan.image_size not in (None, native) else None
    result = export_model(plan.model, str(checkpoint_path), models_dir, image_size=size, force=True, progress=False)
    describe(result)


def export_stem(name: str) -> str:
    """The run name as the stem of ``<name>.pt`` in the run folder: one plain file name, never best/last/log/split."""
    stem = "".join(c if c.isalnum() or c in "_." else "_" for c in name).strip("._")[:64].strip("._") or "model"
    return f"{stem}_model" if stem.lower() in RESERVED_STEMS else stem


def _say(group: Dist, text: str) -> None:
    if group.main:
        print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m exporter.train ARGS`` == ``python -m exporter train ARGS`` (errors: one line, exit 2)."""
    parser = argparse.ArgumentParser(prog="python -m exporter")
    add_train_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *(sys.argv[1:] if argv is None else argv)])
    setup_logging(args.verbosity)
    try:
        return run_train(args)
    except ExporterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
