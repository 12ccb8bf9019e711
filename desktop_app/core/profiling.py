"""Per-layer timing from ONNX Runtime's own profiler, named after the PyTorch modules.

:func:`profile_model` opens a dedicated profiling session (``enable_profiling``), runs warm-up runs
then N timed runs on one image, and parses ORT's Chrome-trace JSON: ``Node`` events whose names end in
``_kernel_time`` carry the kernel duration (µs), op type and provider; ``model_run`` session events
delimit the runs. Each node is named after its PyTorch module through the file's node map
(``layer3.1.conv2``); unmapped nodes keep their ONNX name under ``(graph)/``. The first run (cuDNN
algorithm search, memory arena growth, ...) is reported separately from the median of the timed runs.
:func:`aggregate` sums nodes into blocks (depth 1 -> ``layer3``, depth 2 -> ``layer3.1``), :func:`group_by`
by op type or provider; :func:`gap_note` says in one line why the wall time exceeds the sum of layer times.
The GUI and ``profile`` share :data:`DEFAULT_RUNS` and :data:`DEFAULT_WARMUP`; :func:`to_json` records the
model file and its sha256, the image, the versions, CPU, threads and load (:mod:`workbench.environment`).

Example::

    python -m desktop_app profile cat.jpg --model model.onnx --runs 10 --depth 2   # or, as a library:
    python -c "from desktop_app.core.catalog import inspect_model; from workbench.imageio import load_image; \\
from desktop_app.core.profiling import profile_model, aggregate, to_csv; \\
r = profile_model(inspect_model('model.onnx'), load_image('cat.jpg'), runs=10); print(to_csv(aggregate(r, 1)))"
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from desktop_app.core.catalog import ModelEntry
from desktop_app.core.evaluate import file_sha256
from desktop_app.core.providers import create_session, default_session_options, short_provider_name
from desktop_app.core.runtime import LoadedModel, ModelLoadError
from workbench.contract import NodeMap, golden_input
from workbench.environment import busy_note, environment, load_average
from workbench.names import display_path, printable
from workbench.preprocess import preprocess_image

__all__ = [
    "DEFAULT_RUNS",
    "DEFAULT_WARMUP",
    "GRAPH_PREFIX",
    "GROUPINGS",
    "ProfileReport",
    "ProfileRow",
    "aggregate",
    "gap_note",
    "group_by",
    "input_batch",
    "load_note",
    "parse_trace",
    "profile_model",
    "to_csv",
    "to_json",
    "wall_gap_note",
]

GRAPH_PREFIX = "(graph)"
#: Timed runs and warm-up runs when nobody says otherwise: the Timing tab's and ``profile``'s defaults.
DEFAULT_RUNS = 10
DEFAULT_WARMUP = 3
#: What :func:`group_by` can sum rows by, besides module depth (:func:`aggregate`).
GROUPINGS = ("op", "provider")
_KERNEL_SUFFIX = "_kernel_time"

#: One run's kernel times: ORT node name -> (total µs, op type, provider).
RunTimes = dict[str, tuple[float, str, str]]


@dataclass(frozen=True)
class ProfileRow:
    """One row of the timing table: a node (depth 0) or a block of nodes summed."""

    module: str
    op_types: str
    provider: str
    median_us: float
    share: float  # percent of the sum of all node medians
    first_run_us: float
    nodes: int
    node: str = ""  # the ORT node name for single-node rows ("" for blocks)
    p90_us: float = 0.0  # over the timed runs (blocks: the sums of their nodes' values, not percentiles)
    min_us: float = 0.0
    max_us: float = 0.0

    @property
    def median_ms(self) -> float:
        return self.median_us / 1000

    @property
    def first_run_ms(self) -> float:
        return self.first_run_us / 1000


@dataclass(frozen=True)
class ProfileReport:
    """Per-node timings of one model on one image; ``rows`` are single nodes sorted by time."""

    model: str
    providers: tuple[str, ...]
    fallback_reason: str | None
    runs: int
    warmup: int
    rows: tuple[ProfileRow, ...]
    wall_median_us: float  # time.perf_counter around session.run, median over the timed runs
    first_run_wall_us: float
    node_sum_us: float  # sum of the node medians
    first_run_node_sum_us: float
    model_file: str = ""  # the .onnx file profiled
    threads: int | None = None  # intra-op threads asked for; None: ONNX Runtime's default (one per physical core)
    load_average: tuple[float, float, float] | None = None  # os.getloadavg() right after the timed runs
    engine: str = "onnxruntime"

    @property
    def wall_ms(self) -> float:
        return self.wall_median_us / 1000

    @property
    def layer_sum_ms(self) -> float:
        return self.node_sum_us / 1000

    @property
    def first_run_ms(self) -> float:
        return self.first_run_wall_us / 1000


class ProfileCancelled(Exception):
    """``cancelled()`` said stop before the last run; no report is made."""


def profile_model(
    model: ModelEntry | LoadedModel,
    image: Image.Image | np.ndarray | None,
    *,
    provider: str | None = None,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ProfileReport:
    """Profile a model on one image in a dedicated profiling session (the cached one is not touched).

    ``image`` is an RGB Pillow image, an already preprocessed CHW/HWC array, or ``None`` for the
    deterministic golden input. ``provider`` defaults to the LoadedModel's requested provider (else
    "auto"). ``warmup`` runs (at least one; the first is the reported "first run") precede the
    ``runs`` timed runs. ``progress(done, total)`` is called after every run (warm-up included);
    ``cancelled()`` is asked before every run.

    Raises:
        ModelLoadError: the model is unusable or ONNX Runtime refused it.
        ValueError: ``runs`` < 1, or unknown provider.
        ProfileCancelled: ``cancelled()`` returned True.
    """
    entry = model if isinstance(model, ModelEntry) else model.entry
    if provider is None:
        provider = model.requested if isinstance(model, LoadedModel) else "auto"
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if entry.error is not None or entry.preprocess is None:
        raise ModelLoadError(entry.error or f"{entry.path.name}: unusable model")
    batch = input_batch(entry, image)
    with tempfile.TemporaryDirectory(prefix="workbench-profile-") as folder:
        options = default_session_options()
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(folder) / "ort")
        started = create_session(entry.path, provider, options)
        session, feed = started.session, {entry.input_name: batch}
        try:
            walls = _timed_runs(session, entry.output_name, feed, max(1, warmup) + runs, progress, cancelled)
        finally:
            trace_file = Path(session.end_profiling())  # stops the profiler; the folder goes away with it
        trace = json.loads(trace_file.read_text(encoding="utf-8"))
    per_run = parse_trace(trace)
    if len(per_run) != len(walls):
        raise ModelLoadError(f"{entry.path.name}: profiler recorded {len(per_run)} runs, expected {len(walls)}")
    node_map = entry.card.node_map if entry.card else NodeMap()
    rows = node_rows(per_run[0], per_run[-runs:], node_map)
    return ProfileReport(
        model=entry.name,
        providers=started.providers,
        fallback_reason=started.fallback_reason,
        runs=runs,
        warmup=max(1, warmup),
        rows=tuple(rows),
        wall_median_us=statistics.median(walls[-runs:]),
        first_run_wall_us=walls[0],
        node_sum_us=sum(r.median_us for r in rows),
        first_run_node_sum_us=sum(t for t, _, _ in per_run[0].values()),
        model_file=str(entry.path),
        threads=options.intra_op_num_threads or None,
        load_average=load_average(),
    )


def _timed_runs(
    session: Any,
    output: str,
    feed: dict[str, np.ndarray],
    total: int,
    progress: Callable[[int, int], None] | None,
    cancelled: Callable[[], bool] | None,
) -> list[float]:
    """Wall time (µs) of ``total`` runs of ``session``, reporting and honouring cancellation between runs."""
    walls: list[float] = []
    for done in range(total):
        if cancelled is not None and cancelled():
            raise ProfileCancelled(f"profiling cancelled after {done} of {total} runs")
        start = time.perf_counter()
        session.run([output], feed)
        walls.append((time.perf_counter() - start) * 1e6)
        if progress is not None:
            progress(done + 1, total)
    return walls


def input_batch(entry: ModelEntry, image: Image.Image | np.ndarray | None) -> np.ndarray:
    """The batch profiled: ``image`` preprocessed (or the golden input for ``None``), repeated to the file's batch."""
    if image is None:
        return golden_input(entry.input_shape, entry.layout).astype(entry.input_dtype)
    if isinstance(image, Image.Image):
        if entry.preprocess is None:
            raise ValueError(f"{entry.path.name}: unusable model ({entry.error})")
        sample = preprocess_image(image, entry.preprocess)
    else:
        sample = np.asarray(image)
    return np.ascontiguousarray(np.broadcast_to(sample, (entry.batch or 1, *sample.shape)), dtype=entry.input_dtype)


