"""Overriding a model's assumed preprocessing and labels (desktop_app.core.overrides) and remembering it per file.

Run: ``pytest tests/desktop_app/test_overrides.py -q -n 0``
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_app.core.catalog import ModelEntry, inspect_model
from desktop_app.core.classify import classify_images
from desktop_app.core.overrides import (
    OverrideError,
    OverrideStore,
    OverrideStoreError,
    PreprocessOverrides,
    apply_overrides,
    default_store_path,
    describe,
    file_sha256,
    parse_size,
    parse_triple,
    remembered_entry,
)
from desktop_app.core.runtime import load_model
from tests.desktop_app.overrides_helpers import SIZE, channel_model, labels_file
from tests.helpers import PHOTOS
from workbench.imageio import load_image
from workbench.preprocess import Preprocess, preprocess_image

HALF = (0.5, 0.5, 0.5)


@pytest.fixture
def foreign(tmp_path: Path) -> ModelEntry:
    """A foreign model (no metadata) with a fixed 16x16 input and 3 outputs."""
    return inspect_model(channel_model(tmp_path / "foreign.onnx"))


@pytest.fixture
def cat() -> Image.Image:
    return load_image(PHOTOS["chelsea"])


def test_mean_std_override_changes_the_input_tensor_exactly(foreign: ModelEntry, cat: Image.Image) -> None:
    assert foreign.preprocess is not None and foreign.preprocess.mean == (0.485, 0.456, 0.406)
    used = apply_overrides(foreign, PreprocessOverrides(mean=HALF, std=HALF))
    assert used.preprocess is not None and used.preprocess.mean == HALF and used.preprocess.std == HALF
    assumed_x = preprocess_image(cat, foreign.preprocess)
    used_x = preprocess_image(cat, used.preprocess)
    mean, std = np.array(foreign.preprocess.mean)[:, None, None], np.array(foreign.preprocess.std)[:, None, None]
    pixels = assumed_x * std + mean  # back to 0..1
    np.testing.assert_allclose(used_x, (pixels - 0.5) / 0.5, atol=1e-5)
    assert not np.allclose(used_x, assumed_x)
    assert used.notices[-1] == (
        "overridden: mean 0.5, 0.5, 0.5 (assumed 0.485, 0.456, 0.406), std 0.5, 0.5, 0.5 (assumed 0.229, 0.224, 0.225)"
    )
    assert used.notices[0].startswith("no workbench metadata in the file: assumed ImageNet mean/std")


def test_value_range_and_channel_order_reach_the_tensor(foreign: ModelEntry, cat: Image.Image) -> None:
    caffe = PreprocessOverrides(value_range=(0.0, 255.0), mean=(123.675, 116.28, 103.53), std=(1.0, 1.0, 1.0))
    used = apply_overrides(foreign, replace(caffe, channel_order="BGR"))
    assert used.preprocess is not None
    x = preprocess_image(cat, used.preprocess)
    plain = Preprocess(resize=18, crop=(SIZE, SIZE), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    pixels = preprocess_image(cat, plain) * 255  # RGB, 0..255
    expected = (pixels - np.array([123.675, 116.28, 103.53], dtype=np.float32)[:, None, None])[::-1]
    np.testing.assert_allclose(x, expected, atol=1e-3)  # channel 0 is blue now
    assert (
        "value range 0-255 (assumed 0-1)" in used.notices[-1] and "channel order BGR (assumed RGB)" in used.notices[-1]
    )
    assert not any("look made for 0-1" in n for n in used.notices)
    careless = apply_overrides(foreign, PreprocessOverrides(value_range=(0.0, 255.0)))
    assert any("look made for 0-1" in n for n in careless.notices)


def test_override_changes_what_a_foreign_model_predicts(foreign: ModelEntry, cat: Image.Image, tmp_path: Path) -> None:
    names = labels_file(tmp_path / "my_labels.txt", ["red-ish", "green-ish", "blue-ish"])
    used = apply_overrides(foreign, PreprocessOverrides(mean=(0.9, 0.1, 0.5), std=(0.2, 0.3, 0.1), labels_file=names))
    before = classify_images(load_model(foreign, "cpu"), [cat], top_k=3)[0]
    after = classify_images(load_model(used, "cpu"), [cat], top_k=3)[0]
    assert set(before.labels) == {"class 0", "class 1", "class 2"}
    assert set(after.labels) == {"red-ish", "green-ish", "blue-ish"}
    p_before = dict(zip([int(c.split()[-1]) for c in before.labels], before.probabilities, strict=True))
    p_after = dict(
        zip([("red-ish", "green-ish", "blue-ish").index(c) for c in after.labels], after.probabilities, strict=True)
    )
    assert max(abs(p_before[i] - p_after[i]) for i in range(3)) > 0.05
    assert not any(n.startswith("no labels in the file") for n in used.notices)  # replaced by the override notice
    assert "labels from my_labels.txt (assumed class numbers)" in used.notices[-1]


def test_labels_file_with_the_wrong_count_names_file_and_counts(foreign: ModelEntry, tmp_path: Path) -> None:
    short = labels_file(tmp_path / "two.txt", ["a", "b"])
    with pytest.raises(OverrideError, match=r"two\.txt has 2 names but the model has 3 outputs"):
        apply_overrides(foreign, PreprocessOverrides(labels_file=short))
    with pytest.raises(OverrideError, match=r"missing\.txt: cannot read the labels file"):
        apply_overrides(foreign, PreprocessOverrides(labels_file=tmp_path / "missing.txt"))
    repeated = labels_file(tmp_path / "rep.txt", ["a", "b", "a"])
    with pytest.raises(OverrideError, match=r"rep\.txt: line 3 repeats 'a'"):
        apply_overrides(foreign, PreprocessOverrides(labels_file=repeated))


def test_a_fixed_graph_refuses_another_size_and_a_dynamic_one_takes_it(foreign: ModelEntry, tmp_path: Path) -> None:
    with pytest.raises(OverrideError, match=r"size: foreign\.onnx takes a fixed input of 16x16; a crop height of 24"):
        apply_overrides(foreign, PreprocessOverrides(size=(24, 24)))
    same = apply_overrides(foreign, PreprocessOverrides(size=(SIZE, SIZE), resize=40))
    assert same.preprocess is not None and same.preprocess.resize == 40
    dynamic = inspect_model(channel_model(tmp_path / "dynamic.onnx", dims=("N", 3, "H", "W"), card=True))
    assert dynamic.card is not None and dynamic.preprocess is not None and dynamic.preprocess.resize == 20
    used = apply_overrides(dynamic, PreprocessOverrides(size=(24, 32)))
    assert used.preprocess is not None and used.preprocess.crop == (24, 32) and (used.height, used.width) == (24, 32)
    assert used.preprocess.resize == 30  # moves with the crop: 20 * 24 / 16
    assert used.notices[-1].startswith("overridden (the file's metadata says otherwise): size 24x32 (file 16x16)")
    x = preprocess_image(Image.new("RGB", (50, 40), (10, 200, 30)), used.preprocess)
    assert x.shape == (3, 24, 32)
    logits = load_model(used, "cpu").run(x[None])
    assert logits.shape == (1, 3) and np.isfinite(logits).all()


def test_empty_overrides_keep_the_entry_and_twice_is_refused(foreign: ModelEntry) -> None:
    assert apply_overrides(foreign, None) is foreign
    assert apply_overrides(foreign, PreprocessOverrides()) is foreign
    used = apply_overrides(foreign, PreprocessOverrides(resize=30))
    with pytest.raises(OverrideError, match="already overridden"):
        apply_overrides(used, PreprocessOverrides(resize=40))
    broken = ModelEntry(path=foreign.path, name="x", error="bad file")
    with pytest.raises(OverrideError, match="unusable model"):
        apply_overrides(broken, PreprocessOverrides(resize=30))


def test_invalid_values_name_the_field() -> None:
    cases = [
        ({"std": (0.0, 1.0, 1.0)}, "std: every value must be > 0"),
        ({"size": 0}, "size: expected a whole number"),
        ({"size": (10, 10, 10)}, "size: expected a side"),
        ({"resize": 99999}, "resize: expected a whole number of pixels from 1 to 4096"),
        ({"interpolation": "lanczos"}, "interpolation: expected one of nearest, bilinear, bicubic"),
        ({"mean": (0.5, float("nan"), 0.5)}, "mean: expected finite numbers"),
        ({"channel_order": "GRB"}, "channel_order: expected one of RGB, BGR"),
        ({"value_range": (1.0, 0.0)}, "value_range: low must be below high"),
    ]
    for kwargs, message in cases:
        with pytest.raises(OverrideError, match=message.replace("(", r"\(")):
            PreprocessOverrides(**kwargs)  # type: ignore[arg-type]


def test_combined_values_are_checked_with_the_preprocess_rules(foreign: ModelEntry) -> None:
    with pytest.raises(OverrideError, match=r"std: 1e-06 \(channel R\) is too small"):
        apply_overrides(foreign, PreprocessOverrides(std=(1e-6, 1.0, 1.0)))


def test_dict_round_trip_and_unknown_keys(tmp_path: Path) -> None:
    overrides = PreprocessOverrides(
        size=(20, 24), resize=30, interpolation="bicubic", mean=HALF, std=(0.25, 0.5, 1.0),
        channel_order="BGR", value_range=(0.0, 255.0), labels_file=tmp_path / "l.txt",
    )  # fmt: skip
    data = json.loads(json.dumps(overrides.to_dict()))
    assert data["labels_file"] == str(tmp_path / "l.txt") and data["size"] == [20, 24]
    assert PreprocessOverrides.from_dict(data) == overrides
    assert PreprocessOverrides.from_dict({}) == PreprocessOverrides()
    assert PreprocessOverrides(size=24).size == (24, 24)  # type: ignore[arg-type]  # a square, as the CLI's --crop 24
    assert PreprocessOverrides(resize=5).to_dict() == {"resize": 5}
    with pytest.raises(OverrideError, match=r"^colour: unknown override"):
        PreprocessOverrides.from_dict({"resize": 5, "colour": "red"})
    with pytest.raises(OverrideError, match="labels_file: expected a file name"):
        PreprocessOverrides.from_dict({"labels_file": 3})
    assert PreprocessOverrides(resize=5).merged(PreprocessOverrides(mean=HALF)) == PreprocessOverrides(
        resize=5, mean=HALF
    )


def test_describe_rows(foreign: ModelEntry, tmp_path: Path) -> None:
    names = labels_file(tmp_path / "mine.txt", ["a", "b", "c"])
    rows = describe(foreign, PreprocessOverrides(interpolation="nearest", labels_file=names))
    assert rows == [
        ("size", "16x16", "16x16"),
        ("resize", "18 px", "18 px"),
        ("interpolation", "bilinear", "nearest"),
        ("mean", "0.485, 0.456, 0.406", "0.485, 0.456, 0.406"),
        ("std", "0.229, 0.224, 0.225", "0.229, 0.224, 0.225"),
        ("channel order", "RGB", "RGB"),
        ("value range", "0-1", "0-1"),
        ("labels", "class numbers (3)", "mine.txt (3)"),
    ]
    assert [r[1] == r[2] for r in describe(foreign, None)] == [True] * 8


def test_parsers() -> None:
    assert parse_size("224") == (224, 224) and parse_size(" 224 x 192 ") == (224, 192)
    assert parse_triple("0.5, 0.25 1", "mean") == (0.5, 0.25, 1.0)
    for bad in ("", "224x", "-3", "axb", "0"):
        with pytest.raises(OverrideError, match=r"^crop: "):
            parse_size(bad, "crop")
    with pytest.raises(OverrideError, match=r"^mean: expected 3 numbers"):
        parse_triple("0.5,0.5", "mean")
    with pytest.raises(OverrideError, match=r"^std: expected finite numbers"):
        parse_triple("1,inf,1", "std")


def test_store_remembers_per_sha256(tmp_path: Path, foreign: ModelEntry) -> None:
    store = OverrideStore(tmp_path / "config" / "overrides.json")
    sha = file_sha256(foreign.path)
    assert sha == hashlib.sha256(foreign.path.read_bytes()).hexdigest()
    assert store.get(sha) is None and not store.path.exists()
    overrides = PreprocessOverrides(mean=HALF, labels_file=tmp_path / "l.txt")
    store.put(sha, overrides, foreign.path.name)
    assert OverrideStore(store.path).get(sha) == overrides
    data = json.loads(store.path.read_text(encoding="utf-8"))
    assert data["version"] == 1 and data["models"][sha]["file"] == "foreign.onnx"
    other = "0" * 64
    store.put(other, PreprocessOverrides(resize=50))
    assert store.remove(sha) is True and store.remove(sha) is False
    assert store.get(sha) is None and store.get(other) == PreprocessOverrides(resize=50)
    store.put(other, PreprocessOverrides())  # empty: the record goes
    assert store.get(other) is None
    with pytest.raises(ValueError, match="sha256: expected 64"):
        store.get("abc")
    assert [p.name for p in store.path.parent.iterdir()] == ["overrides.json"]  # no temporary files left


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "damaged overrides store \\(not JSON"),
        ('{"version": 1, "models": []}', 'expected an object with "models"'),
        ('{"version": 7, "models": {}}', "overrides store version 7"),
        ('{"version": 1, "models": {"xyz": {}}}', "bad record 'xyz'"),
    ],
)
def test_a_damaged_store_is_named_and_never_overwritten(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(content, encoding="utf-8")
    store = OverrideStore(path)
    with pytest.raises(OverrideStoreError, match=f"overrides.json: .*{message}"):
        store.get("a" * 64)
    with pytest.raises(OverrideStoreError, match=message):
        store.put("a" * 64, PreprocessOverrides(resize=10))
    assert path.read_text(encoding="utf-8") == content
    aside = store.set_aside()
    assert aside is not None and aside.read_text(encoding="utf-8") == content and not path.exists()
    store.put("a" * 64, PreprocessOverrides(resize=10))
    assert store.get("a" * 64) == PreprocessOverrides(resize=10)


def test_a_bad_record_names_the_store(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"version": 1, "models": {"b" * 64: {"overrides": {"std": [0, 1, 1]}}}}))
    with pytest.raises(OverrideStoreError, match=r"overrides\.json: record bbbbbbbbbbbb…: std: every value"):
        OverrideStore(path).get("b" * 64)


def test_default_store_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CNN_WORKBENCH_OVERRIDES", str(tmp_path / "o.json"))
    assert default_store_path() == tmp_path / "o.json" and OverrideStore().path == tmp_path / "o.json"
    monkeypatch.delenv("CNN_WORKBENCH_OVERRIDES")
    assert default_store_path().name == "overrides.json" and "cnn-workbench" in str(default_store_path())


def test_file_sha256_follows_changes(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(b"one")
    first = file_sha256(path)
    path.write_bytes(b"two!")
    os.utime(path, ns=(1, 1))
    assert file_sha256(path) == hashlib.sha256(b"two!").hexdigest() != first


def test_remembered_entry(tmp_path: Path, foreign: ModelEntry) -> None:
    store = OverrideStore(tmp_path / "overrides.json")
    assert remembered_entry(foreign, store) == (foreign, None)  # no store file: nothing hashed, nothing applied
    store.put(file_sha256(foreign.path), PreprocessOverrides(resize=25))
    used, overrides = remembered_entry(foreign, store)
    assert overrides == PreprocessOverrides(resize=25) and used.preprocess is not None and used.preprocess.resize == 25
    assert used.notices[-1] == "overridden: resize 25 px (assumed 18 px)"
