"""Assembles one run from its plan: data splits, model, datasets (images or cached features), trainer.

Full training trains the whole network on augmented images; ``--freeze-backbone`` trains a new head on
cached features (:mod:`~exporter.train.features`). Either way the checkpoints hold the full network, so
export and the app never know the difference. :meth:`Run.finish` measures the best checkpoint on the
test split (the validation split when there is no test split) and records the metrics in ``best.pt``.

Example::

    python -m exporter train --model resnet18 --data ~/photos --out runs/photos   # build_run + fit + finish
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from torch.utils.data import Dataset

import models
from exporter.errors import ExporterError
from exporter.train import checkpoint, features
from exporter.train.augment import EvalTransform, TrainTransform, eval_preprocess
from exporter.train.data import DataSplits, ImageDataset, TrainDataError, read_image_folder
from exporter.train.distributed import Dist, barrier, convert_sync_batchnorm
from exporter.train.logs import write_logs
from exporter.train.loop import TrainConfig, Trainer
from exporter.train.modelsetup import build_model, initial_weights
from exporter.train.plan import Plan
from exporter.train.voc import read_voc
from workbench.atomic import ATOMIC_TEMP, remove_stale_temps
from workbench.paths import feature_cache_dir


@dataclass
class Run:
    plan: Plan
    splits: DataSplits
    trainer: Trainer
    test_set: Dataset
    load_best: Callable[[dict[str, Tensor]], nn.Module]
    out: Path

    def finish(self) -> dict[str, Any]:
        """Test metrics of ``best.pt``, written back into it (rank 0); returns all its metrics."""
        best_path = self.out / "best.pt"
        barrier(self.trainer.group)  # rank 0 wrote it
        best = checkpoint.load(best_path)
        model = self.load_best(best["state_dict"])
        name = "test" if self.splits.test else "val"
        test = self.trainer.evaluate(self.test_set, name, model=model)
        if name == "val":
            test = {k.replace("val_", "test_"): v for k, v in test.items()} | {"test_is_val": True}
        metrics = dict(best["metrics"]) | test | self.trainer.metrics() | {"bad_images": self._bad_count()}
        if self.trainer.group.main:
            checkpoint.save_atomic(best | {"metrics": metrics}, best_path)
            write_logs(self.out, self.trainer.state.history, self.trainer.state.bad_images)
        return metrics

    def _bad_count(self) -> int:
        return len(self.trainer.state.bad_images)


def read_splits(plan: Plan) -> DataSplits:
    seed = plan.cfg.seed
    splits = read_voc(plan.voc, seed) if plan.voc else read_image_folder(str(plan.data), seed)
    if not splits.train:
        raise TrainDataError("no training images")
    return splits


def effective_config(plan: Plan, train_size: int, group: Dist) -> TrainConfig:
    """The plan's config with the global batch clipped to the training set and divisible by the processes."""
    cfg = plan.cfg
    batch = min(cfg.batch_size, train_size)
    batch -= batch % group.world
    if batch < group.world or batch < 1:
        raise ExporterError(f"{train_size} training images are too few for {group.world} processes")
    if batch != cfg.batch_size and group.main:
        print(f"note: batch size {cfg.batch_size} -> {batch} (training set size / processes)", file=sys.stderr)
    cfg.batch_size = batch
    return cfg


