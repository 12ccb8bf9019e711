"""The training loop: epochs of SGD/AdamW with warm-up + cosine, evaluation, checkpoints, Ctrl+C, DDP.

One :class:`Trainer` runs the whole schedule. Every step's learning rate is a function of the global step,
the data order and augmentation of a function of ``(seed, epoch)``, and the RNG states are checkpointed,
so a run interrupted with Ctrl+C (or SIGTERM) and continued with ``--resume`` ends exactly where an
uninterrupted one does. Under ``torchrun`` every process trains on its share of each global batch,
sums are reduced across processes and only rank 0 prints and writes.

Example::

    python -m exporter train --model resnet18 --data ~/digits --weights random --image-size 32 --out runs/d
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from collections.abc import Callable, Sized
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from exporter.interrupt import DeferredInterrupt
from exporter.train import checkpoint
from exporter.train.data import EpochSampler, collate_skip_bad
from exporter.train.distributed import Dist, all_sum, gather_lists
from exporter.train.logs import Progress, write_logs


def dataset_size(dataset: Dataset[Any]) -> int:
    """``len(dataset)``: torch's ``Dataset`` type has no ``__len__``; every data set trained here has one."""
    return len(cast(Sized, dataset))


@dataclass
class TrainConfig:
    """The hyperparameters of a run (stored in checkpoints; a resumed run uses the stored ones)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-5
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    seed: int = 0
    workers: int = 2
    amp: bool = True
    stop_after_steps: int = 0  # testing aid: behave as if Ctrl+C came after this many steps


@dataclass
class RunState:
    """Where a run is; all fields are plain numbers and lists so checkpoints load with weights_only."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    seen: float = 0.0
    best_top1: float = -1.0
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    bad_images: list[str] = field(default_factory=list)