def parse_trace(events: Iterable[Mapping[str, Any]]) -> list[RunTimes]:
    """Split ORT profiler events into runs (``model_run`` spans) of per-node kernel times."""
    spans: list[tuple[float, float]] = []
    kernels: list[Mapping[str, Any]] = []
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") == "Session" and name == "model_run":
            spans.append((float(event["ts"]), float(event["ts"]) + float(event.get("dur", 0))))
        elif event.get("cat") == "Node" and name.endswith(_KERNEL_SUFFIX):
            kernels.append(event)
    spans.sort()
    runs: list[RunTimes] = [{} for _ in spans]
    starts = [s for s, _ in spans]
    for event in kernels:
        ts = float(event["ts"])
        index = int(np.searchsorted(starts, ts, side="right")) - 1
        if index < 0 or ts > spans[index][1]:
            continue  # a kernel outside any run (never seen in practice): not attributable
        args = event.get("args", {})
        node = str(event["name"])[: -len(_KERNEL_SUFFIX)]
        total, _, _ = runs[index].get(node, (0.0, "", ""))
        op, provider = str(args.get("op_name", "?")), short_provider_name(str(args.get("provider", "?")))
        runs[index][node] = (total + float(event.get("dur", 0)), op, provider)
    return runs


def module_name(node: str, node_map: NodeMap) -> str:
    """The PyTorch module path of an ORT node, or ``(graph)/<node>`` when the node map has none."""
    return node_map.module_for(node) or f"{GRAPH_PREFIX}/{node}"


