"""`worldjepa resources` (worldjepa/resources.py): its per-block formulas against what PyTorch itself counts
(FLOPs by FlopCounterMode, bytes by the tensors autograd saves), its parameter count against the built
model, and its fitting of a micro-batch."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from worldjepa import config
from worldjepa.cli import main
from worldjepa.nn.rope import rope_tables
from worldjepa.nn.transformer import Block
from worldjepa.pretrain import build_objective
from worldjepa.resources import block_bytes, blocks_flops, estimate


def saved_bytes(module: torch.nn.Module, fn) -> int:
    """Bytes of the tensors autograd keeps for backward while running fn (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and t.requires_grad:  # not the weights, nor constant tables
            seen[ptr] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


@pytest.mark.parametrize("width,heads,tokens", [(64, 2, 50), (96, 3, 128)])
def test_block_formulas_match_what_torch_counts(width, heads, tokens):
    block = Block(width, heads)
    x = torch.randn(2, tokens, width, requires_grad=True)
    positions = torch.zeros(tokens, 3)
    positions[:, 1] = torch.arange(tokens)
    rope = rope_tables(positions, width // heads)
    # the math kernel, whose matmuls the counter sees (it has no formula for the CPU flash kernel)
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        block(x, rope)
    assert counter.get_total_flops() == pytest.approx(2 * blocks_flops(tokens, 1, width, 4 * width), rel=0.01)
    measured = saved_bytes(block, lambda: block(x, rope))
    assert measured == pytest.approx(2 * tokens * block_bytes(width, 4 * width, 4), rel=0.05)


def test_parameters_are_the_built_models_and_a_run_that_cannot_fit_says_so(capsys):
    cfg = config.load("tiny-cpu", [])
    e = estimate(cfg, "tiny-cpu")
    built = build_objective(cfg)
    assert e.parameters == sum(p.numel() for p in built.parameters())
    assert e.trainable == sum(p.numel() for p in built.trainable().parameters())
    assert e.micro_batch == cfg.data.batch_size and e.accumulate == 1
    # a 1 GB GPU cannot hold a batch of 64 clips of a ViT-S: micro-batches and accumulation, or checkpointing
    small = estimate(config.load("tiny-cpu", ["model.encoder=small", "data.batch_size=64"]), gpu_memory_gb=1.0)
    assert 1 <= small.micro_batch < 64 and small.micro_batch * small.accumulate == 64
    assert main(["resources", "--gpu-memory", "0.01", "model.encoder=large"]) == 0
    assert "does not fit" in capsys.readouterr().out
    assert main(["resources", "--gpus", "0"]) == 2
