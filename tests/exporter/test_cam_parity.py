"""Class activation maps from the ONNX file alone (desktop_app.core.cam) against a PyTorch reference.

For every registered architecture that ends in global average pooling + a linear layer, a small file with
random (seeded) weights; PyTorch computes ``CAM_c = sum_k w[c, k] F_k`` from the same weights with a hook on
the last feature map. resnet18 comes from the exporter's library API (``export_model``: ReduceMean + Reshape +
Gemm, in fp32, int8 QDQ and fp16; the session fixtures the perf tests share), the others from PyTorch's
TorchScript exporter, which writes the GlobalAveragePool + Flatten + Gemm head that foreign files have (and
takes 1-3 s where ``export_model``'s torch.export takes 20-40 s for densenet121; the default model's own
export, efficientnet_lite0 through ``export_model``, is covered by tests/desktop_app/test_cam_localization.py).
The two must correlate >= 0.99 on the feature-map grid, and after the mapping back onto the image. An int8
file only approximates its fp32 model (activations and weights rounded to 256 levels), so its bar is 0.9.
VGG's fully connected head has no CAM: CamUnsupportedError.

Run: ``pytest tests/exporter/test_cam_parity.py -q -n 0``
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from desktop_app.core.cam import CamUnsupportedError, class_activation_map, map_to_image, open_cam_session
from desktop_app.core.catalog import ModelEntry, inspect_model
from exporter.weights import resolve_weights
from workbench.preprocess import Preprocess, preprocess_image

# (architecture, export size): small sizes keep the runs fast; at 139 px inception_v3's last map is 3 x 3.
GAP_MODELS = [("resnet18", 64), ("densenet121", 64), ("inception_v3", 139), ("efficientnet_lite0", 64)]


def _torchscript_export(model: torch.nn.Module, size: int, path: Path) -> Path:
    """A foreign-style file (no model card): input ``image``, output ``logits``, dynamic batch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript tracer's notes about constants and Slice folding
        _export_quietly(model, size, path)
    return path


def _export_quietly(model: torch.nn.Module, size: int, path: Path) -> None:
    torch.onnx.export(
        model.eval(),
        (torch.zeros(1, 3, size, size),),
        str(path),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
        opset_version=17,
    )


def _torch_cam(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(CAM [classes, h, w], logits) in PyTorch for a preprocessed batch of one, from the same seeded weights."""
    model: Any = resolve_weights(name, "random", progress=False).model.eval()
    captured: dict[str, torch.Tensor] = {}
    if name.startswith("densenet"):
        hook = model.features.register_forward_hook(lambda _m, _i, out: captured.update(f=torch.relu(out)))
        linear = model.classifier
    else:
        pool = model._avg_pooling if name.startswith("efficientnet") else model.avgpool
        hook = pool.register_forward_pre_hook(lambda _m, args: captured.update(f=args[0]))
        linear = model._fc if name.startswith("efficientnet") else model.fc
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
    hook.remove()
    features = captured["f"][0].double().numpy()
    weights = linear.weight.detach().double().numpy()
    return np.tensordot(weights, features, axes=(1, 0)), logits.numpy()[0]


def _correlation(a: np.ndarray | None, b: np.ndarray) -> float:
    assert a is not None
    seen = ~(np.isnan(a) | np.isnan(b))
    return float(np.corrcoef(a[seen].ravel(), b[seen].ravel())[0, 1])


def _pre(entry: ModelEntry) -> Preprocess:
    assert entry.preprocess is not None
    return entry.preprocess


def _photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """A smooth random colour image (blobs, not noise), so feature maps vary across the image."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BICUBIC)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory, fp32_export: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cam-exports")
    files = {"resnet18": Path(fp32_export.path)}
    for name, size in GAP_MODELS[1:]:
        model = resolve_weights(name, "random", progress=False).model
        files[name] = _torchscript_export(model, size, folder / f"{name}-{size}.onnx")
    return files


@pytest.mark.parametrize(("name", "size"), GAP_MODELS)
def test_cam_matches_pytorch(name: str, size: int, exports: dict[str, Path]) -> None:
    entry = inspect_model(exports[name])
    assert entry.error is None, entry.error
    session = open_cam_session(entry, "cpu")
    image = _photo((size, size))  # the image's size equals the crop: the full path end to end
    x = preprocess_image(image, _pre(entry))[None]
    reference, logits = _torch_cam(name, x)
    for index in (int(np.argmax(logits)), 7):
        result = class_activation_map(session, image, index)
        assert result.grid is not None and result.grid.shape == reference.shape[1:]
        assert _correlation(result.grid, reference[index]) >= 0.99, name
        expected = map_to_image(reference[index], _pre(entry), image.size)
        assert result.map.shape == (size, size) and result.map.dtype == np.float32
        assert np.array_equal(np.isnan(result.map), np.isnan(expected))
        assert _correlation(result.map, expected) >= 0.99, name
        assert np.nanmin(result.map) == 0.0 and np.nanmax(result.map) == pytest.approx(1.0)
    assert class_activation_map(session, image).class_index == int(np.argmax(logits))


