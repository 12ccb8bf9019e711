"""VGG-11/13/16/19 with and without batch norm (Simonyan & Zisserman, 2014), as torchvision's.

One config table: a number is a 3x3 convolution with that many channels, ``"M"`` a 2x2 max
pool. An adaptive 7x7 average pool before the classifier lets any input >= 32x32 work.

Example::

    python -c "import torch, models; print(models.get_model('vgg16_bn')(torch.rand(1, 3, 64, 64)).shape)"
"""

from __future__ import annotations

from torch import Tensor, nn

from models.registry import register_model
from models.spec import ModelSpec, PretrainedWeights

CFGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(cfg: list[int | str], batch_norm: bool) -> nn.Sequential:
    """The convolutional trunk for one row of :data:`CFGS`."""
    layers: list[nn.Module] = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        assert isinstance(v, int)
        layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A convolutional trunk, a 7x7 adaptive pool and the three-layer classifier."""

    def __init__(self, features: nn.Sequential, num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _spec(name: str, params: int, gmacs: float, file: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="vgg",
        input_size=(3, 224, 224),
        resize_size=256,
        crop_size=224,
        min_size=(32, 32),
        num_params=params,
        gmacs=gmacs,
        paper="Very Deep Convolutional Networks for Large-Scale Image Recognition (Simonyan & Zisserman, 2014)",
        pretrained=PretrainedWeights(url="https://download.pytorch.org/models/" + file),
    )


def _vgg(cfg: str, batch_norm: bool, num_classes: int, dropout: float) -> VGG:
    return VGG(make_layers(CFGS[cfg], batch_norm), num_classes=num_classes, dropout=dropout)


@register_model(_spec("vgg11", 132_863_336, 7.61, "vgg11-8a719046.pth"))
def vgg11(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("A", False, num_classes, dropout)


@register_model(_spec("vgg11_bn", 132_868_840, 7.61, "vgg11_bn-6002323d.pth"))
def vgg11_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("A", True, num_classes, dropout)


@register_model(_spec("vgg13", 133_047_848, 11.31, "vgg13-19584684.pth"))
def vgg13(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("B", False, num_classes, dropout)


@register_model(_spec("vgg13_bn", 133_053_736, 11.31, "vgg13_bn-abd245e5.pth"))
def vgg13_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("B", True, num_classes, dropout)


@register_model(_spec("vgg16", 138_357_544, 15.47, "vgg16-397923af.pth"))
def vgg16(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("D", False, num_classes, dropout)


@register_model(_spec("vgg16_bn", 138_365_992, 15.47, "vgg16_bn-6c64b313.pth"))
def vgg16_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("D", True, num_classes, dropout)


@register_model(_spec("vgg19", 143_667_240, 19.63, "vgg19-dcbb9e9d.pth"))
def vgg19(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("E", False, num_classes, dropout)


@register_model(_spec("vgg19_bn", 143_678_248, 19.63, "vgg19_bn-c79401a0.pth"))
def vgg19_bn(*, num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    return _vgg("E", True, num_classes, dropout)
