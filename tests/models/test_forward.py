"""Every registered model runs forward at batch 2, in eval and train mode, small and native sizes."""

from __future__ import annotations

import pytest
import torch

import models
from models.inception import InceptionOutputs

# Small inputs keep the suite fast; each is at least the architecture's minimum size.
SMALL = {"vgg": 32, "inception": 75, "densenet": 32, "resnet": 32, "efficientnet": 32}


def _small_size(name: str) -> int:
    spec = models.get_spec(name)
    size = SMALL[spec.family]
    assert size >= spec.min_size[0]
    return size


@pytest.mark.parametrize("name", models.list_models())
def test_forward_eval_and_train(name: str) -> None:
    num_classes = 7  # a new head; the 1000-class head runs in test_forward_at_native_size
    torch.manual_seed(0)
    model = models.get_model(name, num_classes=num_classes)
    x = torch.randn(2, 3, _small_size(name), _small_size(name))
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, num_classes)
    assert torch.isfinite(out).all()
    model.train()
    out = model(x)
    if name == "inception_v3":
        assert isinstance(out, InceptionOutputs)
        assert out.aux_logits is not None and out.aux_logits.shape == (2, num_classes)
        loss = out.logits.sum() + out.aux_logits.sum()
        out = out.logits
    else:
        loss = out.sum()
    assert out.shape == (2, num_classes)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", models.list_models())
def test_forward_at_native_size(name: str, build) -> None:
    spec = models.get_spec(name)
    model = build(name).eval()
    with torch.no_grad():
        out = model(torch.randn(1, *spec.input_size))
    assert out.shape == (1, 1000)


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "efficientnet_lite0", "vgg11"])
def test_forward_at_non_square_size(name: str, build) -> None:
    model = build(name).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 97, 131)).shape == (1, 1000)


def test_inception_aux_head_only_in_training() -> None:
    model = models.get_model("inception_v3", num_classes=5, aux_logits=False)
    assert model.AuxLogits is None
    model.train()
    assert isinstance(model(torch.randn(2, 3, 75, 75)), torch.Tensor)


def test_inception_transform_input_renormalises() -> None:
    torch.manual_seed(0)
    base = models.get_model("inception_v3", num_classes=3).eval()
    x = torch.randn(1, 3, 75, 75)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    transformed = models.get_model("inception_v3", num_classes=3, transform_input=True).eval()
    transformed.load_state_dict(base.state_dict())
    with torch.no_grad():
        expected = base((x * std + mean - 0.5) / 0.5)
        # Freshly initialised Inception logits are huge (~1e7): compare relative to their scale.
        assert torch.allclose(transformed(x), expected, rtol=1e-4, atol=1e-5 * float(expected.abs().max()))
