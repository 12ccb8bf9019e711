"""Folder classification: files are decoded ahead in threads, run in batches, and the first result comes first.

Run: ``pytest tests/desktop_app/test_folder.py -q``
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_app.core.catalog import inspect_model
from desktop_app.core.classify import classify_paths
from desktop_app.core.runtime import LoadedModel, load_model
from exporter.api import ExportResult

pytestmark = pytest.mark.usefixtures("private_cache")  # every test gets its own optimized-model cache


def _photos(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        path = folder / f"img{i:03d}.jpg"
        Image.fromarray(rng.integers(0, 255, (300 + i, 400, 3), dtype=np.uint8)).save(path, quality=85)
        paths.append(path)
    return paths


class Recorder:
    """Wraps a loaded model's run() to record batch sizes."""

    def __init__(self, model: LoadedModel) -> None:
        self.model, self.batches = model, []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.shape[0])
        return self.model.run(batch)


def test_folder_is_batched_and_first_result_comes_first(fp32_export: ExportResult, tmp_path: Path) -> None:
    paths = _photos(tmp_path, 40)
    model = load_model(inspect_model(fp32_export.path), "cpu")
    recorder = Recorder(model)
    proxy = _Proxy(model, recorder)
    pulled: list[Path] = []

    def source() -> Iterator[Path]:
        for p in paths:
            pulled.append(p)
            yield p

    results = classify_paths(proxy, source(), batch_size=8, workers=2)  # type: ignore[arg-type]
    first = next(results)
    assert first.path == paths[0] and first.ok
    assert len(pulled) < len(paths), "the first result must not wait for the whole folder"
    rest = list(results)
    assert [r.path for r in [first, *rest]] == paths and all(r.ok for r in rest)
    assert recorder.batches[0] >= 1 and max(recorder.batches) > 1 and sum(recorder.batches) == len(paths)


class _Proxy:
    """A LoadedModel look-alike whose run() goes through the recorder."""

    def __init__(self, model: LoadedModel, recorder: Recorder) -> None:
        self.entry, self._recorder = model.entry, recorder

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self._recorder.run(batch)
