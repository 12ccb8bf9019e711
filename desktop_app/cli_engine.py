"""The engine flags of the headless commands: ``--engine``, ``--device``, ``--precision-hint``, ``--strict``.

``classify``, ``profile`` and ``evaluate`` open their model through :func:`open_from_args`, which applies the
Auto rule of :func:`desktop_app.core.runtime.open_model` (CUDA when it starts, else OpenVINO on a CPU with AMX,
else ONNX Runtime's CPU). ``--provider`` keeps working as before (ONNX Runtime on that provider) unless
``--engine`` or ``--device`` is given. ``--strict`` turns a run on anything but what was asked for (``--device
cuda`` that fell back to the CPU, ``--engine openvino`` that could not open the file) into exit code 1.
:func:`print_openvino_profile` prints OpenVINO's per-layer rows (module names, kernel, median/p90/min/max), or
the groups of :func:`desktop_app.core.openvino_profiling.group_layers` (``profile --depth D`` or ``--group-by
op|provider``; on OpenVINO "provider" means the kernel that ran each layer); the CSV and JSON forms follow them.

Example::

    python -m desktop_app classify cat.jpg --engine openvino --precision-hint bf16 --json
    python -m desktop_app classify cat.jpg --device cuda --strict     # exit 1 when CUDA did not run
    python -m desktop_app profile cat.jpg --engine openvino --runs 20
    python -m desktop_app profile cat.jpg --engine openvino --depth 1 --csv blocks.csv
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from typing import Any, TextIO

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.evaluate import file_sha256
from desktop_app.core.openvino_engine import OpenVinoModel
from desktop_app.core.openvino_profiling import LayerGroup, OpenVinoProfile, group_layers
from desktop_app.core.providers import PROVIDER_CHOICES
from desktop_app.core.runtime import (
    DEVICES,
    ENGINES,
    PRECISION_HINTS,
    EngineModel,
    open_model,
    parse_engine_choice,
    ran_text,
)
from workbench.environment import environment
from workbench.names import display_path, printable
from workbench.paths import ENV_VAR

__all__ = [
    "FlagError",
    "StrictError",
    "add_run_options",
    "choice_of",
    "engine_fields",
    "open_from_args",
    "openvino_groups",
    "openvino_profile_csv",
    "openvino_profile_json",
    "print_openvino_profile",
    "strict_problem",
]


class FlagError(Exception):
    """An impossible combination of engine flags (exit code 2); the message says which."""


class StrictError(Exception):
    """``--strict``: what ran is not what was asked for; the message is one line saying both."""


class _Explicit(argparse.Action):
    """Stores the value and remembers that the user gave the flag (``--provider`` vs ``--device``)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir", metavar="DIR", help=f"models folder (default: ${ENV_VAR} or the per-user folder)"
    )


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--models-dir``, ``--provider`` (older form), ``--engine``, ``--device``, ``--precision-hint``, ``--strict``."""
    add_models_dir(parser)
    parser.add_argument(
        "--provider",
        choices=PROVIDER_CHOICES,
        default="auto",
        action=_Explicit,
        help="ONNX Runtime execution provider (older form; --engine and --device supersede it) (default: auto)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        action=_Explicit,
        help="inference engine; auto: CUDA when it starts, else OpenVINO on a CPU with AMX (when installed), "
        "else ONNX Runtime on the CPU (default: auto)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        action=_Explicit,
        help="device to run on (cuda: ONNX Runtime; gpu, npu: OpenVINO's Intel devices) (default: auto)",
    )
    parser.add_argument(
        "--precision-hint",
        choices=PRECISION_HINTS,
        default="as-exported",
        help="compute precision: as exported, or bf16 (OpenVINO, only on a CPU with native bfloat16) "
        "(default: as-exported)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when the engine or device that ran is not the one asked for (e.g. --device cuda fell back)",
    )


def choice_of(args: argparse.Namespace) -> tuple[str, str, str]:
    """``(engine, device, precision)`` from the flags; ``--provider`` alone means ONNX Runtime on that provider."""
    engine = getattr(args, "engine", "auto")
    device = getattr(args, "device", "auto")
    precision = getattr(args, "precision_hint", "as-exported")
    given = getattr(args, "engine_given", False) or getattr(args, "device_given", False)
    if getattr(args, "provider_given", False) and not given:
        return "onnxruntime", args.provider, precision
    return engine, device, precision


def open_from_args(entry: ModelEntry, args: argparse.Namespace) -> EngineModel:
    """Open ``entry`` as the flags ask (:func:`~desktop_app.core.runtime.open_model`).

    Raises:
        ModelLoadError: the engine refused the file (Bf16UnavailableError: bf16 where the CPU lacks it).
        FlagError: an impossible combination of flags (the message says which).
    """
    try:
        engine, device, precision = parse_engine_choice(*choice_of(args))
    except ValueError as exc:
        raise FlagError(str(exc)) from exc
    return open_model(entry, engine=engine, device=device, precision=precision)


def strict_problem(asked: tuple[str, str, str], model: EngineModel) -> str | None:
    """``None`` when what ran matches what was asked for, else one line saying what ran instead."""
    engine, device, _ = asked
    wrong = []
    if engine != "auto" and engine != model.engine:
        wrong.append(f"--engine {engine}")
    if device not in ("auto",) and device.upper() != model.device.split(",")[0].strip().upper():
        wrong.append(f"--device {device}")
    if not wrong:
        return None
    why = f": {printable(model.fallback_reason)}" if model.fallback_reason else ""
    return f"--strict: {' and '.join(wrong)} asked for, but the model ran on {ran_text(model)}{why}"


def check_strict(args: argparse.Namespace, model: EngineModel) -> None:
    """Raise :class:`StrictError` under ``--strict`` when what ran is not what was asked for."""
    if getattr(args, "strict", False):
        problem = strict_problem(choice_of(args), model)
        if problem is not None:
            raise StrictError(problem)


def engine_fields(model: EngineModel) -> dict[str, object]:
    """What ran, for JSON lines and reports: engine, device, precision and any fallback."""
    return {
        "engine": model.engine,
        "device": model.device,
        "precision": model.precision,
        "fallback_reason": None if model.fallback_reason is None else printable(model.fallback_reason),
    }


def openvino_groups(profile: OpenVinoProfile, depth: int, group_by: str) -> list[LayerGroup] | None:
    """``profile --depth/--group-by`` on OpenVINO: ``None`` for the single layers (module, depth 0), else the groups
    of :func:`~desktop_app.core.openvino_profiling.group_layers`."""
    if group_by == "module" and not depth:
        return None
    return group_layers(profile, depth, group_by)


def print_openvino_profile(
    name: str,
    profile: OpenVinoProfile,
    rows_limit: int | None,
    out: TextIO,
    groups: Sequence[LayerGroup] | None = None,
    group_by: str = "module",
) -> None:
    """OpenVINO's per-layer table: module, op type, kernel, median, p90, min, max (ms), then the totals; with
    ``groups`` (grouped by ``group_by``), one row per group instead."""
    if groups is not None:
        _print_groups(name, profile, groups if rows_limit is None else groups[:rows_limit], group_by, out)
        return
    rows: Sequence[Any] = profile.rows if rows_limit is None else profile.rows[:rows_limit]
    modules = [printable(r.module) for r in rows]
    ops = [printable(r.op_type) for r in rows]
    kernels = [printable(r.kernel) for r in rows]
    mw = max([len("module"), *map(len, modules)])
    ow = max([len("op type"), *map(len, ops)])
    kw = max([len("kernel"), *map(len, kernels)])
    print(f"model: {printable(name)} on OpenVINO {profile.device}, {profile.precision}", file=out)
    header = f"{'module':<{mw}}  {'op type':<{ow}}  {'kernel':<{kw}}  median ms     p90 ms     min ms     max ms"
    print(header, file=out)
    for r, module, op, kernel in zip(rows, modules, ops, kernels, strict=True):
        times = "  ".join(f"{t / 1000:9.3f}" for t in (r.median_us, r.p90_us, r.min_us, r.max_us))
        print(f"{module:<{mw}}  {op:<{ow}}  {kernel:<{kw}}  {times}", file=out)
    _print_totals(profile, out)


def _print_totals(profile: OpenVinoProfile, out: TextIO) -> None:
    print(
        f"sum of layer times {profile.layer_sum_us / 1000:.3f} ms; measured wall time "
        f"{profile.wall_median_us / 1000:.3f} ms (median of {profile.runs} runs after {profile.warmup} warm-up); "
        f"{profile.mapped_share():.1f}% of the layer time is in PyTorch module names; "
        f"{profile.not_run} layers fused or optimised out",
        file=out,
    )


#: A grouping's name column, and the other column it shows (module blocks and kernels: op types; op types: kernels).
_GROUP_COLUMNS = {"module": ("module", "op types"), "op": ("op type", "kernels"), "provider": ("kernel", "op types")}


def _print_groups(
    name: str, profile: OpenVinoProfile, groups: Sequence[LayerGroup], group_by: str, out: TextIO
) -> None:
    label, other = _GROUP_COLUMNS[group_by]
    names = [printable(g.name) for g in groups]
    others = [printable(g.kernels if group_by == "op" else g.op_types) for g in groups]
    nw = max([len(label), *map(len, names)])
    ow = max([len(other), *map(len, others)])
    print(f"model: {printable(name)} on OpenVINO {profile.device}, {profile.precision}", file=out)
    print(f"{label:<{nw}}  layers  {other:<{ow}}  median ms     p90 ms     min ms     max ms  share %", file=out)
    for g, shown, also in zip(groups, names, others, strict=True):
        times = "  ".join(f"{t / 1000:9.3f}" for t in (g.median_us, g.p90_us, g.min_us, g.max_us))
        print(f"{shown:<{nw}}  {g.layers:6d}  {also:<{ow}}  {times}  {g.share:7.1f}", file=out)
    print("a group's times are taken over the runs of the sum of its layers' times in each run", file=out)
    _print_totals(profile, out)


def _layer_dict(row: Any) -> dict[str, object]:
    return {
        "module": printable(row.module),
        "node": printable(row.node),
        "op_type": printable(row.op_type),
        "kernel": printable(row.kernel),
        **{f"{name}_ms": round(getattr(row, f"{name}_us") / 1000, 6) for name in ("median", "p90", "min", "max")},
    }


def _group_dict(group: LayerGroup) -> dict[str, object]:
    return {
        "group": printable(group.name),
        "layers": group.layers,
        "op_types": printable(group.op_types),
        "kernels": printable(group.kernels),
        **{f"{name}_ms": round(getattr(group, f"{name}_us") / 1000, 6) for name in ("median", "p90", "min", "max")},
        "share_percent": round(group.share, 4),
    }


def openvino_profile_csv(profile: OpenVinoProfile, groups: Sequence[LayerGroup] | None = None) -> str:
    """OpenVINO's per-layer table as CSV (times in milliseconds), or one line per group of ``groups``."""
    buffer = io.StringIO()
    if groups is None:
        fields: tuple[str, ...] = ("module", "node", "op_type", "kernel", "median_ms", "p90_ms", "min_ms", "max_ms")
        records = [_layer_dict(row) for row in profile.rows]
    else:
        fields = ("group", "layers", "op_types", "kernels", "median_ms", "p90_ms", "min_ms", "max_ms", "share_percent")
        records = [_group_dict(group) for group in groups]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


