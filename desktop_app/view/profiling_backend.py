"""Maps the core profilers onto the Timing tab's plain rows: ONNX Runtime's (:mod:`desktop_app.core.profiling`)
or OpenVINO's (:mod:`desktop_app.core.openvino_profiling`), whichever engine the model was loaded on.

``profile`` runs inside a worker and times the model on the engine it was loaded on: a :class:`ProfileReport`
for ONNX Runtime, an :class:`OpenVinoReport` for OpenVINO (its performance counters per layer, named after the
PyTorch modules, with the kernel that ran each). ``timing_table`` and ``export_text`` are cheap and run on the
GUI thread whenever the grouping changes. On OpenVINO the table's "Provider" column is the kernel and its last
column the p90 over the timed runs (OpenVINO's counters are read in the timed runs only); the exports are those
of ``python -m desktop_app profile --engine openvino --csv/--json`` (:mod:`desktop_app.cli_engine`).

Example::

    python -c "from desktop_app.view.profiling_backend import profile; help(profile)"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from desktop_app import cli_engine
from desktop_app.core.openvino_engine import OpenVinoModel
from desktop_app.core.openvino_profiling import OpenVinoProfile, group_layers, profile_openvino
from desktop_app.core.profiling import (
    DEFAULT_WARMUP,
    GRAPH_PREFIX,
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
    wall_gap_note,
)
from desktop_app.core.runtime import EngineModel, ran_text
from desktop_app.view.timing_panel import COLUMNS, NODES, OP_TYPES, PROVIDERS, TimingRow, TimingTable
from workbench.environment import busy_note, load_average
from workbench.imageio import load_image

WARMUP_RUNS = DEFAULT_WARMUP
#: The table's columns for an OpenVINO profile: the kernel that ran each layer, and the p90 instead of a first run.
OPENVINO_COLUMNS = (*COLUMNS[:2], "Kernel", *COLUMNS[3:5], "p90 (ms)")


@dataclass(frozen=True)
class OpenVinoReport:
    """An OpenVINO per-layer profile and the model it ran on (what ran, for the summary and the JSON export)."""

    engine_model: OpenVinoModel
    profile: OpenVinoProfile
    load_average: tuple[float, float, float] | None = None  # os.getloadavg() right after the timed runs

    @property
    def model(self) -> str:
        return self.engine_model.entry.name

    @property
    def model_file(self) -> str:
        return str(self.engine_model.entry.path)

    @property
    def runs(self) -> int:
        return self.profile.runs


#: What the Timing tab holds and exports: a profile on ONNX Runtime or on OpenVINO.
Report = ProfileReport | OpenVinoReport


def profile(
    model: EngineModel,
    source: str | bytes | None,
    runs: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Report:
    """Profile ``model`` on the engine (and provider) it was loaded on, on ``source``, or a grey image when None.

    ``progress(done, total)`` and ``cancelled()`` go to the core profiler; a cancelled profile raises
    :class:`desktop_app.core.profiling.ProfileCancelled` on either engine.
    """
    entry = model.entry
    preprocess = entry.preprocess
    if preprocess is None:
        raise ValueError(f"{entry.path.name}: model has no preprocessing description")
    image = load_image(source, min_side=preprocess.resize) if source is not None else None
    sample = image if image is not None else np.zeros(preprocess.output_shape, dtype=np.float32)
    if isinstance(model, OpenVinoModel):
        batch = input_batch(entry, sample)
        found = profile_openvino(model, batch, runs, WARMUP_RUNS, progress=progress, cancelled=cancelled)
        return OpenVinoReport(model, found, load_average())
    return profile_model(
        entry,
        sample,
        provider=model.requested,
        runs=runs,
        warmup=WARMUP_RUNS,
        progress=progress,
        cancelled=cancelled,
    )


def engine_text(model: EngineModel) -> str:
    """What a profile of ``model`` runs on, in words: ``OpenVINO CPU, bf16`` or ``ONNX Runtime CPU, fp32``."""
    return ran_text(model)


def provider_label(report: Report) -> str:
    """The name of the panel's provider grouping and column: "Kernel" on OpenVINO, else "Provider"."""
    return OPENVINO_COLUMNS[2] if isinstance(report, OpenVinoReport) else COLUMNS[2]