def node_rows(first: RunTimes, timed: Sequence[RunTimes], node_map: NodeMap) -> list[ProfileRow]:
    """One row per ORT node: median over ``timed`` runs, sorted by time descending."""
    names = list(dict.fromkeys(name for run in (first, *timed) for name in run))
    times = {name: np.array([run.get(name, (0.0, "", ""))[0] for run in timed], dtype=np.float64) for name in names}
    medians = {name: float(np.median(values)) for name, values in times.items()}
    total = sum(medians.values()) or 1.0
    rows = []
    for name in names:
        _, op, provider = next(run[name] for run in (*timed, first) if name in run)
        rows.append(
            ProfileRow(
                module=module_name(name, node_map),
                op_types=op,
                provider=provider,
                median_us=medians[name],
                share=100.0 * medians[name] / total,
                first_run_us=first.get(name, (0.0, "", ""))[0],
                nodes=1,
                node=name,
                p90_us=float(np.percentile(times[name], 90)),
                min_us=float(times[name].min()),
                max_us=float(times[name].max()),
            )
        )
    return sorted(rows, key=lambda r: (-r.median_us, r.module))


def block_of(module: str, depth: int | None) -> str:
    """``layer3.1.conv2`` at depth 1 -> ``layer3``, 2 -> ``layer3.1``; ``None``/0 keeps it whole."""
    if not depth:
        return module
    if module.startswith(GRAPH_PREFIX + "/"):
        return GRAPH_PREFIX
    return ".".join(module.split(".")[:depth])


def aggregate(report: ProfileReport, depth: int | None) -> list[ProfileRow]:
    """Sum node rows into blocks at ``depth`` (op types and providers joined), sorted by time.

    ``depth`` ``None`` or 0 returns the single-node rows unchanged (two nodes may share a module).
    """
    if depth is not None and depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    if not depth:
        return list(report.rows)
    groups: dict[str, list[ProfileRow]] = defaultdict(list)
    for row in report.rows:
        groups[block_of(row.module, depth)].append(row)
    total = sum(r.median_us for r in report.rows) or 1.0
    rows = []
    for block, members in groups.items():
        median = sum(r.median_us for r in members)
        rows.append(
            ProfileRow(
                module=block,
                op_types=_join(r.op_types for r in members),
                provider=_join(r.provider for r in members),
                median_us=median,
                share=100.0 * median / total,
                first_run_us=sum(r.first_run_us for r in members),
                nodes=sum(r.nodes for r in members),
                p90_us=sum(r.p90_us for r in members),
                min_us=sum(r.min_us for r in members),
                max_us=sum(r.max_us for r in members),
            )
        )
    return sorted(rows, key=lambda r: (-r.median_us, r.module))


