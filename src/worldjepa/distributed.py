"""Several processes, one run: torch.distributed for the one trainer (docs/scaling.md).

`torchrun --nproc-per-node N -m worldjepa pretrain ...` (or `train-wm`) starts N copies of the command;
each reads its rank from the environment torchrun sets, and the trainer joins them into one run:

    global batch of step s (the same as one process's) ─► rank r keeps rows [r·B/N, (r+1)·B/N)
    loss on those rows ─► backward ─► gradients averaged across ranks (DDP) ─► the same AdamW step everywhere

so that N processes train the model one process would, within float rounding. What couples the rows of
a batch has to see all of them: the masks are drawn for the global batch and sliced (`global_rows`), and
inside `global_batch()` SIGReg's statistic and BatchNorm's mean and variance are taken over every rank
(`batch_mean`, differentiable). Outside it (monitors, evaluation, planning) everything stays local, so a
rank may compute alone without waiting for the others. Gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import atexit
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn

_across_ranks = False  # inside `global_batch()`
_still_ranks = 0  # inside `global_batch(k)`: ranks [0, k) hold stills only, the others clips only


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """The rank that writes logs and checkpoints and shows progress."""
        return self.rank == 0


def launched() -> bool:
    """Whether torchrun (or another launcher) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group torchrun's environment describes (once), and the device this rank trains on: the
    GPU of its local rank on CUDA, the given device otherwise. One process: `Ranks()` and the device unchanged."""
    if not launched():
        return Ranks(), device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    return Ranks(dist.get_rank(), dist.get_world_size(), local), device


def ranks() -> Ranks:
    """This process's place in the run (`Ranks()` when it runs alone)."""
    if not dist.is_available() or not dist.is_initialized():
        return Ranks()
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


@contextmanager
def global_batch(still_ranks: int = 0) -> Iterator[None]:
    """Inside, statistics over the batch (`batch_mean`) and mask draws (`global_rows`) span every rank: the
    trainer wraps each training step's loss in it. `still_ranks`: under V-JEPA 2.1's split, how many ranks
    (the first) hold the batch's stills, the others holding its clips."""
    global _across_ranks, _still_ranks
    before, _across_ranks, _still_ranks = (_across_ranks, _still_ranks), True, still_ranks
    try:
        yield
    finally:
        _across_ranks, _still_ranks = before


def spanning() -> int:
    """How many ranks a batch statistic spans here: the world size inside `global_batch()`, 1 outside."""
    return ranks().world if _across_ranks else 1


def batch_mean(x: Tensor, dim: int = 0) -> Tensor:
    """The mean of `x` over `dim`, taken over the global batch inside `global_batch()` (every rank holds the
    same number of rows); gradients flow back to each rank's own rows."""
    world = spanning()
    if world == 1:
        return x.mean(dim)
    return _SumOverRanks.apply(x.sum(dim)) / (x.shape[dim] * world)


class _SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over ranks; backward sums the ranks' gradients too. Every rank's loss holds the same
    global term, so that sum is world × this rank's share, and DDP's average over ranks divides it back."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad)
        return grad


def global_rows(rows: int, stills: bool = False) -> tuple[int, slice]:
    """(rows of the global batch, this rank's slice of them) for a local batch of `rows` clips (or stills):
    what to draw per-sample randomness (masks) for, so that it matches the one-process draw."""
    world = spanning()
    if world == 1:
        return rows, slice(0, rows)
    rank, holders = ranks().rank, world
    if _still_ranks:  # only some ranks hold this kind of sample: count among them
        holders = _still_ranks if stills else world - _still_ranks
        rank = rank if stills else rank - _still_ranks
    return rows * holders, slice(rank * rows, (rank + 1) * rows)


def reduce_mean(values: list[float], device: torch.device) -> list[float]:
    """The mean of each value over all ranks (logged losses, so that every rank's guard sees the same)."""
    if ranks().world == 1 or not values:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return (t / ranks().world).tolist()


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Each named value's mean over the ranks that have it (under V-JEPA 2.1's split, still ranks log image
    parts and clip ranks video parts)."""
    if ranks().world == 1:
        return values
    every: list[dict[str, float]] = [{}] * ranks().world
    dist.all_gather_object(every, values)
    names = dict.fromkeys(k for d in every for k in d)  # first-seen order, the same on every rank
    return {k: sum(d[k] for d in every if k in d) / sum(k in d for d in every) for k in names}


def barrier() -> None:
    if ranks().world > 1:
        dist.barrier()


# ---------------------------------------------------------------- FSDP2: parameters sharded across ranks

def shard(root: nn.Module, units: tuple[type[nn.Module], ...], methods: tuple[str, ...] = ()) -> nn.Module:
    """FSDP2 (`fully_shard`) on every module of a `units` type under `root`, then on `root`: each rank keeps a
    slice of every parameter, gradient and AdamW moment, and a unit's parameters are gathered whole only
    while it runs. A unit's `methods` (entry points other than `forward`, such as a rollout's cached step)
    gather it too. Every call into the model has to go through `root` or a unit."""
    try:
        from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method
    except ImportError as err:  # torch < 2.6
        raise RuntimeError(f"train.parallel=fsdp needs torch >= 2.6 (FSDP2); this is {torch.__version__}: "
                           "use train.parallel=ddp or a newer torch") from err
    for module in root.modules():
        if isinstance(module, units) and module is not root:
            fully_shard(module)
            for name in methods:
                if hasattr(module, name):
                    register_fsdp_forward_method(module, name)
    fully_shard(root)
    return root


def whole(tensors: dict[str, Tensor], keep: bool = True) -> dict[str, Tensor]:
    """The tensors with every sharded one (DTensor) gathered whole, one at a time into CPU memory: every rank
    has to call it; a rank with `keep` false takes part in the gathering and keeps nothing."""
    from torch.distributed.tensor import DTensor

    out = {}
    for k, v in tensors.items():
        v = v.full_tensor() if isinstance(v, DTensor) else v
        if keep:
            out[k] = v.detach().cpu()
    return out


def laid_out_like(full: Tensor, like: Tensor) -> Tensor:
    """A whole tensor (read from a checkpoint) sharded as `like` is; unchanged where `like` is a plain tensor."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not isinstance(like, DTensor):
        return full
    return distribute_tensor(full.to(like.device, like.dtype), like.device_mesh, like.placements)
