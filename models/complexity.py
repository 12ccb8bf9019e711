"""Count parameters and multiply-accumulates (MACs) of a model by running it once.

MACs are counted the way torchvision's published "GFLOPS" figures are: convolutions and
fully-connected layers only (one MAC per weight use), at the model's native input size.

Example::

    python -c "import models.complexity as c, models; print(c.count_macs(models.get_model('resnet50'), (3, 224, 224)))"
"""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    """Number of parameters (not buffers), as ``sum(p.numel() for p in model.parameters())``."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, input_size: tuple[int, int, int]) -> int:
    """MACs of one eval-mode forward pass on a single image of ``input_size`` (C, H, W)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        with torch.inference_mode():
            model(torch.zeros(1, *input_size))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total
