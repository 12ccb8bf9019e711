"""Deterministic, well-scaled synthetic weights for any state-dict layout.

Both the reference generator (``scripts/make_torchvision_reference.py``, run where torchvision
is installed) and the tests fill a state dict from its key names and shapes with this one rule,
so torchvision's recorded outputs can be compared with ours without shipping real checkpoints.

Example::

    python scripts/make_torchvision_reference.py   # in an environment with torchvision
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import torch

REFERENCE_SEED = 20261123


def synthetic_state_dict(layout: Iterable[tuple[str, tuple[int, ...]]], seed: int = REFERENCE_SEED) -> OrderedDict:
    """Weights ~ N(0, 1/fan_in), BN scale ~ 1 +- 0.1, running var in [0.5, 1.5], biases small."""
    g = torch.Generator().manual_seed(seed)
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, shape in layout:
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(0, dtype=torch.long)
            continue
        r = torch.randn(shape, generator=g)
        if key.endswith("running_var"):
            out[key] = 0.5 + torch.rand(shape, generator=g)
        elif key.endswith("running_mean") or key.endswith("bias"):
            out[key] = 0.05 * r
        elif len(shape) == 1:  # batch-norm scale
            out[key] = 1.0 + 0.1 * r
        else:
            fan_in = max(1, int(torch.tensor(shape[1:]).prod()))
            out[key] = r * (2.0 / fan_in) ** 0.5
    return out


def reference_input(name: str, size: int) -> torch.Tensor:
    """The fixed input batch (2 images) the reference outputs were recorded on."""
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    return torch.randn(2, 3, size, size, generator=g)
