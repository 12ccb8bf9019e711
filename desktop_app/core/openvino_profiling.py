"""Per-layer timing on OpenVINO from its performance counters, named after the PyTorch modules.

:func:`profile_openvino` compiles the model again with ``PERF_COUNT`` on (same device, precision and threads;
the model's own compiled copy is not touched), runs warm-up runs then N timed runs on one batch and reads
``request.get_profiling_info()`` after each. OpenVINO fuses layers (a convolution with its bias, batch norm and
ReLU) and keeps the names of the original layers it fused in the runtime model (``originalLayersNames``): each
row is named after the first of them that the file's node map knows (:func:`desktop_app.core.profiling.module_name`;
unmapped layers keep their OpenVINO name under ``(graph)/``). Reorders (layout/precision conversions OpenVINO
inserts) are charged to the layer they feed. Each row carries the kernel that ran it (``exec_type``, e.g.
``brgconv_avx512_1x1_bf16``) and the median, p90, min and max over the timed runs. Layers OpenVINO did not run
(``NOT_RUN``: fused into another, or optimised out) are left out and counted in ``not_run``.
:func:`group_layers` sums the rows into module blocks at a depth (``layer3``, ``layer3.1``; the same blocks as
:func:`desktop_app.core.profiling.block_of`), by op type or by kernel: each run's times are summed first, then
the median, p90, min and max are taken over the runs (so a block's median is the median of its sums).

Example::

    python -c "from desktop_app.core.catalog import inspect_model; from workbench.contract import golden_input; \\
from desktop_app.core.openvino_engine import load_openvino; from desktop_app.core.openvino_profiling import \\
profile_openvino; m = load_openvino(inspect_model('model.onnx')); e = m.entry; \\
p = profile_openvino(m, golden_input(e.input_shape, e.layout), runs=10, warmup=3); print(p.rows[:5], p.not_run)"
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from desktop_app.core.openvino_engine import OV_ERRORS, OpenVinoLoadError, OpenVinoModel, compile_config, compile_ov
from desktop_app.core.profiling import GRAPH_PREFIX, ProfileCancelled, block_of, module_name
from desktop_app.core.providers import one_line
from desktop_app.core.runtime import fixed_chunks
from workbench.contract import NodeMap

__all__ = [
    "OV_GROUPINGS",
    "LayerGroup",
    "LayerTiming",
    "OpenVinoProfile",
    "group_layers",
    "layer_modules",
    "profile_openvino",
]

_EXECUTED = "EXECUTED"
#: What :func:`group_layers` sums rows by: module blocks (to a depth), op type, or kernel (``"provider"``, the
#: name ONNX Runtime's profile uses for the same column: what ran the layer).
OV_GROUPINGS = ("module", "op", "provider")


@dataclass(frozen=True)
class LayerTiming:
    """One executed OpenVINO layer: its name, module, op type, kernel and times (µs) over the timed runs."""

    node: str  # OpenVINO's layer name (after fusion: the name of its main original layer)
    module: str  # PyTorch module path (``layer1.0.conv1``) or ``(graph)/<node>``
    op_type: str  # OpenVINO's layer type: Convolution, FullyConnected, Reorder, ...
    kernel: str  # exec_type: the kernel that ran it, e.g. ``brgconv_avx512_1x1_bf16``, ``jit_avx512_I8``
    median_us: float
    p90_us: float
    min_us: float
    max_us: float
    originals: tuple[str, ...] = ()  # the ONNX layers fused into this one (``originalLayersNames``)
    times_us: tuple[float, ...] = field(default=(), repr=False)  # each timed run's time (0: not run that time)

    @property
    def median_ms(self) -> float:
        return self.median_us / 1000


@dataclass(frozen=True)
class LayerGroup:
    """Layers summed: a module block (``layer3``), an op type or a kernel; times (µs) over the timed runs."""

    name: str  # the block, op type or kernel
    op_types: str  # the members' op types, joined with ", "
    kernels: str  # the members' kernels, joined with ", "
    layers: int
    median_us: float  # median over the runs of the per-run sum of the members' times
    p90_us: float
    min_us: float
    max_us: float
    share: float  # percent of the medians of all the groups of its grouping, summed

    @property
    def median_ms(self) -> float:
        return self.median_us / 1000


@dataclass(frozen=True)
class OpenVinoProfile:
    """Per-layer timings of one model on one batch; ``rows`` are sorted by median time, longest first."""

    rows: tuple[LayerTiming, ...]
    not_run: int  # layers OpenVINO reported but did not run (fused into another layer or optimised out)
    runs: int
    warmup: int
    wall_median_us: float  # time.perf_counter around infer(), median over the timed runs
    device: str
    precision: str

    @property
    def layer_sum_us(self) -> float:
        return float(sum(row.median_us for row in self.rows))

    def mapped_share(self) -> float:
        """Percent of the summed layer medians attributed to a PyTorch module (not ``(graph)/...``)."""
        total = self.layer_sum_us
        mapped = sum(r.median_us for r in self.rows if not r.module.startswith(GRAPH_PREFIX + "/"))
        return 100.0 * mapped / total if total > 0 else 0.0


def profile_openvino(
    model: OpenVinoModel,
    batch: np.ndarray,
    runs: int,
    warmup: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> OpenVinoProfile:
    """Time each layer of ``model`` on ``batch`` (preprocessed, [N, ...]) over ``runs`` runs after ``warmup``.

    A fixed-batch file gets one batch of its own size (``batch`` cut or zero-padded). ``progress(done, total)``
    is called after every run (warm-up included); ``cancelled()`` is asked before every run (as
    :func:`desktop_app.core.profiling.profile_model` does).

    Raises:
        ValueError: ``runs`` < 1 or ``warmup`` < 0.
        OpenVinoLoadError: OpenVINO failed to compile or run the model (one line naming the file).
        ProfileCancelled: ``cancelled()`` returned True.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    entry = model.entry
    x = np.ascontiguousarray(batch, dtype=entry.input_dtype)
    if entry.batch is not None and x.shape[0] != entry.batch:
        x = fixed_chunks(x, entry.batch)[0]
    precision = "bf16" if model.precision == "bf16" else "as-exported"
    compiled = compile_ov(entry, model.model, model.device, compile_config(precision, model.threads, perf_count=True))
    request = compiled.create_infer_request()
    samples: list[dict[str, tuple[float, str, str]]] = []
    walls: list[float] = []
    not_run: set[str] = set()
    total = warmup + runs
    try:
        for done in range(total):
            if cancelled is not None and cancelled():
                raise ProfileCancelled(f"profiling cancelled after {done} of {total} runs")
            start = time.perf_counter()
            request.infer({entry.input_name: x})
            wall = (time.perf_counter() - start) * 1e6
            if done >= warmup:
                walls.append(wall)
                samples.append(_counters(request.get_profiling_info(), not_run))
            if progress is not None:
                progress(done + 1, total)
    except OV_ERRORS as exc:
        raise OpenVinoLoadError(f"{entry.path.name}: OpenVINO failed to run: {one_line(str(exc))}") from exc
    node_map = entry.card.node_map if entry.card else NodeMap()
    originals = _originals(compiled)
    for run in samples:
        for name in run:
            originals.setdefault(name, ())
    modules = layer_modules(originals, node_map)
    rows = _rows(samples, modules)
    executed = {row.node for row in rows}
    return OpenVinoProfile(
        rows=tuple(rows),
        not_run=len(not_run - executed),
        runs=runs,
        warmup=warmup,
        wall_median_us=float(np.median(walls)),
        device=model.device,
        precision=model.precision,
    )