def build_run(plan: Plan, out: Path, group: Dist, cache_dir: str | None) -> Run:
    splits = read_splits(plan)
    start, weights_info = initial_weights(plan.model, plan.weights)
    model = build_model(plan.model, len(splits.classes), start, plan.cfg.seed)
    preprocess = eval_preprocess(plan.model, plan.image_size)
    evaluation = EvalTransform(preprocess)
    meta = {
        "architecture": plan.model,
        "label_set": splits.label_set,
        "labels": list(splits.classes),
        "config": _plan_dict(plan),
        "metrics": _describe(plan, splits, weights_info),
    }
    min_side = preprocess.resize
    if plan.freeze_backbone:
        return _frozen_run(plan, out, group, splits, model, evaluation, meta, weights_info, cache_dir)
    augment = TrainTransform(preprocess, plan.crop_scale, plan.shift, plan.shear, plan.zoom, plan.hflip)
    train_set = ImageDataset(splits.train, augment, min_side)
    val_set = ImageDataset(splits.val, evaluation, min_side)
    test_set = ImageDataset(splits.test or splits.val, evaluation, min_side)
    if group.world > 1 and group.device.type == "cpu":
        convert_sync_batchnorm(model)
    cfg = effective_config(plan, len(train_set), group)

    def state_of(m: nn.Module) -> dict[str, Tensor]:
        return {k: v.detach().cpu().clone() for k, v in m.state_dict().items()}

    def load_best(state: dict[str, Tensor]) -> nn.Module:
        model.load_state_dict(state)
        return model

    trainer = Trainer(model, train_set, val_set, cfg, group, out, state_of, meta)
    return Run(plan, splits, trainer, test_set, load_best, out)


def _frozen_run(
    plan: Plan, out: Path, group: Dist, splits: DataSplits, model: nn.Module, evaluation: EvalTransform,
    meta: dict[str, Any], weights_info: dict[str, Any], cache_dir: str | None,
) -> Run:  # fmt: skip
    if plan.weights == "random" and group.main:
        print("warning: --freeze-backbone with --weights random trains a head on random features", file=sys.stderr)
    folder = Path(cache_dir).expanduser() if cache_dir else feature_cache_dir()
    if group.main:  # feature files a killed run was writing
        for note in remove_stale_temps(folder, ATOMIC_TEMP).notes():
            print(note, file=sys.stderr)
    started = time.perf_counter()
    sets = {}
    for name in ("train", "val", "test"):
        samples = splits.split(name) or splits.val
        key = features.cache_key(plan.model, weights_info, evaluation.preprocess, samples)
        dataset = ImageDataset(samples, evaluation, evaluation.preprocess.resize)
        sets[name] = features.cached_features(model, dataset, key, folder, group, plan.cfg.workers)
    hits = [s for s in sets.values() if s.hit]
    meta["metrics"] |= {"feature_seconds": round(time.perf_counter() - started, 2)}
    if hits and group.main:
        saved = sum(s.build_seconds - s.load_seconds for s in hits)
        print(f"feature cache: {len(hits)}/3 splits reused, {saved:.1f} s saved", file=sys.stderr)
    head = features.new_head(model, len(splits.classes), plan.cfg.seed)
    cfg = effective_config(plan, len(sets["train"].rows), group)
    trainer = Trainer(
        head, sets["train"].rows, sets["val"].rows, cfg, group, out,
        lambda h: features.full_state_dict(model, h), meta, channels_last=False,
    )  # fmt: skip
    trainer.state.bad_images = sorted({b for s in sets.values() for b in s.bad_images})

    def load_best(state: dict[str, Tensor]) -> nn.Module:
        return features.head_from_state(model, state, head)

    return Run(plan, splits, trainer, sets["test"].rows, load_best, out)


def _plan_dict(plan: Plan) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(plan)


def _describe(plan: Plan, splits: DataSplits, weights_info: dict[str, Any]) -> dict[str, Any]:
    mode = "freeze-backbone" if plan.freeze_backbone else ("scratch" if plan.weights == "random" else "fine-tune")
    native = models.get_spec(plan.model).crop_size
    return {
        "mode": mode,
        "dataset": str(splits.source.get("root")),
        "dataset_kind": str(splits.source.get("kind")),
        "split": str(splits.source.get("split")),
        "start_weights": str(weights_info.get("detail") or weights_info.get("source")),
        "image_size": plan.image_size or native,
        "train_images": len(splits.train),
        "val_images": len(splits.val),
        "test_images": len(splits.test),
        "classes": len(splits.classes),
    }
