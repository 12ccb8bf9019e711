"""What ``classify`` writes: its JSON lines (strict: no NaN) and its CSV, with the model and file fields.

Example::

    python -m desktop_app classify photos/ --json --csv results.csv
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from desktop_app import cli_engine
from desktop_app.core.classify import NON_FINITE_REASON, FileResult
from desktop_app.core.evaluate import file_sha256
from desktop_app.core.runtime import EngineModel
from workbench.names import display_path, printable

__all__ = ["classify_csv", "file_fields", "finite_or_error", "json_line", "model_fields", "result_json"]


def finite_or_error(result: FileResult) -> FileResult:
    """``result``, or an error result when its probabilities are not all finite (never printed as NaN)."""
    if result.prediction is None or all(math.isfinite(p) for p in result.prediction.probabilities):
        return result
    return FileResult(path=result.path, error=f"{display_path(result.path)}: {NON_FINITE_REASON}")


def json_line(record: dict[str, object], as_ascii: bool) -> str:
    """One line of strict JSON (NaN and infinity refused: ``ValueError``)."""
    return json.dumps(record, ensure_ascii=as_ascii, allow_nan=False)


def file_fields(path: Path) -> dict[str, object]:
    """``file`` as shown everywhere, plus the exact bytes in hex when the shown name had to escape some."""
    shown = display_path(path)
    if shown == os.fspath(path):
        return {"file": shown}
    return {"file": shown, "file_bytes_hex": os.fsencode(path).hex()}


def result_json(result: FileResult, model: EngineModel) -> dict[str, object]:
    if result.prediction is None:
        return {**file_fields(result.path), "error": result.error}
    prediction = result.prediction
    return {
        **file_fields(result.path),
        "labels": [printable(label) for label in prediction.labels],
        "indices": list(prediction.indices),
        "probabilities": [round(p, 6) for p in prediction.probabilities],
        "provider": model.providers[0] if model.providers else None,
        **cli_engine.engine_fields(model),
        **model_fields(model),
    }


def model_fields(model: EngineModel) -> dict[str, object]:
    """Which model answered: display name, file and the file's sha256 (computed once per file)."""
    return {
        "model": printable(model.entry.name),
        "model_file": display_path(model.entry.path),
        "model_sha256": _sha256(model.entry.path),
    }


@functools.cache
def _sha256(path: Path) -> str:
    return file_sha256(path)


def classify_csv(results: Sequence[FileResult], model: EngineModel) -> str:
    """The ``--csv`` text: one row per image and rank; a failed image is one row with its error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("file", "rank", "label", "index", "probability", "model", "model_sha256", "error"))
    name, digest = printable(model.entry.name), _sha256(model.entry.path)
    for result in results:
        shown = display_path(result.path)
        if result.prediction is None:
            writer.writerow((shown, "", "", "", "", name, digest, result.error))
            continue
        p = result.prediction
        for rank, (index, label, probability) in enumerate(zip(p.indices, p.labels, p.probabilities, strict=True), 1):
            writer.writerow((shown, rank, printable(label), index, f"{probability:.6f}", name, digest, ""))
    return buffer.getvalue()