def openvino_profile_json(
    model: EngineModel,
    profile: OpenVinoProfile,
    ensure_ascii: bool,
    groups: Sequence[LayerGroup] | None = None,
    grouping: tuple[str, int] = ("module", 0),
    image: str | None = None,
) -> str:
    """The OpenVINO profile as strict JSON: what ran, the totals and one object per layer (or per group of
    ``groups``; ``grouping`` is ``(group_by, depth)``, recorded as given).

    Like ONNX Runtime's (:func:`desktop_app.core.profiling.to_json`) it records the model file and its sha256,
    ``image`` (what was measured; None: not named), the versions, the CPU, the threads asked for and the load.
    """
    summary = {
        "model": printable(model.entry.name),
        "model_file": display_path(model.entry.path),
        "model_sha256": file_sha256(model.entry.path),
        "image": None if image is None else printable(image),
        **engine_fields(model),
        **environment(model.threads if isinstance(model, OpenVinoModel) else None),
        "runs": profile.runs,
        "warmup": profile.warmup,
        "wall_median_ms": round(profile.wall_median_us / 1000, 6),
        "layer_sum_ms": round(profile.layer_sum_us / 1000, 6),
        "mapped_percent": round(profile.mapped_share(), 3),
        "not_run": profile.not_run,
        "group_by": grouping[0],
        "depth": grouping[1],
        "rows": [_layer_dict(row) for row in profile.rows] if groups is None else [_group_dict(g) for g in groups],
    }
    return json.dumps(summary, indent=2, ensure_ascii=ensure_ascii, allow_nan=False)
