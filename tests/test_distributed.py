"""Several processes, one run (worldjepa/distributed.py): two gloo processes under torchrun, with DDP or FSDP2,
train what one process trains, for the V-JEPA 2.1 objective and the compact SIGReg world model; a run
checkpointed at two processes resumes at one, and an FSDP2 run resumes its own sharded state."""

import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from worldjepa.cli import main
from worldjepa.data.batches import Batch, Share, still_ranks
from worldjepa.data.episodes import EpisodeBatches, EpisodeStore

STEPS = ["train.steps=5", "train.checkpoint_every=100"]


def torchrun(args: list[str], processes: int = 2) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={processes}", "-m", "worldjepa", *args],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def differences(one, two) -> dict[str, float]:
    """Max |a − b| of every floating tensor of two run folders' checkpoints."""
    a, b = load_file(str(one / "checkpoint.safetensors")), load_file(str(two / "checkpoint.safetensors"))
    assert a.keys() == b.keys()
    return {k: float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point()}


def moved(run, start) -> float:
    return max(differences(run, start).values())


def test_pretraining_two_processes_match_one_and_resume_at_one(tmp_path, small_overrides):
    """V-JEPA 2.1 (tiny-cpu: dense context loss, deep supervision, EMA teacher), clips only, two micro-batches a
    step: weights, teacher and AdamW moments of 2 DDP processes within 1e-5 of 1 process after 5 steps; a 2-process FSDP2 run stopped at
    step 3 (its shards gathered into one checkpoint) and resumed by 1 process ends in the same place."""
    common = ["pretrain", "--config", "tiny-cpu", "--quiet", *small_overrides, *STEPS, "data.image_fraction=0",
              "train.accumulate=2"]  # gradients exchanged once per step, after the second micro-batch
    one, two, split, start = (tmp_path / name for name in ("one", "two", "split", "start"))
    assert main([*common, "--out", str(one)]) == 0
    torchrun([*common, "--out", str(two)])
    diff = differences(one, two)
    assert max(diff.values()) < 1e-5, sorted(diff.items(), key=lambda kv: -kv[1])[:5]
    assert main([*common, "--out", str(start), "--until", "1"]) == 0
    assert moved(one, start) > 1e-3  # the comparison can fail: four more steps move the weights this far

    torchrun([*common, "train.parallel=fsdp", "--out", str(split), "--until", "3"])
    assert main([*common, "--out", str(split)]) == 0
    diff = differences(one, split)
    assert max(diff.values()) < 1e-5, sorted(diff.items(), key=lambda kv: -kv[1])[:5]


def test_split_of_processes_between_stills_and_clips_matches_one_mixed_process(tmp_path, small_overrides):
    """V-JEPA 2.1's arrangement (data.split_ranks): of 2 processes, one trains on the batch's 2 stills and the
    other on its 2 clips; the averaged gradient weighs them as one process's mixed batch does (a half each), and
    the masks are the one-process draw, so the two runs end within 1e-5. The logged parts are the mean over the
    processes that have them."""
    import json

    # AdamW eps 1e-6: at 1e-8 the predictor's output bias, whose gradient is near zero, ends 7.6e-6 apart (AdamW
    # divides its rounding by its own size; docs/scaling.md), everything else within 5e-8
    common = ["pretrain", "--config", "tiny-cpu", "--quiet", *small_overrides, *STEPS, "data.image_fraction=0.5",
              "train.log_every=1", "optim.eps=1e-6"]
    one, split, start = tmp_path / "one", tmp_path / "split", tmp_path / "start"
    assert main([*common, "--out", str(one)]) == 0
    torchrun([*common, "data.split_ranks=true", "--out", str(split)])
    diff = differences(one, split)
    assert max(diff.values()) < 1e-5, sorted(diff.items(), key=lambda kv: -kv[1])[:5]
    assert main([*common, "--out", str(start), "--until", "1"]) == 0
    trained = differences(one, start)  # the comparison can fail: both tokenizers move in four more steps
    for name in ("image", "video"):
        assert max(v for k, v in trained.items() if f"encoder.tokenizer.{name}." in k) > 1e-4, name
    logs = [[json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()] for run in (one, split)]
    last = [next(r for r in reversed(log) if "video/predict" in r) for log in logs]
    for key in ("loss", "video/predict", "image/predict"):
        assert abs(last[0][key] - last[1][key]) < 1e-4, (key, last)


def test_a_world_size_that_cannot_split_stills_from_clips_says_so():
    with pytest.raises(ValueError, match=r"3 processes cannot split .* 12 clips and 4 stills.*such as 4, 8, 12"):
        still_ranks(3, 12, 4)
    with pytest.raises(ValueError, match="needs both clips and stills"):
        still_ranks(2, 4, 0)
    assert still_ranks(4, 12, 4) == 1 and still_ranks(1, 12, 4) == 0
    rows = [Share(i, 4, 1) for i in range(4)]
    assert [r.stills(4) for r in rows] == [slice(0, 4), None, None, None]
    assert [r.clips(12) for r in rows] == [None, slice(0, 4), slice(4, 8), slice(8, 12)]
    part = Batch(video=torch.zeros(12, 2, 3, 8, 8), image=torch.zeros(4, 3, 8, 8)).part(rows[0])
    assert part.video is None and part.image.shape[0] == 4


