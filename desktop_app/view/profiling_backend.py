"""Maps the core profiler (:mod:`desktop_app.core.profiling`) onto the Timing tab's plain rows.

``profile`` runs inside a worker; ``timing_table`` and ``export_text`` are cheap and run on the
GUI thread whenever the depth control changes.

Example::

    python -c "from desktop_app.view.profiling_backend import profile; help(profile)"
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from desktop_app.core.profiling import (
    DEFAULT_WARMUP,
    GRAPH_PREFIX,
    ProfileReport,
    ProfileRow,
    aggregate,
    gap_note,
    group_by,
    load_note,
    profile_model,
    to_csv,
    to_json,
)
from desktop_app.core.runtime import EngineModel
from desktop_app.view.timing_panel import NODES, OP_TYPES, PROVIDERS, TimingRow, TimingTable
from workbench.imageio import load_image

WARMUP_RUNS = DEFAULT_WARMUP


def profile(
    model: EngineModel,
    source: str | bytes | None,
    runs: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ProfileReport:
    """Profile ``model`` (on the provider it was loaded with) on ``source``, or a grey image when None.

    ``progress`` and ``cancelled`` go to :func:`desktop_app.core.profiling.profile_model`.
    """
    entry = model.entry
    preprocess = entry.preprocess
    if preprocess is None:
        raise ValueError(f"{entry.path.name}: model has no preprocessing description")
    image = load_image(source, min_side=preprocess.resize) if source is not None else None
    sample = image if image is not None else np.zeros(preprocess.output_shape, dtype=np.float32)
    return profile_model(
        entry,
        sample,
        provider=model.requested if model.engine == "onnxruntime" else "cpu",  # OpenVINO: timed on ORT CPU
        runs=runs,
        warmup=WARMUP_RUNS,
        progress=progress,
        cancelled=cancelled,
    )


def max_depth(report: ProfileReport) -> int:
    """Deepest module path in the report (``layer3.1.conv2`` -> 3)."""
    depths = [len(r.module.split(".")) for r in report.rows if not r.module.startswith(GRAPH_PREFIX)]
    return max(depths, default=1)


def rows_at(report: ProfileReport, depth: int) -> list[ProfileRow]:
    """The rows for the panel's grouping: single nodes, a module depth, op types or providers."""
    if depth == OP_TYPES:
        return group_by(report, "op")
    if depth == PROVIDERS:
        return group_by(report, "provider")
    return list(report.rows) if depth == NODES else aggregate(report, depth)


def timing_table(report: ProfileReport, depth: int) -> TimingTable:
    rows = [
        TimingRow(
            name=row.module,
            op_types=row.op_types,
            provider=row.provider,
            median_ms=row.median_us / 1000.0,
            share=row.share / 100.0,
            first_run_ms=row.first_run_us / 1000.0,
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


def export_text(report: ProfileReport, depth: int, fmt: str, image: str | None = None) -> str:
    """The table at ``depth`` as CSV, or the report summary plus those rows as JSON (naming ``image``)."""
    rows = rows_at(report, depth)
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "json":
        return to_json(report, rows, image=image)
    raise ValueError(f"unknown export format {fmt!r}; expected csv or json")
