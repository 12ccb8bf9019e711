"""Shared fixtures: the repository's test data; per-user folders redirected away from the user's own."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = {"chelsea": DATA / "chelsea.png", "coffee": DATA / "coffee.png"}
# ImageNet indices a good model puts in the top-5 for each shared photo.
EXPECTED_CLASSES = {"chelsea": {281, 282, 285}, "coffee": {967, 968, 504}}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


def pytest_configure(config: pytest.Config) -> None:
    """Keep tests (and the CLIs they start) out of the user's optimized-model cache and models folder."""
    scratch = Path(tempfile.mkdtemp(prefix="cnn-workbench-tests-"))
    os.environ["CNN_WORKBENCH_CACHE"] = str(scratch / "optimized-cache")
    os.environ.setdefault("CNN_WORKBENCH_MODELS", str(scratch / "models"))


def profiled_node_names(model_file: Path, folder: Path, size: int = 64) -> list[str]:
    """The node names ONNX Runtime's profiler reports for one run of ``model_file`` (CPU, all optimisations)."""
    import json

    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / "profile")
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
    session.run(None, {"image": np.zeros((1, 3, size, size), np.float32)})
    events = json.loads(Path(session.end_profiling()).read_text())
    return [e["name"] for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
