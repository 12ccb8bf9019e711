"""State dicts are torchvision's, name for name and shape for shape, and give torchvision's outputs.

``tests/data/torchvision_reference.npz`` was recorded from torchvision itself by
``scripts/make_torchvision_reference.py`` (torchvision is not a dependency of this project).
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import torch

import models
from models.densenet import remap_legacy_keys
from tests.helpers import DATA
from tests.models.synthetic_weights import reference_input, synthetic_state_dict

TORCHVISION_NAMES = [n for n in models.list_models() if n != "efficientnet_lite0"]


@cache
def _reference() -> tuple[dict, dict, dict]:
    with np.load(DATA / "torchvision_reference.npz") as npz:
        layouts = json.loads(npz["layouts_json"].tobytes())
        meta = json.loads(npz["meta_json"].tobytes())
        logits = {k.split("/")[0]: npz[k] for k in npz.files if k.endswith("/logits")}
    return layouts, meta, logits


def test_reference_covers_every_torchvision_architecture() -> None:
    layouts, _, logits = _reference()
    assert sorted(layouts) == sorted(TORCHVISION_NAMES) == sorted(logits)


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_state_dict_layout_is_torchvisions(name: str, build) -> None:
    layouts, _, _ = _reference()
    ours = [(k, list(v.shape)) for k, v in build(name).state_dict().items()]
    assert ours == [(k, s) for k, s in layouts[name]]


@pytest.mark.parametrize("name", TORCHVISION_NAMES)
def test_torchvision_state_dict_loads_strictly_and_matches_outputs(name: str, build) -> None:
    layouts, meta, logits = _reference()
    state_dict = synthetic_state_dict((k, tuple(s)) for k, s in layouts[name])
    model = build(name).eval()
    model.load_state_dict(state_dict, strict=True)
    size = meta["sizes"].get(name, meta["default_size"])
    with torch.no_grad():
        out = model(reference_input(name, size)).numpy()
    expected = logits[name]
    scale = float(np.abs(expected).max())
    assert np.abs(out - expected).max() <= 1e-4 * scale
    assert (out.argmax(1) == expected.argmax(1)).all()


def test_legacy_densenet_checkpoint_keys_are_remapped(build) -> None:
    model = build("densenet121")
    current = model.state_dict()
    # Checkpoints from before 2019 spell ``norm.1`` and have no ``num_batches_tracked`` buffers.
    legacy = {
        k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2."): v
        for k, v in current.items()
        if not k.endswith("num_batches_tracked")
    }
    assert any(".norm.1." in k for k in legacy) and any(".conv.2." in k for k in legacy)
    remapped = remap_legacy_keys(legacy)
    assert set(remapped) == {k for k in current if not k.endswith("num_batches_tracked")}
    model.load_state_dict(remapped, strict=True)
