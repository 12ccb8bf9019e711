"""ResNet-18/34/50/101/152 (He et al., 2015), parameter-for-parameter as torchvision's.

The bottleneck puts the stride on its 3x3 convolution (ResNet V1.5), as torchvision does.
A projection shortcut (1x1 convolution + batch norm) is used whenever the shape changes.

Example::

    python -c "import torch, models; print(models.get_model('resnet50')(torch.rand(1, 3, 224, 224)).shape)"
"""

from __future__ import annotations

from torch import Tensor, nn

from models.registry import register_model
from models.spec import ModelSpec, PretrainedWeights

_URL = "https://download.pytorch.org/models/"


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity or projection shortcut."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with an identity or projection shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """A stem, four stages of ``block`` repeated ``layers[i]`` times, global pooling and a classifier."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers: list[nn.Module] = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def _spec(name: str, params: int, gmacs: float, file: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        family="resnet",
        input_size=(3, 224, 224),
        resize_size=256,
        crop_size=224,
        min_size=(1, 1),
        num_params=params,
        gmacs=gmacs,
        paper="Deep Residual Learning for Image Recognition (He et al., 2015)",
        pretrained=PretrainedWeights(url=_URL + file),
    )


@register_model(_spec("resnet18", 11_689_512, 1.81, "resnet18-f37072fd.pth"))
def resnet18(*, num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, zero_init_residual)


@register_model(_spec("resnet34", 21_797_672, 3.66, "resnet34-b627a593.pth"))
def resnet34(*, num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, zero_init_residual)


@register_model(_spec("resnet50", 25_557_032, 4.09, "resnet50-0676ba61.pth"))
def resnet50(*, num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, zero_init_residual)


@register_model(_spec("resnet101", 44_549_160, 7.80, "resnet101-63fe2227.pth"))
def resnet101(*, num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, zero_init_residual)


@register_model(_spec("resnet152", 60_192_808, 11.51, "resnet152-394f9c45.pth"))
def resnet152(*, num_classes: int = 1000, zero_init_residual: bool = False) -> ResNet:
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, zero_init_residual)
