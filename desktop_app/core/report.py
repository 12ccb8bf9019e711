"""The evaluation report: ``predictions.csv``, ``report.json`` and ``report.html``, written atomically.

:func:`build_report` turns evaluations (:mod:`desktop_app.core.evaluate`) into the JSON document
whose keys docs/evaluate.md describes; :func:`predictions_csv` is one row per image and model;
:func:`write_report` writes the three files into a folder, each to a temporary file renamed into
place, so an interrupted run leaves every file complete or absent. Only finite numbers are written
(strict JSON: ``allow_nan=False``).

Example::

    python -m desktop_app evaluate ~/data/pets --model resnet50 --out reports/pets
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from PIL import Image

from desktop_app.core.evaluate import Comparison, ModelEvaluation
from desktop_app.core.labelled import LabelledSet, unknown_counts
from desktop_app.core.runtime import ran_text
from workbench.atomic import write_text_atomic
from workbench.cpu import cpu_info
from workbench.names import display_path

__all__ = ["REPORT_FILES", "SCHEMA_VERSION", "build_report", "predictions_csv", "write_report"]

SCHEMA_VERSION = 1
REPORT_FILES = ("predictions.csv", "report.json", "report.html")
CSV_COLUMNS = ("model", "file", "true_label", "predicted_label", "confidence", "true_rank", "error")
WORST_MISTAKES = 12
DISAGREEMENTS_LISTED = 200


def shown_file(path: Path, labelled: LabelledSet) -> str:
    """``path`` relative to the data set's folder when inside it, as shown everywhere (names escaped)."""
    base = labelled.root if labelled.root.is_dir() else labelled.root.parent
    try:
        return display_path(path.relative_to(base))
    except ValueError:
        return display_path(path)


def predictions_csv(labelled: LabelledSet, evaluations: Sequence[ModelEvaluation]) -> str:
    """One row per image and model (see :data:`CSV_COLUMNS`); failed images carry their error."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for evaluation in evaluations:
        name, labels = evaluation.name, evaluation.labels
        rows: list[tuple[int, list[object]]] = []
        for row, item in enumerate(evaluation.item.tolist()):
            rank = int(evaluation.true_rank[row])
            predicted = labels[int(evaluation.ranked[row, 0])]
            confidence = f"{float(evaluation.probabilities[row, 0]):.6f}"
            rows.append((item, [predicted, confidence, rank or "", ""]))
        rows += [(item, ["", "", "", error]) for item, error in evaluation.failures]
        for item, fields in sorted(rows, key=lambda pair: pair[0]):
            image = labelled.items[item]
            writer.writerow([name, shown_file(image.path, labelled), image.label, *fields])
    return out.getvalue()


def build_report(
    labelled: LabelledSet, evaluations: Sequence[ModelEvaluation], comparison: Comparison | None
) -> dict[str, Any]:
    """The JSON document (keys in docs/evaluate.md)."""
    counts = labelled.counts()
    report: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": {
            "root": display_path(labelled.root),
            "layout": labelled.layout,
            "split": labelled.split,
            "images": len(labelled.items),
            "classes": [{"name": name, "images": counts.get(name, 0)} for name in labelled.classes],
            "problems": list(labelled.problems),
        },
        "versions": _versions(),
        "hardware": _hardware(),
        "models": [_model_json(labelled, e) for e in evaluations],
    }
    if comparison is not None and len(evaluations) > 1:
        report["comparison"] = _comparison_json(labelled, evaluations, comparison)
    return report


def _versions() -> dict[str, str]:
    import importlib.metadata

    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return {
        "workbench": version("cnn-workbench"),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "openvino": version("openvino"),
        "numpy": np.__version__,
        "pillow": Image.__version__,
    }


def _hardware() -> dict[str, Any]:
    name, features = cpu_info()
    return {
        "cpu": name,
        "cpu_features": list(features),
        "cores": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _model_json(labelled: LabelledSet, evaluation: ModelEvaluation) -> dict[str, Any]:
    model, match = evaluation.model, evaluation.match
    unknown = unknown_counts(labelled, match)
    images_per_second = evaluation.images_per_second
    return {
        "name": model.entry.name,
        "file": display_path(model.entry.path),
        "sha256": evaluation.sha256,
        "engine": model.engine,  # what ran: "onnxruntime" / "openvino"
        "device": model.device,  # "CPU", "CUDA", "GPU", ...
        "precision": model.precision,  # "fp32", "int8", "bf16", ...
        "runtime_precisions": list(getattr(model, "runtime_precisions", ())) or None,  # OpenVINO's compute layers
        "ran_on": ran_text(model),  # the same in words: "OpenVINO CPU, bf16"
        "provider": model.provider_label,
        "providers": list(model.providers),
        "requested_provider": model.requested,
        "fallback_reason": model.fallback_reason,
        "class_mapping": {
            name: {"index": index, "label": evaluation.labels[index], "how": match.how.get(name)}
            for name, index in match.index.items()
        },
        "unknown_classes": [
            {"name": name, "images": unknown.get(name, 0), "reason": match.reasons.get(name)} for name in match.unknown
        ],
        "images_evaluated": len(evaluation.item),
        "failed": [
            {"file": shown_file(labelled.items[item].path, labelled), "error": error}
            for item, error in evaluation.failures
        ],
        "seconds": round(evaluation.seconds, 4),
        "images_per_second": None if images_per_second is None else round(images_per_second, 3),
        "median_latency_ms": None if evaluation.latency_ms is None else round(evaluation.latency_ms, 4),
        "metrics": _metrics_json(evaluation),
        "worst_mistakes": _worst_mistakes(labelled, evaluation),
    }


def _metrics_json(evaluation: ModelEvaluation) -> dict[str, Any]:
    """The model's figures (``worst_mistakes`` beside them lists the mistakes with their files)."""
    figures = evaluation.metrics.to_json(mistakes=0)
    del figures["mistakes"]
    return figures


