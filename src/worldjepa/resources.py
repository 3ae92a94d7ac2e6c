"""What a pretraining run needs, from its config alone (`worldjepa resources`; docs/scaling.md).

    parameters       the model built on PyTorch's meta device: exact counts, no memory, any size
    tokens           per clip and still; each mask type's visible and predicted tokens, drawn by the run's
                     own mask samplers (their batch minimum included)
    FLOPs per step   matmuls of every transformer block: 2·n·(4d² + 2dh) + 4·n²·d forward per sample and block
                     (n tokens, width d, MLP h), the tokenizer and the predictor's heads; backward twice the
                     forward for what trains, the EMA teacher forward only
    activations      what autograd keeps for backward, per token and block 4·(10d + 2h) bytes in fp32 (input and
                     output of both norms, q, k, v, the attention output, the MLP's two hidden tensors; checked
                     against the saved tensors in tests/test_resources.py), half in bf16; with activation
                     checkpointing one d-vector per token and block plus one block's whole; and the tensors
                     alive beside them at the forward's end (targets, the loss's difference, the input's copies)
    memory per GPU   fp32 weights, gradients and AdamW moments (sharded over the GPUs under FSDP) + the
                     micro-batch's activations and input
    time per step    FLOPs / (GPUs × peak × MFU), and the micro-batch and accumulation that reach the global
                     batch within the GPU's memory
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from .config import PretrainConfig, resolve
from .data.batches import split_counts

FP32, BF16 = 4, 2
H100_BF16_TFLOPS = 989.0  # dense bf16 peak of an H100 / H200 SXM


@dataclass
class StepEstimate:
    config: str
    parameters: int  # everything in the objective: encoder, predictor, EMA teacher
    trainable: int
    tokens_per_clip: int
    context_tokens: list[float]  # per clip mask type: mean visible tokens
    target_tokens: list[float]  # per clip mask type: mean predicted tokens
    flops_per_sample: float  # training FLOPs of one clip (forward + backward + teacher)
    flops_per_step: float
    activation_bytes_per_sample: float
    checkpointed_bytes_per_sample: float
    state_bytes: float  # fp32 weights + gradients + AdamW moments, whole (divide by GPUs under FSDP)
    input_bytes_per_sample: float
    gpus: int
    gpu_memory_gb: float
    mfu: float
    peak_tflops: float
    global_batch: int
    micro_batch: int  # per GPU, the largest that fits (0: not even one sample)
    accumulate: int
    checkpointing: bool  # whether the micro-batch needs activation checkpointing to fit
    sharded: bool  # FSDP: weights, gradients and moments divided over the GPUs
    memory_per_gpu_gb: float
    seconds_per_step: float

    def as_dict(self) -> dict:
        return asdict(self)


def blocks_flops(n: float, depth: int, width: int, hidden: int) -> float:
    """Forward FLOPs of `depth` transformer blocks on n tokens (one sample)."""
    return depth * (2 * n * (4 * width ** 2 + 2 * width * hidden) + 4 * n * n * width)


def block_bytes(width: int, hidden: int, itemsize: int) -> float:
    """Bytes autograd keeps per token for one pre-norm block with SDPA attention."""
    return itemsize * (10 * width + 2 * hidden)


def _mask_tokens(objective, batch: int, draws: int = 4) -> tuple[list[float], list[float]]:
    gen = torch.Generator().manual_seed(0)
    ctx, tgt = [], []
    for sampler in objective.video_masks:
        c = t = 0.0
        for _ in range(draws):
            m = sampler.sample(batch, gen)
            c += m.context.shape[1] / draws
            t += m.targets.shape[1] * m.targets.shape[2] / draws
        ctx.append(c)
        tgt.append(t)
    return ctx, tgt


def estimate(cfg: PretrainConfig, name: str = "", gpus: int = 1, gpu_memory_gb: float = 80.0, mfu: float = 0.45,
             peak_tflops: float = H100_BF16_TFLOPS, sharded: bool | None = None,
             mask_tokens: tuple[list[float], list[float]] | None = None) -> StepEstimate:
    """The step of pretraining config `cfg` on `gpus` GPUs of `gpu_memory_gb` (memory for clips, the larger
    samples; FLOPs for clips and stills). `mask_tokens`: (visible, predicted)
    tokens per mask type, when known (default: the mean of a few draws of the run's masks)."""
    from .pretrain import build_objective, token_grids

    cfg = resolve(cfg)
    with torch.device("meta"):
        objective = build_objective(cfg)
    params = sum(p.numel() for p in objective.parameters())
    trainable = sum(p.numel() for p in objective.trainable().parameters())
    m, size = cfg.model, cfg.model.size()
    d, h, depth = size.width, int(round(size.width * size.mlp_ratio)), size.depth
    dp, hp = m.predictor_width, m.predictor_mlp or 4 * m.predictor_width
    levels = objective.levels
    grid, _ = token_grids(cfg)
    n = grid[0] * grid[1] * grid[2]
    patch_in = 3 * m.tubelet_size * m.patch_size ** 2
    per_gpu = max(1, cfg.data.batch_size // gpus)
    ctx, tgt = mask_tokens or _mask_tokens(objective, min(per_gpu, 64))
    itemsize = BF16 if cfg.train.precision == "bf16" else FP32

    # FLOPs of one clip
    teacher = blocks_flops(n, depth, d, h) + 2 * n * patch_in * d if objective.teacher is not None else 0.0
    tokenizer = 2 * n * patch_in * d  # its backward is the weights' gradient only: the input needs none
    student = 0.0
    predictor = 0.0
    # beside what autograd saves: the clip's two reshaped copies for the tokenizer, the targets raw and
    # normalised (all levels, every token), the loss's elementwise difference (measured peak: benchmarks/
    # activation_memory.py)
    kept = 2 * n * patch_in * FP32 + 2 * n * levels * d * FP32 + sum(c + t for c, t in zip(ctx, tgt)) * levels * d * FP32
    acts = ckpt = kept
    for c, t in zip(ctx, tgt):
        student += blocks_flops(c, depth, d, h)
        fuse = 2 * c * (levels * d * d + d * dp) if levels > 1 else 2 * c * d * dp
        predictor += blocks_flops(c + t, m.predictor_depth, dp, hp) + fuse + 2 * (c + t) * dp * levels * d
        acts += c * (depth * block_bytes(d, h, itemsize) + levels * d * itemsize)
        acts += (c + t) * (m.predictor_depth * block_bytes(dp, hp, itemsize) + 2 * dp * itemsize + 2 * levels * d * FP32)
        ckpt += c * (depth * d * itemsize + block_bytes(d, h, itemsize)) + (c + t) * (
            m.predictor_depth * dp * itemsize + block_bytes(dp, hp, itemsize) + 2 * levels * d * FP32)
    if objective.teacher is None:  # SIGReg: the targets are the encoder's own, with gradient
        student += blocks_flops(n, depth, d, h)
        acts += n * depth * block_bytes(d, h, itemsize)
        ckpt += n * (depth * d * itemsize + block_bytes(d, h, itemsize))
    flops_sample = 3 * (student + predictor) + 2 * tokenizer + teacher
    frames = cfg.data.frames * 3 * cfg.data.image_size ** 2 * FP32

    state = params * FP32 + trainable * (FP32 + 2 * FP32)  # weights (teacher included), gradients, AdamW moments
    shard = (gpus > 1 and params * FP32 > 8e9) if sharded is None else sharded  # FSDP once weights pass 8 GB
    state_gpu = state / gpus if shard else state
    budget = gpu_memory_gb * 1e9 * 0.9 - state_gpu  # 10% for the allocator and workspace
    micro, checkpointing = 0, False
    for per_sample, ck in ((acts + frames, False), (ckpt + frames, True)):
        fits = int(budget // per_sample) if budget > 0 else 0
        if fits >= 1:
            micro, checkpointing = min(fits, per_gpu), ck
            while per_gpu % micro:
                micro -= 1
            break
    used = state_gpu + micro * ((ckpt if checkpointing else acts) + frames)
    # stills at a clip's cost per token (their attention is cheaper: a slight overestimate); the step's time is
    # its busiest process's: under data.split_ranks a clip process holds batch/gpus clips, the stills elsewhere
    clips, stills = split_counts(cfg.data.batch_size, cfg.data.image_fraction)
    still_flops = flops_sample * (cfg.data.image_size // m.patch_size) ** 2 / n
    step = flops_sample * clips + still_flops * stills
    busiest = flops_sample * per_gpu if cfg.data.split_ranks and stills and gpus > 1 else step / gpus
    return StepEstimate(
        config=name, parameters=params, trainable=trainable, tokens_per_clip=n, context_tokens=ctx,
        target_tokens=tgt, flops_per_sample=flops_sample, flops_per_step=step, activation_bytes_per_sample=acts,
        checkpointed_bytes_per_sample=ckpt, state_bytes=state, input_bytes_per_sample=frames, gpus=gpus,
        gpu_memory_gb=gpu_memory_gb, mfu=mfu, peak_tflops=peak_tflops, global_batch=cfg.data.batch_size,
        micro_batch=micro, accumulate=math.ceil(per_gpu / micro) if micro else 0, checkpointing=checkpointing,
        sharded=shard, memory_per_gpu_gb=used / 1e9,
        seconds_per_step=busiest / (peak_tflops * 1e12 * mfu))


def format_estimate(e: StepEstimate) -> str:
    fit = (f"micro-batch {e.micro_batch} per GPU × {e.accumulate} accumulation steps"
           + (" with activation checkpointing" if e.checkpointing else "") if e.micro_batch
           else "does not fit: not one sample, even with activation checkpointing; more GPUs with FSDP, or a smaller model")
    rows = [
        ("parameters", f"{e.parameters / 1e6:,.1f} M ({e.trainable / 1e6:,.1f} M trained; the rest the EMA teacher)"),
        ("tokens per clip", f"{e.tokens_per_clip:,}; visible / predicted per mask type: "
         + ", ".join(f"{c:,.0f} / {t:,.0f}" for c, t in zip(e.context_tokens, e.target_tokens))),
        ("FLOPs per step", f"{e.flops_per_step:.3e} ({e.flops_per_sample:.3e} per clip, batch {e.global_batch})"),
        ("activations per clip", f"{e.activation_bytes_per_sample / 1e9:.2f} GB; "
         f"{e.checkpointed_bytes_per_sample / 1e9:.2f} GB with activation checkpointing"),
        ("weights + grads + AdamW", f"{e.state_bytes / 1e9:.1f} GB" + (f", {e.state_bytes / e.gpus / 1e9:.1f} GB per GPU "
                                                                       "(FSDP)" if e.sharded else " per GPU (DDP)")),
        ("fits", f"{fit}; {e.memory_per_gpu_gb:.1f} of {e.gpu_memory_gb:g} GB"),
        ("time per step", f"{e.seconds_per_step:.2f} s on {e.gpus} GPUs at {e.mfu:.0%} MFU of {e.peak_tflops:g} TFLOPS"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
