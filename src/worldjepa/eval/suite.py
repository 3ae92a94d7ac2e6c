"""`worldjepa eval`: the evaluation suite of a checkpoint, written as results.json, results.md and plots.

Pretraining runs (`worldjepa pretrain`, the demo) get the frozen-encoder tasks on the built-in world:
depth (dense probe, RMSE), state (positions and velocities, R²), anticipation (Recall@5, mAP) and
surprise (violation of expectation per type). World-model runs (`worldjepa train-wm`) get navigation
(open-loop ATE/RTE) and planning (success rate in MPC). Every task also reports a reference that needs
no learning (raw pixels through the same probe, chance, standing still), so a number can be read
against what it takes to beat.

Frozen features are cached under OUT/features/ (keyed by the checkpoint file's size and time and by
the clips asked for), so probing again (another probe, another sweep) does not encode again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..device import resolve_device
from ..train.checkpoint import checkpoint_path, read_checkpoint_meta, run_kind
from .features import patch_features

PRETRAIN_TASKS = ("depth", "state", "anticipation", "surprise")
USER_TASKS = ("labels",)  # a user's labelled clips: `--labels FILE`
WORLD_MODEL_TASKS = ("navigation", "planning")


@dataclass
class SuiteSize:
    """How many samples each task uses; `SMALL` is for smoke tests."""

    probe_clips: int = 1000  # probe-training clips for depth, state and anticipation
    test_clips: int = 300
    voe_pairs: int = 100  # pairs per violation type
    navigation_episodes: int = 100  # episodes to fit the position read-out; half as many are tested
    planning_episodes: int = 20
    planning: dict = field(default_factory=dict)  # planner overrides (default: the run's own plan section)
    anticipation_horizon: int = 4  # frames ahead in which events count
    attentive_epochs: int = 60  # 0: skip the attentive probes (the linear ones are the cheap reference)


SMALL = SuiteSize(probe_clips=64, test_clips=32, voe_pairs=8, navigation_episodes=12, planning_episodes=2,
                  planning={"samples": 16, "iterations": 2, "elites": 4, "horizon": 2, "budget": 6},
                  attentive_epochs=2)


def select_tasks(kind: str, suite: str | None, labels: bool = False) -> list[str]:
    """The tasks to run: `suite` is "all", a comma-separated list, or None (all of the run's built-in
    tasks, or only the user's labelled clips when a label file is given)."""
    own = PRETRAIN_TASKS if kind == "pretrain" else WORLD_MODEL_TASKS
    if labels and kind != "pretrain":
        raise ValueError("--labels probes a pretrained encoder; this checkpoint is a world-model run")
    if suite is None:
        return list(USER_TASKS) if labels else list(own)
    names = list(own) if suite == "all" else [s.strip() for s in suite.split(",") if s.strip()]
    if labels and "labels" not in names:
        names.append("labels")
    if not names:
        raise ValueError(f"--suite {suite!r} names no task: give 'all' or tasks among {', '.join(own)}")
    known = PRETRAIN_TASKS + WORLD_MODEL_TASKS + USER_TASKS
    for name in names:
        if name == "labels" and not labels:
            raise ValueError("the labels task needs a label file: --labels FILE (docs/evaluation.md)")
        if name not in known:
            raise ValueError(f"unknown suite {name!r}: choose 'all' or among {', '.join(known)}")
        if name == "labels":
            continue
        if name not in own:
            other = "a world-model run (`worldjepa train-wm`)" if kind == "pretrain" else \
                "a pretraining run (`worldjepa pretrain` or the demo)"
            raise ValueError(f"the {name!r} task needs {other}; this checkpoint is a {kind} run, whose tasks "
                             f"are {', '.join(own)}")
    return names


class FeatureCache:
    """Arrays computed once per (checkpoint, name, spec) and kept as safetensors under `folder`."""

    def __init__(self, folder: Path, identity: str):
        self.folder, self.identity = folder, identity
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, name: str, spec: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        path = self.folder / f"{name}.safetensors"
        key = f"{self.identity}|{spec}"
        if path.exists():
            try:
                with safe_open(str(path), framework="pt") as f:
                    if (f.metadata() or {}).get("key") == key:
                        return f.get_tensor("x")
            except Exception:  # a damaged cache file is recomputed, not fatal
                pass
        x = compute().contiguous()
        tmp = path.with_suffix(".tmp")
        save_file({"x": x}, str(tmp), metadata={"key": key})
        tmp.replace(path)
        return x


def _identity(checkpoint: Path) -> str:
    st = checkpoint.stat()
    return f"{checkpoint.resolve()}:{st.st_size}:{st.st_mtime_ns}"


# ------------------------------------------------------------------------------------------------
# Pretraining tasks


class PretrainTasks:
    def __init__(self, checkpoint: Path, out: Path, size: SuiteSize, say, labels: str | Path | None = None,
                 device: str | None = None):
        from ..pretrain import load_pretrained

        self.encoder, self.cfg = load_pretrained(checkpoint)
        self.device = resolve_device(device or self.cfg.train.device)
        self.encoder.to(self.device)
        self.checkpoint, self.out, self.size, self.say = checkpoint, out, size, say
        self.cache = FeatureCache(out / "features", _identity(checkpoint))
        d, m = self.cfg.data, self.cfg.model
        self.world, self.image_size, self.frames = d.world, d.image_size, d.frames
        self.patch, self.tubelet, self.seed = m.patch_size, m.tubelet_size, self.cfg.train.seed
        self.label_file = labels

    def features(self, name: str, spec: str, frames: np.ndarray) -> torch.Tensor:
        return self.cache.get(name, spec, lambda: patch_features(self.encoder, frames))

    def depth(self) -> dict[str, Any]:
        from .dense import depth_clips, depth_rmse
        from .metrics import rmse
        from .state_probe import pixel_grid

        n, m = self.size.probe_clips, self.size.test_clips
        train = depth_clips(self.world, self.image_size, n, self.frames, self.seed, 0)
        test = depth_clips(self.world, self.image_size, m, self.frames, self.seed, 1)
        f_train = self.features("depth-train", f"{n}", train.frames)
        f_test = self.features("depth-test", f"{m}", test.frames)
        score, pred = depth_rmse(f_train, train.depth, f_test, test.depth, self.patch, self.tubelet)
        pixels, _ = depth_rmse(pixel_grid(train.frames, self.patch, self.tubelet), train.depth,
                               pixel_grid(test.frames, self.patch, self.tubelet), test.depth, self.patch, self.tubelet)
        depth_figure(test.frames[:4], test.depth[:4], pred[:4].numpy(), self.out / "depth.png")
        return {"rmse": score, "rmse_pixels": pixels, "rmse_mean_depth": rmse(np.full_like(test.depth, train.depth.mean()),
                                                                             test.depth),
                "clips": {"train": n, "test": m}, "probe": "ridge per patch → its t·p·p depth pixels"}

    def state(self) -> dict[str, Any]:
        from .probes import probe_r2
        from .state_probe import pixel_grid, probe_clips, probe_inputs

        n, m = self.size.probe_clips, self.size.test_clips
        train = probe_clips(self.world, self.image_size, n, self.frames, self.tubelet, self.seed, 0)
        test = probe_clips(self.world, self.image_size, m, self.frames, self.tubelet, self.seed, 1)
        targets = lambda d: {"position": d.positions, "velocity": d.velocities}  # noqa: E731
        out = {}
        for source, (x_train, x_test) in {
            "encoder": (self.features("state-train", f"{n}", train.clips.frames),
                        self.features("state-test", f"{m}", test.clips.frames)),
            "pixels": (pixel_grid(train.clips.frames, self.patch, self.tubelet),
                       pixel_grid(test.clips.frames, self.patch, self.tubelet)),
        }.items():
            r2 = probe_r2(probe_inputs(x_train), targets(train), probe_inputs(x_test), targets(test))
            suffix = "" if source == "encoder" else "_pixels"
            out.update({f"position_r2{suffix}": r2["position"], f"velocity_r2{suffix}": r2["velocity"]})
        return {**out, "clips": {"train": n, "test": m}}

    def anticipation(self) -> dict[str, Any]:
        from .anticipation import anticipation_clips, chance, last_steps_tokens
        from .attentive import fit_attentive
        from .metrics import class_mean_recall_at_k, mean_average_precision
        from .probes import fit_ridge
        from .state_probe import moment_pool, pixel_grid

        n, m, h = self.size.probe_clips, self.size.test_clips, self.size.anticipation_horizon
        train = anticipation_clips(self.world, self.image_size, n, self.frames, h, self.seed, 0)
        test = anticipation_clips(self.world, self.image_size, m, self.frames, h, self.seed, 1)
        y_train = torch.as_tensor(train.labels, dtype=torch.float32)

        def scores(pred) -> dict[str, float]:
            return {"recall@5": class_mean_recall_at_k(pred, test.labels, 5),
                    "mAP": mean_average_precision(pred, test.labels)}

        f_train = self.features("anticipation-train", f"{n}:{h}", train.frames)
        f_test = self.features("anticipation-test", f"{m}:{h}", test.frames)
        linear = fit_ridge(moment_pool(f_train).flatten(1), y_train).predict(moment_pool(f_test).flatten(1)).numpy()
        g_train, g_test = (pixel_grid(f, self.patch, self.tubelet) for f in (train.frames, test.frames))
        pixels = fit_ridge(moment_pool(g_train).flatten(1), y_train).predict(moment_pool(g_test).flatten(1)).numpy()
        result = {"linear": scores(linear), "pixels_linear": scores(pixels), "chance": chance(test.labels),
                  "classes": len(train.names), "horizon_frames": h, "positive_rate": float(test.labels.mean()),
                  "clips": {"train": n, "test": m}}
        if self.size.attentive_epochs:
            probe = fit_attentive(last_steps_tokens(f_train), y_train, "multilabel", epochs=self.size.attentive_epochs,
                                  seed=self.seed, grid=(min(2, f_train.shape[1]), *f_train.shape[2:4]))
            result["attentive"] = scores(probe.predict(last_steps_tokens(f_test)).numpy())
            result["attentive_choice"] = {"lr": probe.lr, "weight_decay": probe.weight_decay}
        return result

    def surprise(self) -> dict[str, Any]:
        from ..pretrain import load_objective
        from .surprise import JEPASurprise, PixelCopy, voe_scores
        from .voe import VIOLATIONS, voe_pairs

        objective, cfg = load_objective(self.checkpoint)
        model = JEPASurprise(objective.to(self.device))
        frames = 2 * self.frames
        results = {}
        for kind in VIOLATIONS:
            # a hidden ball must come back while the frames before it went out of sight (two at least, to
            # show its motion) are still in the context of the window that predicts its return
            pairs = voe_pairs(kind, self.world, self.image_size, self.size.voe_pairs, frames=frames, seed=self.seed,
                              events=(self.frames, self.frames + 4), max_hidden=self.frames - self.tubelet - 2)
            results[kind] = voe_scores(pairs, model, self.frames, self.tubelet)
            reference = voe_scores(pairs, PixelCopy(self.tubelet), self.frames, self.tubelet)
            results[kind]["pixel_copy"] = {k: v for k, v in reference.items() if k.endswith("accuracy")}
        surprise_figure(results, self.out / "surprise.png")
        causal = any(m.causal for m in cfg.objective.masks)
        return {**results, "mask": "the predictor's causal mask type" if causal else
                "the predictor's largest mask type (the model has no causal one)", "clip_frames": frames}


    def labels(self) -> dict[str, Any]:
        from .anticipation import last_steps_tokens
        from .attentive import fit_attentive
        from .labels import load_frames, read_labels
        from .metrics import class_mean_recall_at_k
        from .probes import fit_ridge, r2_score
        from .state_probe import moment_pool

        data = read_labels(self.label_file)
        frames = load_frames(data, self.image_size, self.frames)
        features = patch_features(self.encoder, frames)
        tr, te = torch.as_tensor(data.train), torch.as_tensor(~data.train)
        pooled, tokens = moment_pool(features).flatten(1), last_steps_tokens(features)
        grid = (min(2, features.shape[1]), *features.shape[2:4])
        if data.classes is None:
            y = torch.as_tensor(data.values, dtype=torch.float32)[:, None]
            linear = fit_ridge(pooled[tr], y[tr]).predict(pooled[te]).float()
            attentive = fit_attentive(tokens[tr], y[tr], "regression", epochs=self.size.attentive_epochs,
                                      seed=self.seed, grid=grid).predict(tokens[te])
            scores = {"linear": {"r2": r2_score(y[te], linear)}, "attentive": {"r2": r2_score(y[te], attentive)}}
        else:
            onehot = torch.nn.functional.one_hot(torch.as_tensor(data.values), len(data.classes)).float()
            linear = fit_ridge(pooled[tr], onehot[tr]).predict(pooled[te]).float()
            attentive = fit_attentive(tokens[tr], onehot[tr], "multilabel", epochs=self.size.attentive_epochs,
                                      seed=self.seed, grid=grid).predict(tokens[te])
            truth = onehot[te].numpy()
            scores = {}
            for name, pred in (("linear", linear), ("attentive", attentive)):
                s = {"accuracy": float((pred.argmax(1) == onehot[te].argmax(1)).float().mean())}
                if len(data.classes) > 5:
                    s["recall@5"] = class_mean_recall_at_k(pred.numpy(), truth, 5)
                scores[name] = s
            majority = np.bincount(data.values[data.train], minlength=len(data.classes)).argmax()
            scores["majority_class"] = {"accuracy": float((data.values[~data.train] == majority).mean())}
        return {**scores, "file": str(self.label_file), "classes": data.classes,
                "clips": {"train": int(data.train.sum()), "test": int((~data.train).sum())}}


# ------------------------------------------------------------------------------------------------
# World-model tasks


class WorldModelTasks:
    def __init__(self, checkpoint: Path, out: Path, size: SuiteSize, say, labels=None, device: str | None = None):
        self.checkpoint, self.out, self.size, self.say, self.device = checkpoint, out, size, say, device

    def navigation(self) -> dict[str, Any]:
        from ..dynamics.model import load_world_model
        from .navigation import navigation_errors

        model, cfg, smeta = load_world_model(self.checkpoint, device=self.device)
        n = self.size.navigation_episodes
        result = navigation_errors(model, smeta.world, cfg.image_size, cfg.data.frameskip,
                                   train_episodes=n, test_episodes=max(2, n // 2))
        navigation_figure(result, self.out / "navigation.png")
        return {"world": smeta.world, **result}

    def planning(self) -> dict[str, Any]:
        from ..planning.evaluate import evaluate_planning

        return evaluate_planning(self.checkpoint, self.out / "planning", episodes=self.size.planning_episodes,
                                 plan_overrides=self.size.planning or None, progress=False, device=self.device)


# ------------------------------------------------------------------------------------------------


def evaluate(checkpoint: str | Path, out: str | Path | None = None, suite: str | None = None,
             size: SuiteSize | None = None, progress: bool = True, labels: str | Path | None = None,
             device: str | None = None) -> dict[str, Any]:
    """Run the suite's tasks for a run folder; write OUT/results.json, OUT/results.md and plots."""
    say = print if progress else (lambda *a, **k: None)
    path = checkpoint_path(checkpoint)
    kind = run_kind(read_checkpoint_meta(path), path)
    tasks = select_tasks(kind, suite, labels is not None)
    size = size or SuiteSize()
    out = Path(out) if out else (path.parent / "eval")
    out.mkdir(parents=True, exist_ok=True)
    runner = (PretrainTasks if kind == "pretrain" else WorldModelTasks)(path, out, size, say, labels, device)
    results: dict[str, Any] = {"checkpoint": str(path), "kind": kind, "size": asdict(size), "tasks": {},
                               "seconds": {}}
    for name in tasks:
        say(f"[eval] {name} …")
        start = time.perf_counter()
        results["tasks"][name] = getattr(runner, name)()
        results["seconds"][name] = time.perf_counter() - start
        (out / "results.json").write_text(json.dumps(results, indent=2))  # partial results survive a crash
        say(f"[eval] {name} done in {results['seconds'][name]:.0f} s")
    results["seconds"]["total"] = sum(results["seconds"].values())
    (out / "results.json").write_text(json.dumps(results, indent=2))
    (out / "results.md").write_text(markdown_table(results))
    say(markdown_table(results))
    return results


def _f(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def markdown_table(results: dict[str, Any]) -> str:
    """One row per score: task, metric, the model's value, the no-learning reference."""
    t = results["tasks"]
    rows = []
    if "depth" in t:
        d = t["depth"]
        rows.append(("depth", "RMSE (lower is better)", _f(d["rmse"]), f"pixels {_f(d['rmse_pixels'])}, mean depth "
                     f"{_f(d['rmse_mean_depth'])}"))
    if "state" in t:
        s = t["state"]
        rows.append(("state", "position R²", _f(s["position_r2"]), f"pixels {_f(s['position_r2_pixels'])}"))
        rows.append(("state", "velocity R²", _f(s["velocity_r2"]), f"pixels {_f(s['velocity_r2_pixels'])}"))
    if "anticipation" in t:
        a = t["anticipation"]
        for metric in ("recall@5", "mAP"):
            attentive = f" / {_f(a['attentive'][metric])}" if "attentive" in a else ""
            rows.append(("anticipation", f"{metric} linear{' / attentive' if attentive else ''}",
                         f"{_f(a['linear'][metric])}{attentive}",
                         f"pixels {_f(a['pixels_linear'][metric])}, chance {_f(a['chance'][metric])}"))
    if "surprise" in t:
        from .voe import VIOLATIONS

        for kind in VIOLATIONS:
            v = t["surprise"][kind]
            ref = v.get("pixel_copy")
            for prefix, label in (("", "mean"), ("peak_", "peak")):
                if f"{prefix}pair_accuracy" not in v:
                    continue  # results written before peak scores existed
                pixels = (f"; pixel copy {_f(ref[prefix + 'pair_accuracy'], 2)} / "
                          f"{_f(ref[prefix + 'quadruplet_accuracy'], 2)}" if ref else "")
                rows.append(("surprise", f"{kind}: pair / quadruplet accuracy ({label} over time)",
                             f"{_f(v[prefix + 'pair_accuracy'], 2)} / {_f(v[prefix + 'quadruplet_accuracy'], 2)}",
                             f"chance 0.50{pixels}"))
    if "labels" in t:
        lab = t["labels"]
        for metric in [k for k in lab["linear"]]:
            ref = f"majority class {_f(lab['majority_class']['accuracy'])}" if metric == "accuracy" else ""
            rows.append(("labels", f"{metric} linear / attentive",
                         f"{_f(lab['linear'][metric])} / {_f(lab['attentive'][metric])}", ref))
    if "navigation" in t:
        n = t["navigation"]
        rows.append(("navigation", f"ATE / RTE, {n['horizon']} steps open loop",
                     f"{_f(n['ate'])} / {_f(n['rte'])}",
                     f"real frames {_f(n['ate_real_frames'])} / {_f(n['rte_real_frames'])}, standing still "
                     f"{_f(n['ate_standing_still'])} / {_f(n['rte_standing_still'])}"))
    if "planning" in t:
        p = t["planning"]
        rows.append(("planning", f"success over {p['episodes']} goals", _f(p["success_rate"], 2),
                     f"final distance {_f(p['final_distance_mean'])}"))
    lines = [f"Evaluation of `{results['checkpoint']}` ({results['kind']} run)", "",
             "| task | score | value | reference |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    secs = results["seconds"]
    lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in secs.items())]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Plots


def depth_figure(frames: np.ndarray, true: np.ndarray, pred: np.ndarray, path: Path) -> Path:
    from ..plots import pyplot, save_figure

    plt = pyplot()
    n = len(frames)
    fig, axes = plt.subplots(3, n, figsize=(1.8 * n, 5.4), squeeze=False)
    lo, hi = float(true.min()), float(true.max())
    for i in range(n):
        axes[0, i].imshow(frames[i, 0])
        axes[1, i].imshow(true[i, 0], vmin=lo, vmax=hi, cmap="magma_r")
        axes[2, i].imshow(pred[i, 0], vmin=lo, vmax=hi, cmap="magma_r")
    for ax, label in zip(axes[:, 0], ("frame", "true depth", "probe")):
        ax.set_ylabel(label, fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, path)


def surprise_figure(results: dict[str, dict], path: Path) -> Path:
    from ..plots import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 2.9), squeeze=False)
    for ax, (kind, r) in zip(axes[0], results.items()):
        for name, colour in (("possible", "tab:blue"), ("impossible", "tab:red")):
            ax.plot(r["curve_offsets"], r["curve"][name], marker="o", color=colour, label=name)
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_title(f"{kind}: pair {r['pair_accuracy']:.0%}, quad {r['quadruplet_accuracy']:.0%}", fontsize=9)
        ax.set_xlabel("frames after the event")
    axes[0, 0].set_ylabel("surprise (L1 of the prediction)")
    axes[0, 0].legend(fontsize=8)
    return save_figure(fig, path)


def navigation_figure(result: dict[str, Any], path: Path) -> Path:
    from ..plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    steps = np.arange(1, result["horizon"] + 1)
    ax.plot(steps, result["ate_by_step"], marker="o", label="open-loop prediction")
    ax.axhline(result["ate_real_frames"], color="tab:green", ls="--", label="read-out of real frames")
    ax.set_xlabel(f"model step ({result['frameskip']} actions each)")
    ax.set_ylabel("position error (arena widths)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
