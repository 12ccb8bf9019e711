"""Process-group plumbing for ``torchrun``: who am I, sums across processes, and a CPU SyncBatchNorm.

Started by ``torchrun --nproc_per_node=N``, the train command joins a process group (gloo on CPU, NCCL on
CUDA); started plainly it is a group of one and every helper here is a no-op. PyTorch's ``SyncBatchNorm``
is GPU-only, so :class:`GlooSyncBatchNorm` gives CPU runs batch statistics over the *global* batch: with
``--batch-size`` meaning the global batch, N processes then compute what one process computes.

Example::

    torchrun --nproc_per_node=2 -m exporter train --model resnet18 --data ~/digits --image-size 32 --out runs/ddp
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> Dist:
    """Join the torchrun process group if there is one (``WORLD_SIZE`` > 1), else a group of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world <= 1:
        return Dist(device=torch.device("cuda" if cuda else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    return Dist(dist.get_rank(), dist.get_world_size(), device)


def all_sum(values: list[float], group: Dist) -> list[float]:
    """Element-wise sums over all processes (float64)."""
    if group.world == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=group.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def gather_lists(items: list[str], group: Dist) -> list[str]:
    """The concatenated lists of every process (for bad-image names)."""
    if group.world == 1:
        return list(items)
    out: list[list[str] | None] = [None] * group.world
    dist.all_gather_object(out, items)
    return [x for part in out for x in (part or [])]


def barrier(group: Dist) -> None:
    if group.world > 1:
        dist.barrier()


def shutdown(group: Dist) -> None:
    if group.world > 1 and dist.is_initialized():
        dist.destroy_process_group()


class _AllReduceSum(torch.autograd.Function):
    """Differentiable all-reduce (sum): the gradient of a sum over processes is the sum of the gradients."""

    @staticmethod
    def forward(ctx: object, tensor: Tensor) -> Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are over all processes (autograd through all_reduce)."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        local_mean = x.mean(dim=(0, 2, 3))
        local = torch.cat([local_mean * count, (x * x).mean(dim=(0, 2, 3)) * count, count])
        total = _AllReduceSum.apply(local)
        channels = x.shape[1]
        n = total[-1]
        mean = total[:channels] / n
        var = total[channels : 2 * channels] / n - mean * mean
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(mean.detach() * m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)) * m)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        shape = (1, channels, 1, 1)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d for :class:`GlooSyncBatchNorm` (same parameters and buffers, same state dict)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            sync = GlooSyncBatchNorm(child.num_features, child.eps, child.momentum, child.affine)
            sync.load_state_dict(child.state_dict())
            setattr(module, name, sync)
        else:
            convert_sync_batchnorm(child)
    return module
