"""Helpers shared by the tests of several packages: the repository's paths and photos, small exports, profiling.

Fixtures live in the ``conftest.py`` files; what test modules import lives in helper modules like this one.

Example::

    python -c "from tests.helpers import PHOTOS; print(PHOTOS['chelsea'])"
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exporter.api import ExportResult

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
PHOTOS = {"chelsea": DATA / "chelsea.png", "coffee": DATA / "coffee.png"}
# ImageNet indices a good model puts in the top-5 for each shared photo.
EXPECTED_CLASSES = {"chelsea": {281, 282, 285}, "coffee": {967, 968, 504}}
# Image size of the small resnet18 exports (random weights) made once per session for the perf tests.
SMALL_EXPORT_SIZE = 64


def export_small(folder: Path, precision: str) -> ExportResult:
    """A resnet18 export (random weights, ``SMALL_EXPORT_SIZE`` px) in ``precision`` into ``folder``."""
    from exporter.api import export_model

    return export_model(
        "resnet18",
        "random",
        folder,
        image_size=SMALL_EXPORT_SIZE,
        progress=False,
        precision=precision,
        log=lambda _m: None,
    )


def copy_export(result: ExportResult, folder: Path) -> ExportResult:
    """``result`` with its file copied into ``folder`` (created): a session's one export in a folder of its own.

    The copy is the same bytes, so its card, golden record and verification still describe it; tests that
    list or write into the model's folder see only this file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(result, path=Path(shutil.copy2(result.path, folder / result.path.name)))


def profiled_node_names(model_file: Path, folder: Path, size: int = 64) -> list[str]:
    """The node names ONNX Runtime's profiler reports for one run of ``model_file`` (CPU, all optimisations)."""
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / "profile")
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    session.run(None, {"image": np.zeros((1, 3, size, size), np.float32)})
    events = json.loads(Path(session.end_profiling()).read_text())
    return [e["name"] for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
