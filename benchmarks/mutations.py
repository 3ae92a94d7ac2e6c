"""Mutation check: break what each value test guards, one change at a time, and see the test fail.

    python benchmarks/mutations.py [--only NAME ...] [--out benchmarks/results] [--list]

A test that still passes when the behaviour it names is broken guards nothing. For each mutation below
the script replaces one snippet of the library (it must occur exactly once), runs the named tests in a
fresh pytest process, restores the file whatever happens, and records whether the tests failed
("caught") or passed ("MISSED"). Before mutating, the named tests must pass on the unchanged code, so a
catch is the mutation's doing. Prints a table and writes JSON; exits 1 if any mutation was missed.
Runs one pytest at a time (two would fight over the 2 cores); about 3 minutes here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "worldjepa"


@dataclass
class Mutation:
    name: str  # what is broken
    file: str  # under src/worldjepa
    old: str  # the snippet replaced (exactly one occurrence)
    new: str
    tests: list[str]  # pytest node ids that must fail


MUTATIONS = [
    Mutation("warm-up off by one step", "train/schedule.py",
             "cfg.start_lr + (cfg.lr - cfg.start_lr) * step / cfg.warmup_steps",
             "cfg.start_lr + (cfg.lr - cfg.start_lr) * (step + 1) / cfg.warmup_steps",
             ["tests/test_trainer.py::test_learning_rate_warms_up_linearly_then_follows_a_cosine"]),
    Mutation("cosine over half a period", "train/schedule.py",
             "0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(math.pi * progress))",
             "0.5 * (cfg.lr - cfg.min_lr) * (1.0 + math.cos(0.5 * math.pi * progress))",
             ["tests/test_trainer.py::test_learning_rate_warms_up_linearly_then_follows_a_cosine"]),
    Mutation("weight decay runs end → start", "train/schedule.py",
             "    start, end = cfg.weight_decay\n", "    end, start = cfg.weight_decay\n",
             ["tests/test_trainer.py::test_weight_decay_follows_a_cosine_from_start_to_end"]),
    Mutation("biases decayed", "train/trainer.py",
             'if p.ndim < 2 or "mask_tokens" in name', 'if p.ndim < 1 or "mask_tokens" in name',
             ["tests/test_trainer.py::test_weight_decay_shrinks_matrices_only_by_lr_times_wd"]),
    Mutation("decay on every group", "train/trainer.py",
             'group["weight_decay"] = lr, (wd if group["apply_decay"] else 0.0)', 'group["weight_decay"] = lr, wd',
             ["tests/test_trainer.py::test_weight_decay_shrinks_matrices_only_by_lr_times_wd"]),
    Mutation("guard needs one more loss of history", "train/guard.py",
             "len(self.recent) >= self.min_history", "len(self.recent) > self.min_history",
             ["tests/test_trainer.py::test_the_guard_rejects_non_finite_values_and_spikes_over_the_median"]),
    Mutation("rejected steps applied anyway", "train/trainer.py",
             "        if result.rejected is None:\n            self.optimizer.step()",
             "        if True:\n            self.optimizer.step()",
             ["tests/test_trainer.py::test_a_rejected_step_changes_no_weight_and_no_optimizer_moment"]),
    Mutation("micro-batch losses summed, not averaged", "train/trainer.py",
             "(losses.total / len(micro)).backward()", "losses.total.backward()",
             ["tests/test_trainer.py::test_two_accumulated_micro_batches_make_the_step_of_their_union"]),
    Mutation("context loss without λ", "ssl/objective.py",
             "loss = l_pred + lam * l_ctx", "loss = l_pred + l_ctx",
             ["tests/test_objectives.py::test_masked_prediction_loss_is_assembled_as_written"]),
    Mutation("context loss without the distance weight", "ssl/losses.py",
             "distance.rsqrt().unsqueeze(-1)", "distance.new_ones(()).expand_as(distance).unsqueeze(-1)",
             ["tests/test_objectives.py::test_masked_prediction_loss_is_assembled_as_written"]),
    Mutation("rollout term without its weight", "dynamics/objective.py",
             "total = total + self.cfg.rollout_weight * l_ro", "total = total + l_ro",
             ["tests/test_objectives.py::test_compact_world_model_loss_is_teacher_forcing_plus_rollout_plus_sigreg",
              "tests/test_objectives.py::test_patch_world_model_loss_is_l1_on_layernormed_frozen_features"]),
    Mutation("training rollout feeds the true future proprio (the old rule)", "dynamics/objective.py",
             "rolled = unroll(self.predictor, z[:, 0], actions[:, :rollout_steps], None if proprio is None else proprio[:, 0])",
             "from .unroll import feed_back; rolled = feed_back(self.predictor, z[:, 0], actions[:, :rollout_steps], "
             "None if proprio is None else proprio[:, :rollout_steps])",
             ["tests/test_unroll.py::test_training_planning_and_navigation_predict_the_same_latents"]),
    Mutation("planning drops the observed proprio", "dynamics/model.py",
             "out = unroll(self.objective.predictor, z, actions.to(self.device).reshape(B * C, H, A), p)",
             "out = unroll(self.objective.predictor, z, actions.to(self.device).reshape(B * C, H, A), "
             "None if p is None else p * 0)",
             ["tests/test_unroll.py::test_training_planning_and_navigation_predict_the_same_latents"]),
    Mutation("cached rollout attends to the last key only", "dynamics/compact.py",
             "for key in keys], dim=2).softmax(2)", "for key in keys[-1:]], dim=2).softmax(2)",
             ["tests/test_unroll.py::test_gradients_flow_through_the_cached_rollout",
              "tests/test_unroll.py::test_training_planning_and_navigation_predict_the_same_latents"]),
    Mutation("NaN passes the validator", "config.py",
             "        if not math.isfinite(value):\n", "        if False:\n",
             ["tests/test_hostile.py::test_no_numeric_key_accepts_nan_or_infinity",
              "tests/test_hostile.py::test_any_number_for_any_numeric_key_loads_or_names_the_key"]),
    Mutation("ranges not checked", "config.py",
             "if bounds is not None and not bounds.holds(value):", "if False:",
             ["tests/test_config.py::test_ranges_are_checked_with_the_key_named",
              "tests/test_config.py::test_world_model_sections_use_the_same_validator"]),
    Mutation("choices not checked", "config.py",
             "        if value not in args or isinstance(value, bool)", "        if False and value not in args or isinstance(value, bool)",
             ["tests/test_config.py::test_choice_errors_suggest_valid_value"]),
    Mutation("auto takes the worst device", "device.py",
             "        return torch.device(available()[0])", "        return torch.device(available()[-1])",
             ["tests/test_device.py::test_auto_takes_the_best_available_device"]),
    Mutation("a missing CUDA goes unnoticed", "device.py",
             '    if kind == "cuda" and not torch.cuda.is_available():', '    if False:',
             ["tests/test_device.py::test_a_missing_device_is_one_clear_error",
              "tests/test_device.py::test_every_command_takes_device_and_says_in_one_line_when_it_is_missing"]),
    Mutation("newer checkpoint formats read", "train/checkpoint.py",
             "version > FORMAT_VERSION:", "version > FORMAT_VERSION + 1:",
             ["tests/test_checkpoint_format.py::test_a_newer_format_is_refused_with_what_to_do"]),
    Mutation("format-1 kind guessed as pretrain", "train/checkpoint.py",
             'return "world-model" if "store" in config or "plan" in config else "pretrain"', 'return "pretrain"',
             ["tests/test_checkpoint_format.py::test_a_format_1_checkpoint_still_loads_with_its_kind_told_by_its_config"]),
    Mutation("an upward import (device imports pretrain)", "device.py",
             "def available() -> list[str]:",
             "def _upward():\n    from .pretrain import pretrain  # noqa: F401\n\n\ndef available() -> list[str]:",
             ["tests/test_architecture.py::test_layers_contract_holds"]),
    Mutation("warnings with Python's file:line and source line", "cli.py",
             "        warnings.showwarning = _one_line(args.command)\n", "",
             ["tests/test_cli.py::test_pretrain_embed_roundtrip"]),
    Mutation("success rate not the episodes' outcomes", "planning/mpc.py",
             '"success_rate": self.success_rate,', '"success_rate": min(1.0, self.success_rate + 0.5),',
             ["tests/test_world_model_cli.py::test_collect_train_plan"]),
    Mutation("ViT-G with 16 heads again", "nn/encoder.py",
             '"gigantic": ViTSize(48, 1664, 26, 64 / 13)', '"gigantic": ViTSize(48, 1664, 16, 64 / 13)',
             ["tests/test_published.py::test_encoder_presets_are_the_released_sizes"]),
    Mutation("stills masked by the clips' first mask", "config.py",
             "return [MaskConfig(10, (0.15, 0.15))]", "return [MaskConfig(8, (0.15, 0.15))]",
             ["tests/test_published.py::test_stills_get_the_released_image_mask"]),
    Mutation("2-AC predictions not LayerNorm'ed", "dynamics/patch.py",
             "        return F.layer_norm(out, out.shape[-1:])\n\n    def forward",
             "        return out\n\n    def forward",
             ["tests/test_objectives.py::test_patch_world_model_loss_is_l1_on_layernormed_frozen_features"]),
    Mutation("2-AC frames through the image tokenizer", "dynamics/model.py",
             "        z = self.vit(clip)\n", "        z = self.vit(images)\n",
             ["tests/test_objectives.py::test_patch_world_model_loss_is_l1_on_layernormed_frozen_features"]),
    Mutation("patch rollout without the cache's earlier steps", "nn/transformer.py",
             "out = attention(q, torch.cat(keys, dim=2), torch.cat(values, dim=2))",
             "out = attention(q, keys[-1], values[-1])",
             ["tests/test_unroll.py::test_gradients_flow_through_the_cached_rollout"]),
    Mutation("sin-cos rows before columns", "nn/posembed.py",
             "torch.cat([one_axis(positions[..., 2]), one_axis(positions[..., 1])], dim=-1)",
             "torch.cat([one_axis(positions[..., 1]), one_axis(positions[..., 2])], dim=-1)",
             ["tests/test_published.py::test_sincos_table_has_the_released_i_jepa_layout"]),
    Mutation("I-JEPA recipe with V-JEPA's EMA", "config.py",
             'position="sincos", ema=(0.996, 1.0), min_context=10)', 'position="sincos", ema=(0.99925, 0.99925), min_context=10)',
             ["tests/test_published.py::test_recipes_fill_position_ema_and_minimum_context"]),
    Mutation("interpolate_rope scales time too", "nn/encoder.py",
             "scale = [1.0] + [(self.rope_grid - 1)", "scale = [(self.rope_grid - 1) / max(1, grid[0] - 1)] + [(self.rope_grid - 1)",
             ["tests/test_published.py::test_interpolate_rope_maps_rows_and_columns_onto_the_pretraining_grid"]),
    Mutation("images accepted by an untrained image tokenizer", "nn/encoder.py",
             "        if self.images_trained is False:\n", "        if False:\n",
             ["tests/test_cli.py::test_a_run_that_never_trained_its_image_tokenizer_refuses_images"]),
    Mutation("ATE as the square of the mean error", "eval/metrics.py",
             "    return float(np.sqrt(np.mean(d ** 2)))\n\n\ndef rte",
             "    return float(np.mean(d) ** 2)\n\n\ndef rte",
             ["tests/test_eval.py::test_report_of_a_world_model_run_embeds_its_planned_episodes"]),
    Mutation("store clips ignore data.frame_step", "data/episodes.py",
             "            offsets = c.frame_step * np.arange(c.frames)\n",
             "            offsets = np.arange(c.frames)\n",
             ["tests/test_episodes.py::test_pretraining_clips_are_runs_of_a_stores_frames"]),
    Mutation("LeWM's pred_proj head left out", "dynamics/compact.py",
             "Projector(width, out_hidden, latent_dim) if out_hidden else", "nn.Linear(width, latent_dim) if out_hidden else",
             ["tests/test_published.py::test_the_lewm_preset_has_lewms_shapes_and_size"]),
    Mutation("a frozen encoder's spread judged as collapse", "train/health.py",
             '    if n.get("frozen"):\n        pass', '    if False:\n        pass',
             ["tests/test_doctor.py::test_verdicts_on_planted_numbers"]),
    Mutation("the model-or-search check runs the path where the plan should run", "planning/diagnose.py",
             '("path", paths), ("plan", plan))', '("path", paths), ("plan", paths))',
             ["tests/test_model_or_search.py::test_a_wrong_model_prefers_plans_that_miss_to_the_path_that_reaches"]),
]


def run_tests(tests: list[str]) -> tuple[bool, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests], cwd=ROOT,
                          capture_output=True, text=True)
    return done.returncode == 0, time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="names (substrings) of the mutations to run")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--list", action="store_true", help="list the mutations and check that each snippet is found")
    args = ap.parse_args()
    chosen = [m for m in MUTATIONS if args.only is None or any(o in m.name for o in args.only)]
    for m in chosen:
        count = (SRC / m.file).read_text().count(m.old)
        if count != 1:
            raise SystemExit(f"mutation '{m.name}': the snippet occurs {count} times in {m.file} (expected once)")
    if args.list:
        print("\n".join(f"{m.name}  [{m.file}]  → {', '.join(t.split('::')[1] for t in m.tests)}" for m in chosen))
        return 0
    rows = []
    for m in chosen:
        passed, _ = run_tests(m.tests)
        if not passed:
            raise SystemExit(f"the tests of '{m.name}' fail on the unchanged code: fix them first")
        path = SRC / m.file
        original = path.read_text()
        mutated = original.replace(m.old, m.new)
        compile(mutated, str(path), "exec")  # a mutation that does not parse would be "caught" for nothing
        try:
            path.write_text(mutated)
            still_passes, seconds = run_tests(m.tests)
        finally:
            path.write_text(original)
        rows.append({"mutation": m.name, "file": m.file, "tests": m.tests, "caught": not still_passes,
                     "seconds": round(seconds, 1)})
        print(f"{'caught' if not still_passes else 'MISSED':>7}  {seconds:5.1f} s  {m.name}  ({m.file})", flush=True)
    print("\n| mutation | file | test(s) | result |\n|---|---|---|---|")
    for r in rows:
        names = ", ".join(t.split("::")[1] for t in r["tests"])
        print(f"| {r['mutation']} | {r['file']} | {names} | {'caught' if r['caught'] else '**missed**'} |")
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "mutations.json").write_text(json.dumps(rows, indent=1))
    missed = [r["mutation"] for r in rows if not r["caught"]]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} mutations caught" + (f"; missed: {missed}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