def _counters(infos: Sequence[Any], not_run: set[str]) -> dict[str, tuple[float, str, str]]:
    """One run's executed layers: name -> (real time µs, op type, kernel); the others go into ``not_run``."""
    out: dict[str, tuple[float, str, str]] = {}
    for info in infos:
        name = str(info.node_name)
        if str(info.status).rsplit(".", 1)[-1] != _EXECUTED:
            not_run.add(name)
            continue
        out[name] = (info.real_time.total_seconds() * 1e6, str(info.node_type), str(info.exec_type))
    return out


def _originals(compiled: Any) -> dict[str, tuple[str, ...]]:
    """Runtime layer name -> the original (ONNX) layer names it contains, from the compiled model's runtime graph."""
    out: dict[str, tuple[str, ...]] = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        names = info["originalLayersNames"].astype(str) if "originalLayersNames" in info else ""
        out[str(op.get_friendly_name())] = tuple(n for n in names.split(",") if n)
    return out


def layer_modules(
    originals: Mapping[str, tuple[str, ...]], node_map: NodeMap
) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Runtime layer name -> (module, original names): the first original the node map knows, else the layer's own
    name through :func:`module_name`. A layer without originals (a Reorder OpenVINO inserted, named
    ``<from>_<precisions/layouts>_<to>``) takes the module of the layer it feeds."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for layer, names in originals.items():
        module = next((m for m in (node_map.module_for(n) for n in names) if m is not None), None)
        out[layer] = (module or module_name(names[0] if names else layer, node_map), names)
    by_length = sorted((name for name in originals if originals[name]), key=len, reverse=True)
    for layer, names in originals.items():
        if names:
            continue
        target = next((other for other in by_length if layer.endswith("_" + other)), None)
        if target is not None:
            out[layer] = (out[target][0], ())
    return out