class Interrupted(Exception):
    """The run stopped on request after writing a resumable checkpoint to ``path``."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


def stop_request() -> DeferredInterrupt:
    """The first SIGINT/SIGTERM becomes a flag checked between steps; a second one interrupts at once."""
    message = "\nstopping after this step; a resumable checkpoint will be saved (again to abort)"
    return DeferredInterrupt((signal.SIGINT, signal.SIGTERM), message)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum) or AdamW; no weight decay on biases and normalisation parameters."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)


def classification_loss(output: Tensor | tuple[Tensor, ...], target: Tensor, smoothing: float) -> tuple[Tensor, Tensor]:
    """Summed cross-entropy (with Inception's auxiliary loss at 0.4) and the main logits."""
    criterion = nn.CrossEntropyLoss(label_smoothing=smoothing, reduction="sum")
    if isinstance(output, tuple):
        logits, aux = output[0], output[1]
        return criterion(logits, target) + 0.4 * criterion(aux, target), logits
    return criterion(output, target), output


def topk_correct(logits: Tensor, target: Tensor) -> tuple[float, float]:
    k = min(5, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    hits = top == target[:, None]
    return float(hits[:, 0].sum()), float(hits.any(dim=1).sum())


@dataclass
class Trainer:
    """Trains ``model`` on ``train_set``, evaluates on ``val_set`` every epoch, writes into ``out``."""

    model: nn.Module
    train_set: Dataset
    val_set: Dataset
    cfg: TrainConfig
    group: Dist
    out: Path
    export_state: Callable[[nn.Module], dict[str, Tensor]]
    meta: dict[str, Any]
    channels_last: bool = True
    state: RunState = field(default_factory=RunState)

    def __post_init__(self) -> None:
        self.device = self.group.device
        cuda = self.device.type == "cuda"
        self.amp = self.cfg.amp and cuda
        self.model.to(self.device)
        if cuda and self.channels_last:
            # torch's stubs know Module.to(memory_format=...) only as a Tensor method; it works on modules too
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net: nn.Module = self.model
        if self.group.world > 1:
            self.net = DistributedDataParallel(self.model, device_ids=[self.device.index] if cuda else None)
        self.optimizer = make_optimizer(self.model, self.cfg)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.steps_per_epoch = dataset_size(self.train_set) // self.cfg.batch_size
        self.total_steps = self.steps_per_epoch * self.cfg.epochs
        self.warmup_steps = round(self.cfg.warmup_epochs * self.steps_per_epoch)

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue from a resumable checkpoint (model, optimizer, scaler, position, RNG)."""
        resume = ckpt["resume"]
        self.model.load_state_dict(resume["model"])
        self.optimizer.load_state_dict(resume["optimizer"])
        self.scaler.load_state_dict(resume["scaler"])
        self.state = RunState(**resume["state"])
        checkpoint.set_rng_state(resume["rng"])

    def fit(self, stop: DeferredInterrupt) -> RunState:
        while self.state.epoch < self.cfg.epochs:
            if self.state.batch == 0:
                torch.manual_seed(self.cfg.seed * 1_000 + self.state.epoch)
            started = time.perf_counter()
            if not self._train_epoch(stop):
                raise Interrupted(self._save_last(interrupted=True))
            val = self.evaluate(self.val_set, "val")
            self._end_epoch(val, time.perf_counter() - started)
            if all_sum([float(stop.requested)], self.group)[0]:
                raise Interrupted(self.out / "last.pt")
        return self.state

    def _loader(self, dataset: Dataset, sampler: EpochSampler) -> DataLoader:
        workers = self.cfg.workers if hasattr(dataset, "transform") else 0
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=workers,
            collate_fn=collate_skip_bad,
            generator=torch.Generator().manual_seed(self.cfg.seed),
            pin_memory=self.device.type == "cuda",
        )

    def _train_epoch(self, stop: DeferredInterrupt) -> bool:
        """One epoch from ``state.batch`` on; False when stopped early (the state then says where)."""
        cfg, state = self.cfg, self.state
        size = dataset_size(self.train_set)
        sampler = EpochSampler(
            size, cfg.batch_size, cfg.seed, state.epoch, True, self.group.rank, self.group.world, state.batch
        )
        shown = self.group.main and logging.getLogger("exporter").isEnabledFor(logging.INFO)  # not with -q
        progress = Progress(f"epoch {state.epoch + 1}/{cfg.epochs}", self.steps_per_epoch, state.batch, shown)
        self.model.train()
        for x, y, errors in self._loader(self.train_set, sampler):
            state.bad_images.extend(errors)
            count, requested = all_sum([float(len(y)), float(self._stop_now(stop))], self.group)
            loss_sum = self._step(x, y, count)
            state.loss_sum += loss_sum
            state.seen += len(y)
            state.batch += 1
            state.step += 1
            progress.update(int(count), state.loss_sum / max(state.seen, 1))
            if requested:  # any process asked: all stop after this same step
                stop.requested = True
                progress.close()
                return state.batch >= self.steps_per_epoch
        progress.close()
        return True

    def _stop_now(self, stop: DeferredInterrupt) -> bool:
        if self.cfg.stop_after_steps and self.state.step + 1 == self.cfg.stop_after_steps:
            stop.requested = True
        return stop.requested

    def _step(self, x: Tensor, y: Tensor, global_count: float) -> float:
        lr = lr_at(self.state.step, self.total_steps, self.warmup_steps, self.cfg.lr)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.device.type == "cuda" and self.channels_last and x.ndim == 4:
            x = x.to(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            loss_sum, logits = classification_loss(self.net(x), y, self.cfg.label_smoothing)
        # mean over the global batch: DDP averages gradients over processes, hence the factor world.
        loss = loss_sum * (self.group.world / max(global_count, 1.0))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        plain = nn.functional.cross_entropy(logits.detach().float(), y, label_smoothing=self.cfg.label_smoothing)
        return float(plain) * len(y)

    @torch.no_grad()
    def evaluate(self, dataset: Dataset, name: str, model: nn.Module | None = None) -> dict[str, float]:
        """Loss (plain cross-entropy), top-1 and top-5 over ``dataset``, summed over all processes."""
        model = model or self.model
        model.eval()
        sampler = EpochSampler(dataset_size(dataset), self.cfg.batch_size, self.cfg.seed, 0, False, *self._rank_world())
        sums = [0.0, 0.0, 0.0, 0.0]
        bad: list[str] = []
        for x, y, errors in self._loader(dataset, sampler):
            bad.extend(errors)
            if not len(y):
                continue
            x, y = x.to(self.device), y.to(self.device)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
                logits = model(x).float()
            top1, top5 = topk_correct(logits, y)
            loss = float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            sums = [a + b for a, b in zip(sums, (loss, top1, top5, float(len(y))), strict=True)]
        loss, top1, top5, n = all_sum(sums, self.group)
        self.state.bad_images.extend(b for b in gather_lists(bad, self.group) if b not in self.state.bad_images)
        n = max(n, 1.0)
        return {f"{name}_loss": loss / n, f"{name}_top1": top1 / n, f"{name}_top5": top5 / n, f"{name}_images": int(n)}

    def _rank_world(self) -> tuple[int, int]:
        return self.group.rank, self.group.world

    def _end_epoch(self, val: dict[str, float], seconds: float) -> None:
        state = self.state
        loss_sum, seen = all_sum([state.loss_sum, state.seen], self.group)
        state.bad_images = sorted(set(gather_lists(state.bad_images, self.group)))
        row = {"epoch": state.epoch + 1, "train_loss": loss_sum / max(seen, 1.0)} | val
        row |= {"lr": self.optimizer.param_groups[0]["lr"], "seconds": round(seconds, 2)}
        state.history.append(row)
        improved = val["val_top1"] > state.best_top1
        if improved:
            state.best_top1, state.best_epoch = val["val_top1"], state.epoch + 1
        state.epoch, state.batch, state.loss_sum, state.seen = state.epoch + 1, 0, 0.0, 0.0
        if self.group.main:
            classes = len(self.meta.get("labels", ()))
            print(_summary(row, len(state.bad_images), improved, classes), file=sys.stderr, flush=True)
            if improved:
                checkpoint.save_atomic(self.checkpoint(self.metrics()), self.out / "best.pt")
            write_logs(self.out, state.history, state.bad_images)
        self._save_last(interrupted=False)

    def metrics(self) -> dict[str, Any]:
        """The JSON-able summary that goes into checkpoints and the ONNX metadata."""
        best = next((r for r in self.state.history if r["epoch"] == self.state.best_epoch), {})
        return {
            "epochs": self.cfg.epochs,
            "best_epoch": self.state.best_epoch,
            **{k: v for k, v in best.items() if k.startswith("val_")},
            "bad_images": len(self.state.bad_images),
        }

    def checkpoint(self, metrics: dict[str, Any], model: nn.Module | None = None) -> dict[str, Any]:
        state_dict = self.export_state(model or self.model)
        return self.meta | {"state_dict": state_dict, "metrics": self.meta.get("metrics", {}) | metrics}

    def _save_last(self, *, interrupted: bool) -> Path:
        """Write ``last.pt``: the exportable model plus everything needed to continue exactly."""
        path = self.out / "last.pt"
        if interrupted:  # the partial epoch's sums are per process; keep the global ones
            self.state.loss_sum, self.state.seen = all_sum([self.state.loss_sum, self.state.seen], self.group)
            if not self.group.main:
                self.state.loss_sum = self.state.seen = 0.0
        if not self.group.main:
            return path
        resume = {
            "format": checkpoint.FORMAT_VERSION,
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": asdict(self.state),
            "rng": checkpoint.rng_state(),
            "config": asdict(self.cfg),
        }
        checkpoint.save_atomic(self.checkpoint(self.metrics()) | {"resume": resume}, path)
        return path


def _summary(row: dict[str, Any], bad: int, improved: bool, classes: int = 0) -> str:
    text = (
        f"epoch {row['epoch']}: train loss {row['train_loss']:.4f}  val loss {row['val_loss']:.4f}  "
        f"{accuracy_text(row, 'val', classes, '  ')}  ({row['seconds']:.1f} s)"
    )
    if bad:
        text += f"  [{bad} bad image(s) skipped, see bad_images.txt]"
    return text + ("  * best" if improved else "")


def accuracy_text(metrics: dict[str, Any], split: str, classes: int, sep: str = ", ") -> str:
    """``top-1 93.33%, top-5 100.00%`` of ``split``; no top-5 with fewer than 5 classes (it would always be 100%)."""
    parts = [f"top-1 {100 * metrics[f'{split}_top1']:.2f}%"]
    if classes >= 5 and f"{split}_top5" in metrics:
        parts.append(f"top-5 {100 * metrics[f'{split}_top5']:.2f}%")
    return sep.join(parts)