def test_world_model_two_processes_match_one(tmp_path, small_wm_overrides):
    """The compact world model: SIGReg over the global batch and BatchNorm's statistics across ranks, with DDP,
    and with FSDP2 stopped at step 3 and resumed from its checkpoint (each rank taking its shard again).
    AdamW's eps is raised because this model has gradients that are zero in exact arithmetic (the bias before
    BatchNorm, constant background features) and AdamW divides their rounding noise by its own size: at the
    default eps two 1-process runs on 1 and 2 threads differ by 2e-3 (docs/scaling.md)."""
    data = tmp_path / "data"
    assert main(["collect", "--world", "two-rooms", "--episodes", "4", "--steps", "12", "--out", str(data),
                 "--image-size", "32"]) == 0
    common = ["train-wm", "--config", "wm-two-rooms", "--data", str(data), "--quiet", *small_wm_overrides, *STEPS,
              "data.batch_size=8", "objective.sigreg_slices=64", "optim.eps=1e-3", "optim.warmup_steps=2"]
    store = EpisodeStore(data)
    source = EpisodeBatches(store, 3, 2, 8, seed=0)
    whole, parts = source.batch(4), [source.batch_part(4, 0, Share(i, 2)) for i in range(2)]  # each rank reads its own rows
    for field in ("video", "actions", "proprio"):
        assert torch.equal(getattr(whole, field), torch.cat([getattr(p, field) for p in parts]))
    one, two, start = tmp_path / "one", tmp_path / "two", tmp_path / "start"
    assert main([*common, "--out", str(one)]) == 0
    torchrun([*common, "--out", str(two)])
    sharded = tmp_path / "sharded"
    torchrun([*common, "train.parallel=fsdp", "--out", str(sharded), "--until", "3"])
    torchrun([*common, "train.parallel=fsdp", "--out", str(sharded)])
    for run in (two, sharded):
        diff = differences(one, run)
        trained = {k: v for k, v in diff.items() if "running_" not in k}
        assert max(trained.values()) < 1e-5, sorted(trained.items(), key=lambda kv: -kv[1])[:5]
        # BatchNorm's running mean sums the weights' rounding over 128 inputs: 3.7e-5 between 1 and 2 threads
        stats = {k: v for k, v in diff.items() if "running_" in k}
        assert stats and max(stats.values()) < 1e-4, stats
    assert main([*common, "--out", str(start), "--until", "1"]) == 0
    assert moved(one, start) > 1e-3


def test_a_batch_that_does_not_split_says_so():
    with pytest.raises(ValueError, match="3 stills does not split evenly over 2 processes"):
        Batch(video=torch.zeros(4, 2, 3, 8, 8), image=torch.zeros(3, 3, 8, 8)).part(Share(0, 2))
    rows = torch.arange(4.0)
    second = Batch(video=rows.view(4, 1, 1, 1, 1), actions=rows.view(4, 1, 1)).part(Share(1, 2))
    assert second.video.flatten().tolist() == [2.0, 3.0] and second.actions.flatten().tolist() == [2.0, 3.0]


def test_activation_checkpointing_keeps_the_gradients_and_saves_memory(small_overrides):
    """Recomputed blocks give the same gradients, and autograd keeps a fraction of the bytes."""
    from worldjepa import config
    from worldjepa.pretrain import build_objective
    from worldjepa.train.trainer import recompute_blocks

    cfg = config.load("tiny-cpu", [*small_overrides, "data.image_fraction=0"])
    video = torch.randn(4, cfg.data.frames, 3, cfg.data.image_size, cfg.data.image_size)
    grads, kept = [], []
    for checkpointing in (False, True):
        objective = build_objective(cfg)
        if checkpointing:
            recompute_blocks(objective)
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t.numel() * t.element_size()) or t,
                                                      lambda t: t):
            objective.loss(Batch(video=video), 0).total.backward()
        grads.append(torch.cat([p.grad.flatten() for p in objective.trainable().parameters() if p.grad is not None]))
        kept.append(sum(saved))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    assert kept[1] < 0.5 * kept[0]


def test_compiled_blocks_compute_what_eager_blocks_compute():
    """`train.compile`: a block compiled with dynamic shapes gives the eager block's output and gradients, and
    keeps its parameters' names."""
    from worldjepa.nn.transformer import Block
    from worldjepa.train.trainer import compile_blocks

    torch.manual_seed(0)
    eager = Block(32, 2)
    compiled = torch.nn.Sequential(Block(32, 2))
    compiled[0].load_state_dict(eager.state_dict())
    compile_blocks(compiled)
    assert list(compiled[0].state_dict()) == list(eager.state_dict())
    for tokens in (7,):  # one shape: compiling costs seconds per shape on a CPU
        x = torch.randn(3, tokens, 32)
        a, b = eager(x), compiled[0](x)
        assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())
        ga = torch.autograd.grad(a.square().sum(), list(eager.parameters()))
        gb = torch.autograd.grad(b.square().sum(), list(compiled[0].parameters()))
        assert all(torch.allclose(u, v, atol=1e-4) for u, v in zip(ga, gb))
