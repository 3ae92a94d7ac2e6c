"""benchmarks/gpu.py at toy scale on the CPU: it runs end to end, and the FLOPs its MFU figures divide by are
the ones PyTorch's FlopCounterMode counts for the same computation."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from worldjepa import config
from worldjepa.data.batches import Batch
from worldjepa.dynamics.patch import PatchActionPredictor
from worldjepa.nn.tokenizers import VIDEO
from worldjepa.pretrain import build_objective
from worldjepa.resources import estimate

SPEC = importlib.util.spec_from_file_location("gpu_benchmark", Path(__file__).parents[1] / "benchmarks" / "gpu.py")
gpu = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(gpu)


def test_tiny_scale_runs_and_reports(tmp_path):
    out = tmp_path / "gpu.json"
    result = gpu.main(["--tiny", "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    for part in ("vit_step", "cem_iteration"):
        for key in ("achieved_tflops", "mfu_of_ceiling", "mfu_of_peak"):
            assert math.isfinite(result[part][key]) and result[part][key] > 0
    assert result["vit_step"]["tokens_per_s"] > 0 and result["matmul_ceiling_tflops"] > 0


def test_cem_flops_are_what_torch_counts():
    depth, width, heads, latent, grid, samples = 2, 64, 2, 48, 4, 8
    predictor = PatchActionPredictor(latent, (grid, grid), 7, width, depth, heads, proprio_dim=7).eval()
    z0, actions, proprio = torch.randn(samples, grid * grid, latent), torch.randn(samples, 1, 7), torch.randn(samples, 1, 7)
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH), torch.no_grad():
        predictor.rollout(z0, actions, proprio)
    assert counter.get_total_flops() == pytest.approx(gpu.cem_flops(samples, depth, width, latent, grid * grid), rel=0.02)


def test_training_step_flops_are_what_torch_counts(small_overrides):
    """Forward and backward of the V-JEPA 2.1 loss (student, predictor, teacher), counted, against the
    estimate that MFU divides by, given the step's own masks."""
    cfg = config.load("tiny-cpu", [*small_overrides, "data.image_fraction=0", "data.batch_size=8",
                                   "data.image_size=64"])
    objective = build_objective(cfg)
    video = torch.randn(8, cfg.data.frames, 3, cfg.data.image_size, cfg.data.image_size)
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        objective.loss(Batch(video=video), 0).total.backward()
    masks = objective._step_masks(8, VIDEO, 0)
    tokens = ([m.context.shape[1] for m in masks], [m.targets.shape[1] * m.targets.shape[2] for m in masks])
    assert counter.get_total_flops() == pytest.approx(estimate(cfg, mask_tokens=tokens).flops_per_step, rel=0.03)