def _torch_grad_cam_of_log_probability(name: str, x: np.ndarray, index: int) -> np.ndarray:
    """Grad-CAM of ``log_softmax(logits)[index]`` in PyTorch, by autograd (ResNet only): ReLU(sum_k a_k F_k),
    with a_k the mean over positions of the gradient with respect to the last feature map."""
    model: Any = resolve_weights(name, "random", progress=False).model.eval()
    captured: dict[str, torch.Tensor] = {}

    def keep(_m: object, args: tuple[torch.Tensor, ...]) -> None:
        args[0].retain_grad()
        captured["f"] = args[0]

    hook = model.avgpool.register_forward_pre_hook(keep)
    torch.log_softmax(model(torch.from_numpy(x)), dim=1)[0, index].backward()
    hook.remove()
    features, grads = captured["f"][0].detach().double(), captured["f"].grad[0].double()
    alpha = grads.mean(dim=(1, 2))
    return torch.relu(torch.tensordot(alpha, features, dims=([0], [0]))).numpy()


def test_contrastive_map_is_grad_cam_of_the_log_probability(exports: dict[str, Path]) -> None:
    """The gradient-free contrastive map equals Grad-CAM of log p_c computed by autograd in PyTorch."""
    entry = inspect_model(exports["resnet18"])
    session = open_cam_session(entry, "cpu")
    image = _photo((entry.width, entry.height), seed=5)
    x = preprocess_image(image, _pre(entry))[None]
    _, logits = _torch_cam("resnet18", x)
    for index in (int(np.argmax(logits)), int(np.argsort(logits)[-2]), 7):
        reference = _torch_grad_cam_of_log_probability("resnet18", x, index)
        result = class_activation_map(session, image, index, method="contrastive")
        assert result.method == "contrastive" and result.grid is not None
        assert result.grid.min() >= 0.0  # ReLU'd, as Grad-CAM is
        if reference.max() > 0:
            assert _correlation(result.grid, reference) >= 0.99
        else:
            assert float(result.grid.max()) == pytest.approx(0.0, abs=1e-5)


def test_classifier_weights_read_from_the_file(exports: dict[str, Path]) -> None:
    session = open_cam_session(inspect_model(exports["resnet18"]), "cpu")
    model: Any = resolve_weights("resnet18", "random", progress=False).model
    np.testing.assert_allclose(session.head.weights, model.fc.weight.detach().numpy(), rtol=1e-6, atol=1e-7)
    assert session.head.bias is not None
    np.testing.assert_allclose(session.head.bias, model.fc.bias.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_int8_file_close_to_pytorch(int8_export: Any) -> None:
    """int8 rounds activations and weights to 256 levels, so the map only approximates fp32's: bar 0.9."""
    entry = inspect_model(int8_export.path)
    session = open_cam_session(entry, "cpu")
    assert "DequantizeLinear" in session.head.feature  # the dequantized feature map of the QDQ graph
    image = _photo((entry.width, entry.height), seed=3)
    reference, logits = _torch_cam("resnet18", preprocess_image(image, _pre(entry))[None])
    index = int(np.argmax(logits))
    result = class_activation_map(session, image, index)
    assert _correlation(result.grid, reference[index]) >= 0.9


def test_fp16_file_matches_pytorch(fp16_export: Any) -> None:
    entry = inspect_model(fp16_export.path)
    session = open_cam_session(entry, "cpu")
    assert session.head.weights.dtype == np.float32
    image = _photo((entry.width, entry.height), seed=4)
    reference, logits = _torch_cam("resnet18", preprocess_image(image, _pre(entry))[None])
    index = int(np.argmax(logits))
    assert _correlation(class_activation_map(session, image, index).grid, reference[index]) >= 0.99


class _VggHead(torch.nn.Module):
    """VGG's shape in miniature: convolutions, then Flatten -> Linear -> ReLU -> Dropout -> Linear (no GAP)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(4))
        self.avgpool = torch.nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = torch.nn.Sequential(
            torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Dropout(), torch.nn.Linear(16, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def test_vgg_head_is_unsupported(tmp_path: Path) -> None:
    path = _torchscript_export(_VggHead(), 32, tmp_path / "vgg-like.onnx")
    with pytest.raises(CamUnsupportedError, match=rf"{path.name}: no class activation map: .*Relu, not a global"):
        open_cam_session(inspect_model(path), "cpu")


def test_registered_vgg_has_the_fully_connected_head() -> None:
    """The registry's VGG really ends in Linear -> ReLU -> Dropout -> Linear, the shape refused above."""
    import models

    vgg: Any = models.get_model("vgg11", num_classes=10)
    head = [type(m).__name__ for m in vgg.classifier]
    assert head[-4:] == ["Linear", "ReLU", "Dropout", "Linear"] or head[-3:] == ["ReLU", "Dropout", "Linear"]
