"""Check an exported file against PyTorch before it is kept, and compute its golden self-test.

Inputs are the real photos shipped in ``exporter/data/photos`` (through the file's own
preprocessing, the app's implementation) plus the golden input of the metadata contract. ONNX
Runtime (CPU) must match PyTorch to ``max |diff| <= 1e-3 * logit range`` with identical top-5.

Example::

    python -m exporter export --model resnet18 --weights random   # prints the verification numbers
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from exporter.errors import ExporterError
from workbench.contract import INPUT_NAME, Golden, golden_input
from workbench.imageio import load_image
from workbench.preprocess import Preprocess, preprocess_batch

RELATIVE_TOLERANCE = 1e-3


def photo_paths() -> list[Path]:
    """The real photos every export is checked on."""
    folder = resources.files("exporter").joinpath("data").joinpath("photos")
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith(".png"))


class _LogitComparison:
    """What both verification records share: the worst logit error relative to the logit range."""

    max_abs_diff: float
    logit_range: float

    @property
    def relative_diff(self) -> float:
        return self.max_abs_diff / self.logit_range if self.logit_range > 0 else self.max_abs_diff


@dataclass(frozen=True)
class Verification(_LogitComparison):
    """The numbers printed after an export: worst error and whether the top-5 agree everywhere."""

    inputs: int
    max_abs_diff: float
    logit_range: float
    top5_identical: bool
    photo_top5: tuple[tuple[int, ...], ...]

    @property
    def passed(self) -> bool:
        return self.top5_identical and self.relative_diff <= RELATIVE_TOLERANCE

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}: ONNX Runtime vs PyTorch on {self.inputs} inputs: max |diff| {self.max_abs_diff:.2e} "
            f"({self.relative_diff:.2e} of logit range {self.logit_range:.2f}, limit {RELATIVE_TOLERANCE:.0e}), "
            f"top-5 {'identical' if self.top5_identical else 'DIFFERENT'}"
        )


def inputs_for(preprocess: Preprocess, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(photos batch, golden input) in the graph's layout."""
    photos = preprocess_batch([load_image(p, min_side=preprocess.resize) for p in photo_paths()], preprocess)
    golden = golden_input((1, 3, *image_size))
    return photos, golden


def torch_logits(model: nn.Module, batch: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).float().numpy()


def make_golden(logits: np.ndarray, image_size: tuple[int, int]) -> Golden:
    """The golden self-test record from PyTorch's logits for :func:`golden_input`."""
    row = logits[0]
    top5 = np.argsort(-row, kind="stable")[:5]
    return Golden(
        shape=(1, 3, *image_size),
        layout="NCHW",
        top5=tuple(int(i) for i in top5),
        top5_logits=tuple(float(row[i]) for i in top5),
        logit_range=float(row.max() - row.min()),
        tolerance=RELATIVE_TOLERANCE,
    )


def verify(onnx_path: Path, model: nn.Module, photos: np.ndarray, golden: np.ndarray) -> Verification:
    """Run both frameworks on the same inputs and compare logits and top-5."""
    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
        raise ExporterError(f"{onnx_path.name}: ONNX Runtime cannot load the export ({exc})") from exc
    worst, spread, same = 0.0, 0.0, True
    photo_top5: list[tuple[int, ...]] = []
    for batch in (photos, golden):
        expected = torch_logits(model, batch)
        got = session.run(None, {INPUT_NAME: batch})[0]
        worst = max(worst, float(np.abs(got - expected).max()))
        spread = max(spread, float((expected.max(axis=1) - expected.min(axis=1)).max()))
        top_expected = np.argsort(-expected, axis=1, kind="stable")[:, :5]
        top_got = np.argsort(-got, axis=1, kind="stable")[:, :5]
        same = same and bool((top_expected == top_got).all())
        if batch is photos:
            photo_top5 = [tuple(int(i) for i in row) for row in top_expected]
    return Verification(len(photos) + len(golden), worst, spread, same, tuple(photo_top5))


#: Lowered precisions: worst |diff| allowed, as a fraction of PyTorch's logit range.
LOWERED_TOLERANCE = {"fp16": 1e-2, "int8": 0.2}
#: Tolerance of the golden record of a lowered file (its own answer, re-run by the app on any CPU/GPU).
LOWERED_GOLDEN_TOLERANCE = {"fp16": 1e-2, "int8": 0.05}


@dataclass(frozen=True)
class LoweredVerification(_LogitComparison):
    """fp16/int8 against PyTorch fp32: top-1 must agree except near-ties, logit error within a bound.

    A near-tie is an input where PyTorch's own logit for the file's top-1 class is within
    ``tolerance * logit range`` of PyTorch's top-1 logit (the two classes are indistinguishable at
    this precision).
    """

    precision: str
    inputs: int
    top1_agreement: float
    near_ties: int
    disagreements: int
    max_abs_diff: float
    logit_range: float
    tolerance: float
    photo_top5: tuple[tuple[int, ...], ...]

    @property
    def passed(self) -> bool:
        return self.disagreements == 0 and self.relative_diff <= self.tolerance

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}: {self.precision} ONNX Runtime vs PyTorch fp32 on {self.inputs} inputs: top-1 agreement "
            f"{self.top1_agreement:.1%} ({self.near_ties} near-ties, {self.disagreements} real disagreements), "
            f"max |diff| {self.max_abs_diff:.3g} ({self.relative_diff:.2e} of logit range {self.logit_range:.2f}, "
            f"limit {self.tolerance:.0e})"
        )

    def describe(self) -> dict[str, object]:
        return {
            "rule": "top-1 equal to PyTorch fp32 on every verification input except near-ties "
            "(PyTorch logits within tolerance*range), and max |diff| <= tolerance*range",
            "inputs": self.inputs,
            "top1_agreement": self.top1_agreement,
            "near_ties": self.near_ties,
            "max_abs_diff": self.max_abs_diff,
            "relative_diff": self.relative_diff,
            "tolerance": self.tolerance,
        }


def verify_lowered(
    onnx_path: Path, expected: np.ndarray, inputs: np.ndarray, precision: str, n_photos: int
) -> LoweredVerification:
    """Run ``onnx_path`` (fp16/int8) on ``inputs`` against ``expected``, PyTorch fp32's logits on them.

    The first ``n_photos`` inputs are photos (their PyTorch top-5 is recorded).
    """
    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise ExporterError(f"{onnx_path.name}: ONNX Runtime cannot load the export ({exc})") from exc
    got = np.concatenate([session.run(None, {INPUT_NAME: inputs[i : i + 8]})[0] for i in range(0, len(inputs), 8)])
    spread = expected.max(axis=1) - expected.min(axis=1)
    tolerance = LOWERED_TOLERANCE[precision]
    rows = np.arange(len(inputs))
    top_expected, top_got = expected.argmax(1), got.argmax(1)
    gap = expected[rows, top_expected] - expected[rows, top_got]
    differ = top_expected != top_got
    near = differ & (gap <= tolerance * spread)
    top5 = np.argsort(-expected[:n_photos], axis=1, kind="stable")[:, :5]
    return LoweredVerification(
        precision=precision,
        inputs=len(inputs),
        top1_agreement=float(np.mean(~differ)),
        near_ties=int(near.sum()),
        disagreements=int((differ & ~near).sum()),
        max_abs_diff=float(np.abs(got - expected).max()),
        logit_range=float(spread.max()),
        tolerance=tolerance,
        photo_top5=tuple(tuple(int(i) for i in row) for row in top5),
    )