def _rows(
    samples: Sequence[Mapping[str, tuple[float, str, str]]], modules: Mapping[str, tuple[str, tuple[str, ...]]]
) -> list[LayerTiming]:
    names = list(dict.fromkeys(name for run in samples for name in run))
    rows = []
    for name in names:
        times = np.array([run[name][0] if name in run else 0.0 for run in samples], dtype=np.float64)
        _, op, kernel = next(run[name] for run in samples if name in run)
        module, originals = modules[name]
        rows.append(
            LayerTiming(
                node=name,
                module=module,
                op_type=op,
                kernel=kernel,
                median_us=float(np.median(times)),
                p90_us=float(np.percentile(times, 90)),
                min_us=float(times.min()),
                max_us=float(times.max()),
                originals=originals,
                times_us=tuple(float(t) for t in times),
            )
        )
    return sorted(rows, key=lambda r: (-r.median_us, r.module))


def group_layers(profile: OpenVinoProfile, depth: int, by: str = "module") -> list[LayerGroup]:
    """The profile's rows summed by module block at ``depth`` (``by="module"``; depth 0: one group per layer,
    in the order of the rows), by op type (``"op"``) or by kernel (``"provider"``), sorted by median, longest first.

    Each timed run's member times are summed, then median/p90/min/max are taken over those sums; rows made without
    per-run times (``times_us`` empty) contribute their own median/p90/min/max, summed. A group's ``share`` is its
    median's percent of the groups' medians summed, so that one grouping's shares add up to 100 (a median of sums
    is not the sum of the members' medians).

    Raises:
        ValueError: ``depth`` < 0 or ``by`` is not one of :data:`OV_GROUPINGS`.
    """
    if depth < 0:
        raise ValueError(f"depth must be >= 0, got {depth}")
    if by not in OV_GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; expected one of {', '.join(OV_GROUPINGS)}")
    if by == "module" and depth == 0:
        return _with_shares([_group(row.module, [row]) for row in profile.rows])
    groups: dict[str, list[LayerTiming]] = defaultdict(list)
    for row in profile.rows:
        key = block_of(row.module, depth) if by == "module" else row.op_type if by == "op" else row.kernel
        groups[key].append(row)
    out = _with_shares([_group(name, members) for name, members in groups.items()])
    return sorted(out, key=lambda g: (-g.median_us, g.name))


def _with_shares(groups: list[LayerGroup]) -> list[LayerGroup]:
    total = sum(g.median_us for g in groups)
    return [replace(g, share=100.0 * g.median_us / total if total > 0 else 0.0) for g in groups]


def _group(name: str, members: Sequence[LayerTiming]) -> LayerGroup:
    """The group of ``members`` with its times; its share is set by :func:`_with_shares`."""
    runs = {len(m.times_us) for m in members}
    if len(runs) == 1 and 0 not in runs:
        sums = np.sum([m.times_us for m in members], axis=0, dtype=np.float64)
        median, p90, low, high = (
            float(np.median(sums)),
            float(np.percentile(sums, 90)),
            float(sums.min()),
            float(sums.max()),
        )
    else:
        median, p90, low, high = (
            float(sum(getattr(m, f"{k}_us") for m in members)) for k in ("median", "p90", "min", "max")
        )
    return LayerGroup(
        name=name,
        op_types=_join(m.op_type for m in members),
        kernels=_join(m.kernel for m in members),
        layers=len(members),
        median_us=median,
        p90_us=p90,
        min_us=low,
        max_us=high,
        share=0.0,
    )


def _join(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(v for v in values if v))