def group_by(report: ProfileReport, by: str) -> list[ProfileRow]:
    """Sum node rows by op type (``"op"``: a row per op type, e.g. ``Conv``) or by ``"provider"`` (``CPU``,
    ``CUDA``), sorted by time; the row's ``module`` is the op type or provider.

    Raises:
        ValueError: ``by`` is not one of :data:`GROUPINGS`.
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; expected one of {', '.join(GROUPINGS)}")
    groups: dict[str, list[ProfileRow]] = defaultdict(list)
    for row in report.rows:
        groups[row.op_types if by == "op" else row.provider].append(row)
    total = sum(r.median_us for r in report.rows) or 1.0
    rows = [
        ProfileRow(
            module=key,
            op_types=_join(r.op_types for r in members),
            provider=_join(r.provider for r in members),
            median_us=sum(r.median_us for r in members),
            share=100.0 * sum(r.median_us for r in members) / total,
            first_run_us=sum(r.first_run_us for r in members),
            nodes=sum(r.nodes for r in members),
            p90_us=sum(r.p90_us for r in members),
            min_us=sum(r.min_us for r in members),
            max_us=sum(r.max_us for r in members),
        )
        for key, members in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r.median_us, r.module))


def gap_note(report: ProfileReport) -> str:
    """One line on the difference between the measured wall time and the sum of the layer (kernel) times."""
    return wall_gap_note(
        report.wall_median_us,
        report.node_sum_us,
        "the layers' kernels: ONNX Runtime's copies of the input and output, memory allocation, handing nodes "
        "to threads, and the call from Python",
        "kernels",
    )


def wall_gap_note(wall_us: float, layers_us: float, outside: str, parts: str = "layers") -> str:
    """The gap line for any engine: how much of ``wall_us`` is outside ``layers_us`` (``outside`` says what
    is there), or that the layer times add up to more (``parts`` ran at the same time)."""
    gap = wall_us - layers_us
    if gap < 0:
        return (
            f"The layer times add up to {_ms(-gap)} ms more than the wall time: "
            f"some {parts} ran at the same time (on parallel threads or streams)."
        )
    share = 100.0 * gap / wall_us if wall_us > 0 else 0.0
    return f"{_ms(gap)} ms ({share:.0f}%) of the wall time is outside {outside}."


def _ms(microseconds: float) -> str:
    """Milliseconds with 2 decimals, or 3 below 1 ms (a small model's whole run)."""
    ms = microseconds / 1000
    return f"{ms:.3f}" if abs(ms) < 1 else f"{ms:.2f}"


def load_note(report: ProfileReport) -> str:
    """:func:`workbench.environment.busy_note` for the load measured with the report (``""`` when not busy)."""
    return busy_note(report.load_average) if report.load_average is not None else ""


def _join(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(v for part in values for v in part.split(", ") if v))


_CSV_FIELDS = (
    "module",
    "node",
    "op_types",
    "provider",
    "median_ms",
    "p90_ms",
    "min_ms",
    "max_ms",
    "share_percent",
    "first_run_ms",
    "nodes",
)


def _row_dict(row: ProfileRow) -> dict[str, Any]:
    return {  # names come from the model file: escaped so that any locale and strict UTF-8 can write them
        "module": printable(row.module),
        "node": printable(row.node),
        "op_types": printable(row.op_types),
        "provider": printable(row.provider),
        "median_ms": round(row.median_us / 1000, 6),
        "p90_ms": round(row.p90_us / 1000, 6),
        "min_ms": round(row.min_us / 1000, 6),
        "max_ms": round(row.max_us / 1000, 6),
        "share_percent": round(row.share, 4),
        "first_run_ms": round(row.first_run_us / 1000, 6),
        "nodes": row.nodes,
    }


def to_csv(rows: Sequence[ProfileRow]) -> str:
    """The table as CSV text (times in milliseconds, share in percent)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_row_dict(row))
    return buffer.getvalue()


def to_json(
    report: ProfileReport,
    rows: Sequence[ProfileRow] | None = None,
    *,
    image: str | None = None,
    ensure_ascii: bool = False,
) -> str:
    """The report summary plus ``rows`` (default: the single-node rows) as indented, strict JSON.

    Besides the timings it records the model file and its sha256, ``image`` (what was measured; None: the
    grey input), the versions, the CPU, the threads and the load (:func:`workbench.environment.environment`).
    ``ensure_ascii`` escapes every non-ASCII character (for a stream that is not UTF-8).

    Raises:
        ValueError: a number is NaN or infinite (never written: it would not be JSON).
    """
    summary = {k: v for k, v in asdict(report).items() if k != "rows"}
    summary["model"] = printable(report.model)
    summary["fallback_reason"] = None if report.fallback_reason is None else printable(report.fallback_reason)
    summary["providers"] = list(report.providers)
    summary.update(
        wall_median_ms=round(report.wall_median_us / 1000, 6),
        first_run_wall_ms=round(report.first_run_wall_us / 1000, 6),
        node_sum_ms=round(report.node_sum_us / 1000, 6),
        first_run_node_sum_ms=round(report.first_run_node_sum_us / 1000, 6),
    )
    for key in ("wall_median_us", "first_run_wall_us", "node_sum_us", "first_run_node_sum_us", "load_average"):
        summary.pop(key)
    summary["model_file"] = display_path(report.model_file) if report.model_file else None
    summary["model_sha256"] = file_sha256(Path(report.model_file)) if report.model_file else None
    summary["image"] = None if image is None else printable(image)
    summary.update(environment(report.threads))
    if report.load_average is not None:
        summary["load_average_1_5_15"] = [round(value, 2) for value in report.load_average]
    summary["outside_kernels"] = gap_note(report)
    summary["rows"] = [_row_dict(r) for r in (report.rows if rows is None else rows)]
    return json.dumps(summary, indent=2, ensure_ascii=ensure_ascii, allow_nan=False)
