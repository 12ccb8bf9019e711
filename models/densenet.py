"""DenseNet-121/161/169/201 (Huang et al., 2016), parameter-for-parameter as torchvision's.

Each dense layer is BN-ReLU-1x1 conv (bottleneck, ``bn_size * growth_rate`` channels) then
BN-ReLU-3x3 conv (``growth_rate`` channels), concatenated onto its input; transitions halve
channels and resolution. Old torchvision checkpoints spell ``norm.1`` for ``norm1``:
:func:`remap_legacy_keys` renames them as torchvision's own loader does.

Example::

    python -c "import torch, models; print(models.get_model('densenet121')(torch.rand(2, 3, 64, 64)).shape)"
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.registry import register_model
from models.spec import ModelSpec, PretrainedWeights

_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


class _DenseLayer(nn.Module):
    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, drop_rate: float) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)

    def forward(self, features: list[Tensor]) -> Tensor:
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        if self.drop_rate > 0:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x


class _DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int, drop_rate: float):
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size, drop_rate)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features: Tensor) -> Tensor:
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, num_input_features: int, num_output_features: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """A stem, dense blocks of ``block_config[i]`` layers joined by transitions, and a classifier."""

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, int, int, int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        drop_rate: float = 0.0,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv0=nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3, bias=False),
                norm0=nn.BatchNorm2d(num_init_features),
                relu0=nn.ReLU(inplace=True),
                pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        )
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers, num_features, bn_size, growth_rate, drop_rate)
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.features(x), inplace=True)
        out = F.adaptive_avg_pool2d(out, (1, 1))
        return self.classifier(torch.flatten(out, 1))


def remap_legacy_keys(state_dict: Mapping[str, Tensor]) -> OrderedDict[str, Tensor]:
    """Rename ``...denselayer1.norm.1.weight`` (old checkpoints) to ``...denselayer1.norm1.weight``."""
    out: OrderedDict[str, Tensor] = OrderedDict()
    for key, value in state_dict.items():
        m = _LEGACY_KEY.match(key)
        out[m.group(1) + m.group(2) if m else key] = value
    return out


def _spec(name: str, params: int, gmacs: float, file: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="densenet",
        input_size=(3, 224, 224),
        resize_size=256,
        crop_size=224,
        min_size=(29, 29),
        num_params=params,
        gmacs=gmacs,
        paper="Densely Connected Convolutional Networks (Huang et al., 2016)",
        pretrained=PretrainedWeights(url="https://download.pytorch.org/models/" + file),
    )


@register_model(_spec("densenet121", 7_978_856, 2.83, "densenet121-a639ec97.pth"))
def densenet121(*, num_classes: int = 1000, drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(32, (6, 12, 24, 16), 64, drop_rate=drop_rate, num_classes=num_classes)


@register_model(_spec("densenet161", 28_681_000, 7.73, "densenet161-8d451a50.pth"))
def densenet161(*, num_classes: int = 1000, drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(48, (6, 12, 36, 24), 96, drop_rate=drop_rate, num_classes=num_classes)


@register_model(_spec("densenet169", 14_149_480, 3.36, "densenet169-b2777c0a.pth"))
def densenet169(*, num_classes: int = 1000, drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(32, (6, 12, 32, 32), 64, drop_rate=drop_rate, num_classes=num_classes)


@register_model(_spec("densenet201", 20_013_928, 4.29, "densenet201-c1103571.pth"))
def densenet201(*, num_classes: int = 1000, drop_rate: float = 0.0) -> DenseNet:
    return DenseNet(32, (6, 12, 48, 32), 64, drop_rate=drop_rate, num_classes=num_classes)
