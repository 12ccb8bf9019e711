"""Display names: a model fine-tuned by ``python -m exporter train`` keeps its run's name in the app's name for it.

Run: ``pytest tests/desktop_app/test_display_names.py -q -n 0``
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import onnx

from desktop_app.core.catalog import choose_model, display_name, inspect_model, scan_models
from exporter.api import _with_run
from tests.desktop_app.helpers import Zoo, write_card
from workbench.contract import ModelCard

TRAINING = {"mode": "fine-tune", "dataset": "/data/my_photos", "classes": 10, "test_top1": 0.9}


def _card_of(path: Path) -> tuple[onnx.ModelProto, ModelCard]:
    model = onnx.load(str(path))
    card = ModelCard.from_metadata({p.key: p.value for p in model.metadata_props})
    assert card is not None
    return model, card


def _trained_copy(zoo: Zoo, path: Path, run: str | None) -> ModelCard:
    model, card = _card_of(zoo.workbench)
    training = TRAINING | ({"run": run} if run is not None else {})
    card = replace(card, label_set="my_photos", weights={"source": "file", "detail": "best.pt", "trained": True},
                   training=training)  # fmt: skip
    write_card(path, model, card)
    return card


def test_a_fine_tuned_model_shows_its_run_name(zoo: Zoo, tmp_path: Path) -> None:
    path = tmp_path / "tinynet-my_photos-best-fp32.onnx"
    _trained_copy(zoo, path, "my_photos-tinynet")
    entry = inspect_model(path)
    assert entry.usable, entry.error
    assert entry.name == "tinynet · my_photos (run my_photos-tinynet) · fp32"
    assert [e.name for e in scan_models(tmp_path)] == [entry.name]
    assert choose_model("tinynet · my_photos (run my_photos-tinynet) · fp32", tmp_path).path == path


def test_without_a_run_name_the_card_name_is_kept(zoo: Zoo, tmp_path: Path) -> None:
    card = _trained_copy(zoo, tmp_path / "old.onnx", None)  # exported before runs were recorded
    assert inspect_model(tmp_path / "old.onnx").name == card.display_name == "tinynet · my_photos · file · fp32"
    _model, seeded = _card_of(zoo.workbench)
    assert display_name(seeded) == seeded.display_name
    untrained = replace(card, weights={"source": "random", "trained": False}, training=TRAINING | {"run": "r"})
    assert display_name(untrained) == untrained.display_name  # UNTRAINED stays in the name


def test_the_exporter_records_the_run_folder_of_a_checkpoint(tmp_path: Path) -> None:
    checkpoint = tmp_path / "runs" / "my_photos-resnet18" / "best.pt"
    checkpoint.parent.mkdir(parents=True)
    assert _with_run(dict(TRAINING), str(checkpoint)) == TRAINING  # not (yet) a run folder: no split.json
    (checkpoint.parent / "split.json").write_text("{}")
    assert _with_run(dict(TRAINING), str(checkpoint)) == TRAINING | {"run": "my_photos-resnet18"}
    assert _with_run(None, str(checkpoint)) is None  # not one of our training checkpoints
    assert _with_run(TRAINING | {"run": "kept"}, str(checkpoint)) == TRAINING | {"run": "kept"}
