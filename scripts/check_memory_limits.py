"""Run each hostile input of issue 13 through the real ``python -m desktop_app classify`` under a memory limit.

Every case builds its files in a temporary folder (small ONNX classifiers made with ``onnx.helper``,
images made with Pillow, a 12 GB junk model made sparse with ``truncate`` so it takes no disk), runs
``classify`` in a subprocess whose address space is capped with ``RLIMIT_AS`` (default 4 GiB), and
prints the exit code, the message, the peak resident memory and the wall time. Expected: every
hostile model is refused with exit code 2 and a message naming the file and the problem; the hostile
image and the junk file beside a good model do not stop the good work (exit code 0).

Example::

    python scripts/check_memory_limits.py                    # this checkout, 4 GiB
    python scripts/check_memory_limits.py --limit-gb 2 --checkout /tmp/old-checkout
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3
LABELS = [f"thing-{i}" for i in range(10)]


def model_file(
    path: Path, preprocess: dict[str, object] | None, *, dims: tuple[int | str, ...] = ("N", 3, "H", "W"), **extra: str
) -> Path:
    """A GlobalAveragePool -> MatMul classifier of 10 classes; workbench metadata unless ``preprocess`` is None."""
    weights = numpy_helper.from_array(np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10), "w")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["image"], ["pooled"], name="pool"),
            helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten"),
            helper.make_node("MatMul", ["flat", "w"], ["logits"], name="fc"),
        ],
        "hostile",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [dims[0], 10])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    if preprocess is not None:
        props = {
            "format": "cnn-workbench/1",
            "architecture": "poolnet",
            "labels.set": "hostile-10",
            "labels": json.dumps(LABELS),
            "preprocess": json.dumps(preprocess),
            "weights": json.dumps({"source": "file", "trained": True}),
            **extra,
        }
        for key, value in props.items():
            model.metadata_props.add(key=f"workbench.{key}", value=value)
    onnx.save(model, str(path))
    return path


STANDARD = {"resize": 256, "crop": [224, 224]}


def case_strip(folder: Path) -> list[str]:
    strip = folder / "strip-1x100000.png"
    Image.new("RGB", (1, 100_000), (200, 30, 30)).save(strip)
    model_file(folder / "good.onnx", STANDARD)
    return [str(strip), "--model", "good"]


def case_graph_input(folder: Path) -> list[str]:
    return ["--model", str(model_file(folder / "input-20000.onnx", None, dims=(1, 3, 20000, 20000)))]


def case_metadata_crop(folder: Path) -> list[str]:
    return ["--model", str(model_file(folder / "crop-20000.onnx", {"resize": 256, "crop": [20000, 20000]}))]


def case_resize(folder: Path) -> list[str]:
    return ["--model", str(model_file(folder / "resize-100000.onnx", {"resize": 100_000, "crop": [224, 224]}))]


def case_golden(folder: Path) -> list[str]:
    golden = {"shape": [20000, 3, 224, 224], "layout": "NCHW", "top5": [0, 1, 2, 3, 4]}
    golden |= {"top5_logits": [1.0, 0.5, 0.2, 0.1, 0.0], "logit_range": 1.0, "tolerance": 0.001}
    return ["--model", str(model_file(folder / "golden-20000.onnx", STANDARD, golden=json.dumps(golden)))]


def case_junk(folder: Path) -> list[str]:
    model_file(folder / "good.onnx", STANDARD)
    with (folder / "junk-12gb.onnx").open("wb") as handle:
        handle.write(b"\x08\x07not a model")
        handle.truncate(12 * GIB)  # sparse: no disk used
    return ["--model", "good"]


def case_std(folder: Path) -> list[str]:
    tiny_std = STANDARD | {"std": [1e-30, 0.224, 0.225]}
    return ["--model", str(model_file(folder / "std-1e-30.onnx", tiny_std))]


CASES: list[tuple[str, Callable[[Path], list[str]]]] = [
    ("1x100000 PNG (475 bytes) + a photo, good model", case_strip),
    ("graph input 1x3x20000x20000 (no metadata)", case_graph_input),
    ("metadata crop 20000x20000", case_metadata_crop),
    ("metadata resize 100000", case_resize),
    ("golden batch 20000 (3x224x224)", case_golden),
    ("12 GB sparse junk .onnx beside a good model", case_junk),
    ("near-zero std (1e-30)", case_std),
]


def run_case(checkout: Path, limit: int, build: Callable[[Path], list[str]]) -> tuple[int, str, float, float]:
    """(exit code, message, peak RSS in MiB, wall seconds) of one ``classify`` run under the limit."""
    with tempfile.TemporaryDirectory(prefix="memory-limits-") as tmp:
        folder = Path(tmp) / "models"
        folder.mkdir()
        photo = Path(tmp) / "photo.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(photo)
        args = ["classify", str(photo), *build(folder), "--models-dir", str(folder), "--provider", "cpu"]
        env = dict(os.environ, PYTHONPATH=str(checkout), CNN_WORKBENCH_CACHE="off")
        with (Path(tmp) / "out").open("w+") as out, (Path(tmp) / "err").open("w+") as err:
            start = time.perf_counter()
            process = subprocess.Popen(
                [sys.executable, "-m", "desktop_app", *args],
                cwd=checkout,
                env=env,
                stdout=out,
                stderr=err,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)),
            )
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            message = _message(out.read(), err.read())
    return process.returncode, message, usage.ru_maxrss / 1024, wall


def _message(stdout: str, stderr: str) -> str:
    """The line that says what happened: the error, else the summary of the classification."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    if errors:
        return errors[-1][:300]
    if lines:
        return lines[-1][:300]
    return (stdout.strip().splitlines() or ["(no output)"])[-1][:300]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-gb", type=float, default=4.0, help="address-space limit (RLIMIT_AS), GiB")
    parser.add_argument("--checkout", type=Path, default=REPO_ROOT, help="the checkout whose desktop_app runs")
    args = parser.parse_args(argv)
    limit = int(args.limit_gb * GIB)
    print(f"python -m desktop_app classify from {args.checkout}, RLIMIT_AS {args.limit_gb:g} GiB, --provider cpu")
    for name, build in CASES:
        code, message, rss, wall = run_case(args.checkout, limit, build)
        print(f"\n{name}\n  exit {code}, peak RSS {rss:.0f} MiB, wall {wall:.2f} s\n  {message}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
