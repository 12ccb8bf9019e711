"""Record torchvision's state-dict layout and outputs for every architecture we mirror.

Runs only where torchvision is installed (it is not a dependency of this project), e.g.::

    python -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.14.1 torchvision==0.29.1
    PYTHONPATH=. /tmp/tv/bin/python scripts/make_torchvision_reference.py

For each model it builds torchvision's own module, fills it with the deterministic synthetic
weights of ``tests/models/synthetic_weights.py``, runs a fixed input in eval mode, and loads the
same state dict into our model with ``strict=True`` to print the output difference. It writes
``tests/data/torchvision_reference.npz``: every key name and shape plus torchvision's logits,
which ``tests/models/test_torchvision_compat.py`` checks against on every run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

from synthetic_weights import reference_input, synthetic_state_dict

import models

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "torchvision_reference.npz"
SIZES = {"inception_v3": 107}
DEFAULT_SIZE = 64


def main() -> None:
    arrays: dict[str, np.ndarray] = {}
    layouts: dict[str, list[tuple[str, list[int]]]] = {}
    names = [n for n in models.list_models() if hasattr(torchvision.models, n)]
    for name in names:
        kwargs = {"init_weights": False} if name == "inception_v3" else {}
        tv = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
        layout = [(k, tuple(v.shape)) for k, v in tv.state_dict().items()]
        sd = synthetic_state_dict(layout)
        tv.load_state_dict(sd, strict=True)
        ours = models.get_model(name).eval()
        ours.load_state_dict(sd, strict=True)
        x = reference_input(name, SIZES.get(name, DEFAULT_SIZE))
        with torch.no_grad():
            ref, got = tv(x), ours(x)
        diff = (ref - got).abs().max().item()
        print(f"{name:14s} keys={len(layout):5d} max|tv-ours|={diff:.3e} logit range={ref.abs().max().item():.2f}")
        arrays[f"{name}/logits"] = ref.numpy()
        layouts[name] = [(k, list(s)) for k, s in layout]
    meta = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    meta |= {"sizes": SIZES, "default_size": DEFAULT_SIZE}
    arrays["layouts_json"] = np.frombuffer(json.dumps(layouts).encode(), dtype=np.uint8)
    arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
