"""Compare models on one image: each model's top-k, its latency, and how it differs from the first model.

:func:`compare_on_image` runs every loaded model on the same decoded image (each with its own
preprocessing, :func:`workbench.preprocess.preprocess_batch`, the one ``classify_images`` uses) and
gives one :class:`ModelColumn` per model, in order:

* its top-k ``(label, probability)`` (a float64 softmax of the logits, as ``classify`` reports them);
* the median latency in ms of ``runs`` timed runs of batch 1 after one warm-up, preprocessing excluded
  (only ``EngineModel.run``: what the model costs, not decoding or resizing the photo);
* what ran it, whichever engine (ONNX Runtime or OpenVINO): ``ran_on`` in words (``OpenVINO CPU, bf16``,
  :func:`~desktop_app.core.runtime.ran_text`), its ``engine``, ``device`` and ``precision``, and why it fell
  back when the engine asked for could not run it (a note says so too);
* the differences against the reference (the first model that ran): whether its top-1 differs, the
  labels of its top-k that the reference's top-k lacks, the probability change of each label the
  reference knows, and the rank change of the labels both top-k lists share.

Models are compared by label name (case- and separator-insensitive: ``tiger_cat`` = ``Tiger cat``);
when their label sets differ a note says so. A model that fails (it did not load, see
:class:`ModelFailure`, or its inference raised or gave NaN) gets a column with ``error`` set; the others
still compare.

Example::

    python -c "from PIL import Image; from desktop_app.core.catalog import scan_models; \\
from desktop_app.core.runtime import load_model; from desktop_app.core.compare_image import compare_on_image; \\
ms = [load_model(e, 'cpu') for e in scan_models('models') if e.usable][:2]; \\
c = compare_on_image(ms, Image.open('tests/data/chelsea.png').convert('RGB')); \\
print([(col.name, col.top[0].label, col.latency_ms, col.top1_differs) for col in c.columns])"
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from desktop_app.core.classify import NON_FINITE_REASON, NonFiniteOutputError, predict_from_logits
from desktop_app.core.providers import NO_NVIDIA_GPU, ORT_ERRORS, one_line
from desktop_app.core.runtime import EngineModel, ran_text
from workbench.preprocess import preprocess_batch

__all__ = [
    "LATENCY_NOTE",
    "ComparisonCancelled",
    "ImageComparison",
    "ModelColumn",
    "ModelFailure",
    "RankedLabel",
    "compare_on_image",
    "label_key",
]

DEFAULT_TOP_K = 5
DEFAULT_RUNS = 5
LATENCY_NOTE = "latency: median of {runs} runs of batch 1 after one warm-up, preprocessing excluded"
_SEPARATORS = re.compile(r"[\s_\-]+")


class ComparisonCancelled(Exception):
    """``should_stop`` said stop before every model had run."""


def label_key(label: str) -> str:
    """How labels are matched between models: ``Tiger_Cat`` / ``tiger-cat`` / ``tiger cat`` -> ``tiger cat``."""
    return _SEPARATORS.sub(" ", label.casefold()).strip()


@dataclass(frozen=True)
class ModelFailure:
    """A model that could not be compared (it did not load): its column shows ``error``."""

    name: str
    path: Path
    error: str


@dataclass(frozen=True)
class RankedLabel:
    """One row of a model's top-k, with how it stands against the reference model."""

    label: str
    probability: float
    rank: int  # 1 = top-1
    reference_rank: int | None = None  # its rank in the reference's top-k (None: not in it)
    probability_change: float | None = None  # probability minus the reference's for this label (None: unknown to it)

    @property
    def in_reference(self) -> bool:
        """The reference's top-k holds this label too."""
        return self.reference_rank is not None

    @property
    def rank_change(self) -> int | None:
        """Places moved up (> 0) or down (< 0) against the reference's top-k; None when not in it."""
        return None if self.reference_rank is None else self.reference_rank - self.rank


@dataclass(frozen=True)
class ModelColumn:
    """What one model says about the image (or why it could not say it)."""

    name: str
    path: Path
    provider: str = ""  # what ran it, e.g. "CPUExecutionProvider" / "OpenVINO CPU"
    ran_on: str = ""  # the same in words with its precision, e.g. "ONNX Runtime CPU, fp32" / "OpenVINO CPU, bf16"
    engine: str = ""  # "onnxruntime" / "openvino"
    device: str = ""  # "CPU", "CUDA", "GPU"...
    precision: str = ""  # "fp32", "int8", "bf16"...
    fallback_reason: str | None = None  # why the engine asked for did not run it (None: it did)
    top: tuple[RankedLabel, ...] = ()
    latency_ms: float | None = None
    error: str | None = None
    is_reference: bool = False
    top1_differs: bool = False  # its top-1 label is not the reference's top-1
    new_labels: tuple[str, ...] = ()  # labels of its top-k that the reference's top-k lacks
    labels_differ: bool = False  # its label set is not the reference's (compared by label name)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class ImageComparison:
    """One column per model, in the order given; ``reference`` is the index of the reference column."""

    columns: tuple[ModelColumn, ...]
    reference: int | None  # None: no model ran
    top_k: int
    runs: int
    notes: tuple[str, ...] = ()

    @property
    def differing(self) -> tuple[str, ...]:
        """Names of the models whose top-1 differs from the reference's."""
        return tuple(c.name for c in self.columns if c.top1_differs)


@dataclass(frozen=True)
class _Run:
    """A model's full ranking of the image (every class, most probable first) and its latency."""

    model: EngineModel
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]
    latency_ms: float