def _worst_mistakes(labelled: LabelledSet, evaluation: ModelEvaluation) -> list[dict[str, Any]]:
    """The most confident wrong top-1 answers with the file and the model's top-k."""
    worst = []
    for mistake in evaluation.metrics.mistakes(WORST_MISTAKES):
        row = mistake.index
        image = labelled.items[int(evaluation.item[row])]
        top = [
            {"label": evaluation.labels[int(i)], "probability": round(float(p), 6)}
            for i, p in zip(evaluation.ranked[row], evaluation.probabilities[row], strict=True)
        ]
        worst.append(
            {
                "file": shown_file(image.path, labelled),
                "true_label": image.label,
                "predicted_label": mistake.predicted_label,
                "confidence": round(mistake.confidence, 6),
                "true_rank": int(evaluation.true_rank[row]) or None,
                "top": top,
            }
        )
    return worst


def _comparison_json(
    labelled: LabelledSet, evaluations: Sequence[ModelEvaluation], comparison: Comparison
) -> dict[str, Any]:
    listed = []
    position = {int(item): column for column, item in enumerate(comparison.items.tolist())}
    for item in comparison.disagree[:DISAGREEMENTS_LISTED].tolist():
        column = position[int(item)]
        image = labelled.items[int(item)]
        answers = {
            name: (comparison.classes[int(i)] if i >= 0 else None)
            for name, i in zip(comparison.names, comparison.top1[:, column].tolist(), strict=True)
        }
        listed.append({"file": shown_file(image.path, labelled), "true_label": image.label, "top1": answers})
    return {
        "models": list(comparison.names),
        "images_compared": len(comparison.items),
        "note": comparison.note,
        "top1_agreement": [[round(float(v), 6) for v in row] for row in comparison.agreement],
        "disagreements": len(comparison.disagree),
        "disagreement_images": listed,
    }


def write_report(
    folder: Path, labelled: LabelledSet, evaluations: Sequence[ModelEvaluation], comparison: Comparison | None
) -> tuple[Path, ...]:
    """Write :data:`REPORT_FILES` into ``folder`` (created if needed); returns their paths.

    Raises:
        OSError: the folder cannot be created or written (nothing half-written is left behind).
    """
    from desktop_app.core.report_html import render_html

    folder.mkdir(parents=True, exist_ok=True)
    report = build_report(labelled, evaluations, comparison)
    text = json.dumps(report, indent=1, ensure_ascii=False, allow_nan=False)
    html = render_html(report, image_root=labelled.root if labelled.root.is_dir() else labelled.root.parent)
    paths = tuple(folder / name for name in REPORT_FILES)
    write_text_atomic(paths[0], predictions_csv(labelled, evaluations))
    write_text_atomic(paths[1], text + "\n")
    write_text_atomic(paths[2], html)
    return paths
