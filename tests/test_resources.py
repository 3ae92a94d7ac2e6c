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


def test_the_published_recipe_presets_are_the_papers_runs():
    """`--config vjepa2.1-vitl` is V-JEPA 2.1's primary phase on 128 GPUs: ViT-L (303 M in the encoder, as
    published), 24 clips a GPU with no accumulation, and its cool-down on the primary phase's RoPE grid; a step's
    time is its busiest process's (a clip process holds 3072 / 128 clips; the stills are elsewhere)."""
    primary, cooldown = config.load("vjepa2.1-vitl"), config.load("vjepa2.1-vitl-cooldown")
    e = estimate(primary, gpus=128)
    with torch.device("meta"):
        encoder = build_objective(primary).encoder
    assert 300e6 < sum(p.numel() for p in encoder.parameters()) < 306e6
    assert (e.micro_batch, e.accumulate, e.global_batch) == (24, 1, 3072)
    assert e.seconds_per_step == pytest.approx(0.23, abs=0.005)  # the clips-only figure of docs/scaling.md
    clips_only = estimate(config.load("vjepa2.1-vitl", ["data.image_fraction=0", "data.split_ranks=false"]), gpus=128)
    assert e.flops_per_step < clips_only.flops_per_step  # a quarter of the batch is stills of 256 tokens, not 2048
    assert (cooldown.data.frames, cooldown.data.image_size, cooldown.model.rope_grid) == (64, 384, 16)
    assert cooldown.optim.decay_steps == cooldown.train.steps == 12000
    ac = config.load_world_model("wm-vjepa2-ac")
    assert (ac.model.predictor_depth, ac.model.predictor_width, ac.plan.samples, ac.plan.horizon) == (24, 1024, 800, 1)