def compare_on_image(
    models: Sequence[EngineModel | ModelFailure],
    image: Image.Image,
    *,
    top_k: int = DEFAULT_TOP_K,
    runs: int = DEFAULT_RUNS,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImageComparison:
    """Run each of ``models`` on the RGB ``image`` and compare them with the first one that ran.

    ``progress(done, total)`` is called after each model; ``should_stop()`` is asked before each one.

    Raises:
        ValueError: ``top_k`` or ``runs`` < 1.
        ComparisonCancelled: ``should_stop()`` returned True.
    """
    if top_k < 1 or runs < 1:
        raise ValueError(f"top_k and runs must be >= 1, got top_k={top_k}, runs={runs}")
    outcomes: list[_Run | ModelFailure] = []
    for index, model in enumerate(models):
        if should_stop is not None and should_stop():
            raise ComparisonCancelled(f"cancelled after {index} of {len(models)} models")
        outcomes.append(model if isinstance(model, ModelFailure) else _run(model, image, runs))
        if progress is not None:
            progress(index + 1, len(models))
    return _compare(outcomes, top_k, runs)


def _run(model: EngineModel, image: Image.Image, runs: int) -> _Run | ModelFailure:
    """The model's ranking and latency, or a failure naming it when it cannot give them."""
    entry = model.entry
    try:
        if entry.preprocess is None:
            raise ValueError("model has no preprocessing (unusable entry)")
        batch = preprocess_batch([image], entry.preprocess)
        logits = model.run(batch)  # the warm-up, and the answer
        (ranking,) = predict_from_logits(logits, entry.labels, top_k=max(1, logits.shape[-1]))
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model.run(batch)
            times.append(time.perf_counter() - start)
    except NonFiniteOutputError:
        return ModelFailure(entry.name, entry.path, NON_FINITE_REASON)
    except ORT_ERRORS as exc:
        return ModelFailure(entry.name, entry.path, f"inference failed ({one_line(str(exc))})")
    return _Run(model, ranking.labels, ranking.probabilities, 1000 * statistics.median(times))


def _compare(outcomes: Sequence[_Run | ModelFailure], top_k: int, runs: int) -> ImageComparison:
    ran = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, _Run)]
    if not ran:
        failed = tuple(_failed_column(o) for o in outcomes if isinstance(o, ModelFailure))
        return ImageComparison(failed, None, top_k, runs, ("no model could run on this image",))
    reference_index, reference = ran[0]
    notes = [LATENCY_NOTE.format(runs=runs)]
    if reference_index > 0:
        notes.append(f"{_name(outcomes[0])} did not run: the reference is {reference.model.entry.name}")
    columns: list[ModelColumn] = []
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, ModelFailure):
            columns.append(_failed_column(outcome))
            continue
        column = _column(outcome, reference, top_k, is_reference=index == reference_index)
        columns.append(column)
        if column.labels_differ:
            notes.append(_label_note(outcome, reference))
        if column.fallback_reason:
            notes.append(f"{column.name}: {column.fallback_reason}")
    return ImageComparison(tuple(columns), reference_index, top_k, runs, tuple(notes))


def _name(outcome: _Run | ModelFailure) -> str:
    return outcome.name if isinstance(outcome, ModelFailure) else outcome.model.entry.name


def _failed_column(failure: ModelFailure) -> ModelColumn:
    return ModelColumn(name=failure.name, path=failure.path, error=failure.error)


def _column(run: _Run, reference: _Run, top_k: int, *, is_reference: bool) -> ModelColumn:
    # most probable first, so a label name that occurs twice (ImageNet's two "crane"s) keeps its better entry
    reference_top: dict[str, int] = {}
    for rank, label in enumerate(reference.labels[:top_k], start=1):
        reference_top.setdefault(label_key(label), rank)
    reference_probability: dict[str, float] = {}
    for label, p in zip(reference.labels, reference.probabilities, strict=True):
        reference_probability.setdefault(label_key(label), p)
    rows = []
    top = zip(run.labels[:top_k], run.probabilities[:top_k], strict=True)
    for rank, (label, probability) in enumerate(top, start=1):
        key = label_key(label)
        known = reference_probability.get(key)
        rows.append(
            RankedLabel(
                label=label,
                probability=probability,
                rank=rank,
                reference_rank=reference_top.get(key),
                probability_change=None if known is None else probability - known,
            )
        )
    model = run.model
    return ModelColumn(
        name=model.entry.name,
        path=model.entry.path,
        provider=model.providers[0] if model.providers else "",
        ran_on=ran_text(model),
        engine=model.engine,
        device=model.device,
        precision=model.precision,
        fallback_reason=model.fallback_reason if model.fallback_reason != NO_NVIDIA_GPU else None,
        top=tuple(rows),
        latency_ms=run.latency_ms,
        is_reference=is_reference,
        top1_differs=not is_reference and label_key(run.labels[0]) != label_key(reference.labels[0]),
        new_labels=tuple(row.label for row in rows if not row.in_reference),
        labels_differ=_label_set(run.labels) != _label_set(reference.labels),
    )


def _label_set(labels: Sequence[str]) -> frozenset[str]:
    return frozenset(label_key(label) for label in labels)


def _label_note(run: _Run, reference: _Run) -> str:
    """Says that ``run``'s label set is not the reference's, and how many labels they share."""
    theirs, mine = _label_set(run.labels), _label_set(reference.labels)
    return (
        f"{run.model.entry.name} has other labels than {reference.model.entry.name} "
        f"({len(theirs & mine)} of its {len(theirs)} shared): compared by label name"
    )