def max_depth(report: Report) -> int:
    """Deepest module path in the report (``layer3.1.conv2`` -> 3)."""
    rows = report.profile.rows if isinstance(report, OpenVinoReport) else report.rows
    depths = [len(r.module.split(".")) for r in rows if not r.module.startswith(GRAPH_PREFIX)]
    return max(depths, default=1)


def rows_at(report: ProfileReport, depth: int) -> list[ProfileRow]:
    """The rows for the panel's grouping: single nodes, a module depth, op types or providers."""
    if depth == OP_TYPES:
        return group_by(report, "op")
    if depth == PROVIDERS:
        return group_by(report, "provider")
    return list(report.rows) if depth == NODES else aggregate(report, depth)


def openvino_grouping(depth: int) -> tuple[str, int]:
    """The panel's grouping as :func:`~desktop_app.core.openvino_profiling.group_layers` takes it: ``(by, depth)``
    (single nodes: ``("module", 0)``; op types: ``("op", 0)``; providers, i.e. kernels: ``("provider", 0)``)."""
    if depth == OP_TYPES:
        return "op", 0
    if depth == PROVIDERS:
        return "provider", 0
    return "module", max(depth, 0)


def timing_table(report: Report, depth: int) -> TimingTable:
    if isinstance(report, OpenVinoReport):
        return _openvino_table(report, depth)
    rows = [
        TimingRow(
            name=row.module,
            op_types=row.op_types,
            provider=row.provider,
            median_ms=row.median_us / 1000.0,
            share=row.share / 100.0,
            last_ms=row.first_run_us / 1000.0,
        )
        for row in rows_at(report, depth)
    ]
    ran = ", ".join(report.providers[:1]) or "?"
    note = f"{ran}" + (f" (fell back: {report.fallback_reason})" if report.fallback_reason else "")
    note += f" · {report.warmup} warm-up runs, first run's layers {report.first_run_node_sum_us / 1000.0:.2f} ms"
    return TimingTable(
        rows,
        report.wall_median_us / 1000.0,
        report.node_sum_us / 1000.0,
        report.first_run_wall_us / 1000.0,
        report.runs,
        note,
        tuple(line for line in (gap_note(report), load_note(report)) if line),
    )


def _openvino_table(report: OpenVinoReport, depth: int) -> TimingTable:
    found = report.profile
    by, level = openvino_grouping(depth)
    rows = [
        TimingRow(
            name=group.name,
            op_types=group.op_types,
            provider=group.kernels,
            median_ms=group.median_us / 1000.0,
            share=group.share / 100.0,
            last_ms=group.p90_us / 1000.0,
        )
        for group in group_layers(found, level, by)
    ]
    ran = (
        f"Ran on {ran_text(report.engine_model)} · {len(found.rows)} layers, {found.not_run} not run (fused) · "
        f"{found.mapped_share():.1f}% of the time named by module"
    )
    load = busy_note(report.load_average) if report.load_average is not None else ""
    note = f"{found.warmup} warm-up runs · p90: over the {found.runs} timed runs (OpenVINO's performance counters)"
    return TimingTable(
        rows,
        found.wall_median_us / 1000.0,
        found.layer_sum_us / 1000.0,
        None,
        found.runs,
        note,
        tuple(line for line in (ran, openvino_gap_note(found), load) if line),
        OPENVINO_COLUMNS,
    )


def openvino_gap_note(found: OpenVinoProfile) -> str:
    """One line on the difference between the measured wall time and the sum of OpenVINO's layer times."""
    return wall_gap_note(
        found.wall_median_us,
        found.layer_sum_us,
        "the layers OpenVINO timed: input and output copies, thread wake-ups, the call from Python",
    )


def export_text(report: Report, depth: int, fmt: str, image: str | None = None) -> str:
    """The table at ``depth`` as CSV, or the report summary plus those rows as JSON (naming ``image``; on OpenVINO
    the CSV and JSON of ``profile --engine openvino``)."""
    if fmt not in ("csv", "json"):
        raise ValueError(f"unknown export format {fmt!r}; expected csv or json")
    if isinstance(report, OpenVinoReport):
        by, level = openvino_grouping(depth)
        groups = cli_engine.openvino_groups(report.profile, level, by)
        if fmt == "csv":
            return cli_engine.openvino_profile_csv(report.profile, groups)
        return cli_engine.openvino_profile_json(
            report.engine_model, report.profile, False, groups, (by, level), image=image
        )
    rows = rows_at(report, depth)
    return to_csv(rows) if fmt == "csv" else to_json(report, rows, image=image)
