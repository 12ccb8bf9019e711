"""How close a lowered candidate is to fp32: its logits on ONNX Runtime's CPU, agreement and SQNR.

Used by every step that keeps or drops a change by its effect (the fp32 fallback, the rewrites, the
final verification of the lowered file).

Example::

    python -c "import numpy as np; from exporter.quant.measure import agreement; print(agreement(np.eye(3), np.eye(3)))"
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from workbench.contract import INPUT_NAME


def run_logits(model: Path | bytes, batch: np.ndarray, chunk: int = 8) -> np.ndarray:
    """Logits of ``model`` (a file or serialized ModelProto) on ``batch``, ONNX Runtime CPU, all optimisations."""
    session = ort.InferenceSession(
        model if isinstance(model, bytes) else str(model), providers=["CPUExecutionProvider"]
    )
    outs = [session.run(None, {INPUT_NAME: batch[i : i + chunk]})[0] for i in range(0, len(batch), chunk)]
    return np.concatenate(outs).astype(np.float32)


def agreement(reference: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Top-1 agreement, output SQNR (dB) and worst |diff| relative to the reference's logit range."""
    spread = float((reference.max(axis=1) - reference.min(axis=1)).max())
    noise = float(np.mean((reference - got) ** 2))
    signal = float(np.mean(reference**2))
    return {
        "top1_agreement": float(np.mean(reference.argmax(1) == got.argmax(1))),
        "sqnr_db": 10 * np.log10(signal / noise) if noise > 0 else float("inf"),
        "max_rel_diff": float(np.abs(reference - got).max()) / spread if spread > 0 else 0.0,
        "images": int(reference.shape[0]),
    }
