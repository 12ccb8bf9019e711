"""The registry: names, specs, errors, label sets, and the published parameter/MAC figures."""

from __future__ import annotations

import pytest

import models
from models.complexity import count_macs, count_params
from models.registry import register_model

PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "inception_v3": 27_161_264,
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
}
PUBLISHED_GMACS = {"resnet50": 4.09, "vgg16": 15.47, "inception_v3": 5.71, "densenet121": 2.83}


def test_every_architecture_is_registered() -> None:
    assert set(models.list_models()) == set(PUBLISHED_PARAMS) | {"efficientnet_lite0"}
    assert models.list_models() == sorted(models.list_models())


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_parameter_count_matches_torchvision(name: str, build) -> None:
    assert count_params(build(name)) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name", models.list_models())
def test_spec_figures_match_the_real_module(name: str, build) -> None:
    spec = models.get_spec(name)
    model = build(name)
    assert spec.name == name
    assert spec.num_params == count_params(model)
    measured = count_macs(model, spec.input_size) / 1e9
    assert measured == pytest.approx(spec.gmacs, rel=0.02)


@pytest.mark.parametrize(("name", "gmacs"), sorted(PUBLISHED_GMACS.items()))
def test_measured_gmacs_match_published(name: str, gmacs: float, build) -> None:
    spec = models.get_spec(name)
    assert count_macs(build(name), spec.input_size) / 1e9 == pytest.approx(gmacs, rel=0.02)


def test_unknown_name_suggests_the_closest_or_lists_valid_names() -> None:
    with pytest.raises(models.UnknownModelError) as err:
        models.get_model("resnet51")
    assert str(err.value) == "unknown model 'resnet51'; did you mean resnet50?"
    with pytest.raises(KeyError) as far:
        models.get_spec("alexnet")
    assert str(far.value) == f"unknown model 'alexnet'; valid names: {', '.join(models.list_models())}"


def test_duplicate_registration_is_an_error() -> None:
    spec = models.get_spec("resnet18")
    with pytest.raises(ValueError, match="already registered"):

        @register_model(spec)
        def resnet18(*, num_classes: int = 1000) -> None:  # pragma: no cover - never called
            raise AssertionError

    assert models.get_spec("resnet18") is spec


def test_builders_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        models.resnet.resnet18(10)  # type: ignore[misc]
    with pytest.raises(ValueError, match="num_classes"):
        models.get_model("resnet18", num_classes=0)


@pytest.mark.parametrize(
    ("label_set", "size", "first", "last"),
    [
        ("imagenet-1k", 1000, "tench", "toilet tissue"),
        ("voc-2012", 20, "aeroplane", "tvmonitor"),
    ],
)
def test_label_sets_are_shipped_data(label_set: str, size: int, first: str, last: str) -> None:
    labels = models.load_labels(label_set)
    assert len(labels) == size and labels[0] == first and labels[-1] == last
    assert len(set(labels)) == size
    with pytest.raises(KeyError, match="imagenet-1k"):
        models.load_labels("coco")


@pytest.mark.parametrize("name", models.list_models())
def test_spec_preprocessing_is_consistent(name: str) -> None:
    spec = models.get_spec(name)
    assert spec.label_set in models.LABEL_SETS
    assert spec.resize_size >= spec.crop_size == spec.input_size[1]
    assert spec.min_size[0] <= spec.crop_size
    assert spec.pretrained.url or spec.pretrained.package
