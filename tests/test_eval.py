"""The evaluation suite: metrics against hand computation, probes against planted maps, surprise against an
exact predictor, the violation clips against their definition, and the command end to end."""

import json

import numpy as np
import pytest
import torch

from worldjepa import config
from worldjepa.eval.anticipation import event_labels
from worldjepa.eval.attentive import fit_attentive
from worldjepa.eval.dense import fit_dense, from_patches, predict_dense, to_patches
from worldjepa.eval.metrics import ate, average_precision, class_mean_recall_at_k, mean_average_precision, rte
from worldjepa.eval.probes import r2_score
from worldjepa.eval.surprise import JEPASurprise, pair_accuracy, sliding_surprise
from worldjepa.eval.voe import OFF_SCREEN, VIOLATIONS, voe_pairs


# -- metrics -------------------------------------------------------------------------------------

def test_recall_at_k_and_map_match_hand_computation():
    scores = np.array([[0.9, 0.1, 0.5],
                       [0.2, 0.8, 0.3],
                       [0.6, 0.4, 0.7],
                       [0.1, 0.3, 0.2]])
    labels = np.array([[1, 0, 0],
                       [0, 0, 1],
                       [1, 0, 1],
                       [0, 1, 0]])
    # top-1 per sample: 0, 1, 2, 1. Class 0: positives {0, 2}; sample 0 has it on top, sample 2 does not → 1/2.
    # Class 1: positive {3}, on top → 1. Class 2: positives {1, 2}; only sample 2 has it on top → 1/2.
    assert class_mean_recall_at_k(scores, labels, k=1) == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert class_mean_recall_at_k(scores, labels, k=3) == pytest.approx(1.0)
    # class 0 ranking by score: s0 (0.9, +), s2 (0.6, +) → AP 1. Class 1: s1 0.8 (−), s2 0.4 (−), s3 0.3 (+) → 1/3.
    # class 2: s2 0.7 (+), s0 0.5 (−), s1 0.3 (+), s3 → (1/1 + 2/3) / 2.
    assert average_precision(scores[:, 1], labels[:, 1]) == pytest.approx(1 / 3)
    assert mean_average_precision(scores, labels) == pytest.approx((1 + 1 / 3 + (1 + 2 / 3) / 2) / 3)


def test_classes_without_positives_are_left_out_and_all_empty_is_an_error():
    scores, labels = np.array([[0.2, 0.9], [0.1, 0.3]]), np.array([[1, 0], [1, 0]])
    assert mean_average_precision(scores, labels) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no class has a positive"):
        mean_average_precision(scores, np.zeros_like(labels))


def test_trajectory_errors():
    true = np.zeros((1, 4, 2))
    true[0, :, 0] = [0, 1, 2, 3]
    shifted = true + np.array([0.0, 0.5])  # a constant offset: ATE 0.5, no relative error
    assert ate(shifted, true) == pytest.approx(0.5)
    assert rte(shifted, true) == pytest.approx(0.0)
    drift = true.copy()
    drift[0, :, 0] = [0, 2, 4, 6]  # twice the speed: each step's displacement is off by 1
    assert rte(drift, true) == pytest.approx(1.0)
    assert ate(drift, true) == pytest.approx(np.sqrt((0 + 1 + 4 + 9) / 4))


# -- probes --------------------------------------------------------------------------------------

def test_attentive_probe_recovers_a_planted_linear_map():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(768, 6, 8, generator=g)
    w = torch.randn(8, 2, generator=g)
    y = x.mean(1) @ w  # a linear function of the tokens (their mean)
    probe = fit_attentive(x[:640], y[:640], "regression", sweep=[(3e-3, 0.01)], epochs=30,
                          width=32, heads=2, depth=1)
    assert r2_score(y[640:], probe.predict(x[640:])) > 0.9


def test_attentive_probe_learns_which_token_matters():
    """A multilabel target that depends on where a token is, not on what the tokens are on average."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1024, 5, 4, generator=g)
    y = (x[:, 3, :2] > 0).float()  # labels read from token 3 only
    probe = fit_attentive(x[:896], y[:896], "multilabel", sweep=[(3e-3, 0.01)], epochs=30,
                          width=32, heads=2, depth=1)
    accuracy = ((probe.predict(x[896:]) > 0).float() == y[896:]).float().mean()
    assert accuracy > 0.9


def test_dense_probe_recovers_a_planted_per_patch_map():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(40, 4, 4, 16, generator=g)
    m = torch.randn(16, 5, generator=g)
    targets = features @ m + 0.01 * torch.randn(40, 4, 4, 5, generator=g)
    probe = fit_dense(features[:30], targets[:30])
    pred = predict_dense(probe, features[30:])
    assert pred.shape == (10, 4, 4, 5)
    assert r2_score(targets[30:].reshape(-1, 5), pred.reshape(-1, 5)) > 0.999


def test_patch_targets_round_trip_pixel_maps():
    maps = np.random.default_rng(0).random((2, 4, 16, 16)).astype(np.float32)
    tokens = to_patches(maps, patch=8, tubelet=2)
    assert tokens.shape == (2, 2, 2, 2, 2 * 8 * 8)
    assert torch.equal(tokens[0, 1, 0, 1].reshape(2, 8, 8), torch.from_numpy(maps[0, 2:4, 0:8, 8:16]))
    assert np.array_equal(from_patches(tokens, 8, 2).numpy(), maps)


# -- anticipation labels -------------------------------------------------------------------------

def test_event_labels_mark_what_happens_within_the_horizon():
    T, K = 10, 3
    walls = np.zeros((1, T, K, 4), bool)
    collisions = np.zeros((1, T, K, K), bool)
    walls[0, 9, 1, 2] = True  # ball 1 hits the top wall at frame 9: after the horizon below
    walls[0, 6, 2, 1] = True  # ball 2 hits the right wall at frame 6: inside
    walls[0, 2, 0, 0] = True  # ball 0 hits the left wall at frame 2: already seen
    collisions[0, 7, 0, 2] = collisions[0, 7, 2, 0] = True  # balls 0 and 2 collide at frame 7: inside
    labels = event_labels(walls, collisions, seen=6, horizon=3)  # frames 6, 7, 8
    expected = np.zeros(K * 4 + 3, bool)
    expected[2 * 4 + 1] = True
    expected[K * 4 + 1] = True  # pairs in order (0,1), (0,2), (1,2)
    assert np.array_equal(labels[0], expected)


# -- surprise ------------------------------------------------------------------------------------

def test_surprise_of_an_exact_predictor_peaks_at_a_planted_discontinuity():
    v = np.array([0.01, 0.02])
    T = 16
    path = np.arange(T)[:, None] * v + 0.1
    jumped = path.copy()
    jumped[9:] += [0.3, -0.2]  # teleports at frame 9

    def exact(windows):  # the world's law: each frame is the last one plus v
        pred = windows[:, -2] + v
        return torch.as_tensor(pred), torch.as_tensor(windows[:, -1])

    s, times = sliding_surprise(np.stack([path, jumped]), window=4, stride=1, predict_target=exact)
    assert np.allclose(s[0], 0.0)
    assert times[np.argmax(s[1])] == 9
    assert np.count_nonzero(s[1] > 1e-9) == 1
    assert pair_accuracy(s[0].max(keepdims=True), s[1].max(keepdims=True)) == 1.0


def test_pixel_copy_reference_is_the_change_from_the_frame_before():
    """The no-learning reference's surprise of a slab is the mean absolute change of its frames from the
    frame before them (hand-computed); on the built-in world it sees a teleport: continuity pairs are
    scored right above chance (48 pairs: 0.5 ± 0.07 by chance), on mean and on peak surprise."""
    from worldjepa.eval.surprise import PixelCopy, voe_scores
    from worldjepa.eval.voe import voe_pairs

    clips = np.random.default_rng(1).integers(0, 256, (3, 7, 4, 4, 3), dtype=np.uint8)
    s, times = sliding_surprise(clips, window=5, stride=2, predict_target=PixelCopy(2))
    x = clips.astype(np.float64) / 255
    for j, start in enumerate((0, 2)):
        last = x[:, start + 3:start + 5]
        expected = np.abs(last - x[:, start + 2:start + 3]).reshape(3, -1).mean(1)
        np.testing.assert_allclose(s[:, j], expected, rtol=1e-6)
    assert times.tolist() == [3, 5]
    world = config.load("tiny-cpu", []).data.world
    pairs = voe_pairs("continuity", world, 32, 48, frames=16, seed=0, events=(8, 12))
    scores = voe_scores(pairs, PixelCopy(2), window=8, stride=2)
    assert scores["pair_accuracy"] >= 0.6 and scores["quadruplet_accuracy"] >= 0.65, scores
    assert scores["peak_pair_accuracy"] >= 0.6 and scores["peak_quadruplet_accuracy"] >= 0.6, scores


@pytest.fixture
def small_objective(small_overrides):
    from worldjepa.pretrain import build_objective

    cfg = config.load("tiny-cpu", small_overrides + ["data.frames=8"])
    return build_objective(cfg).eval(), cfg


def test_jepa_prediction_sees_only_the_context(small_objective):
    objective, cfg = small_objective
    model = JEPASurprise(objective, precision="fp32")
    clips = np.random.default_rng(0).integers(0, 255, (2, 8, 32, 32, 3), dtype=np.uint8)
    changed = clips.copy()
    changed[:, -2:] = 255 - changed[:, -2:]  # a different last tubelet
    p1, t1 = model(clips)
    p2, t2 = model(changed)
    assert torch.allclose(p1, p2, atol=1e-5)  # the prediction does not see the future...
    assert not torch.allclose(t1, t2)  # ...which the target does


@pytest.mark.parametrize("kind", VIOLATIONS)
def test_violation_clips_match_until_the_event_and_break_the_law_after(kind):
    pairs = voe_pairs(kind, config.WorldConfig(), 32, 6, frames=16, seed=0, events=(8, 12))
    for p, q, t in zip(pairs.possible, pairs.impossible, pairs.event):
        assert np.array_equal(p[:t - 1], q[:t - 1])
        assert not np.array_equal(p, q)
    assert np.all((pairs.event >= 8) & (pairs.event < 12))


def test_permanence_ball_is_gone_for_good():
    from worldjepa.eval import voe

    pairs = voe.voe_pairs("permanence", config.WorldConfig(), 32, 4, seed=1)
    # the possible twin differs from the impossible one after the event only: the ball re-emerging
    for p, q, t in zip(pairs.possible, pairs.impossible, pairs.event):
        assert np.array_equal(p[:t + 1], q[:t + 1])
        assert not np.array_equal(p[t + 1:], q[t + 1:])
    assert OFF_SCREEN < -1


def test_permanence_controls_hold_the_same_content_on_both_sides():
    """IntPhys's quadruplet: frame by frame, possible + control shows exactly what impossible + control shows."""
    q = voe_pairs("permanence", config.WorldConfig(), 32, 4, seed=2)
    for i, t in enumerate(q.event):
        both = lambda a, b: a[i].astype(np.int32) + b[i]  # noqa: E731
        assert np.array_equal(both(q.possible, q.possible_control), both(q.impossible, q.impossible_control))
        assert np.array_equal(q.impossible_control[i, t:], q.possible[i, t:])  # the ball appears at t
        assert not np.array_equal(q.impossible_control[i, :t], q.possible[i, :t])


# -- the registry --------------------------------------------------------------------------------

def test_results_table_has_each_tasks_rows_in_registry_order():
    """results.md from a hand-made results.json: the rows of `depth` come before those of `state` (the
    registry's order, not the order the tasks ran in), numbers rounded to three decimals, and a task the
    registry does not know (an older results.json) is left out."""
    from worldjepa.eval.suite import TASKS, markdown_table
    from worldjepa.eval.tasks import Row

    results = {"checkpoint": "runs/x/checkpoint.safetensors", "kind": "pretrain", "size": {},
               "tasks": {"state": {"position_r2": 0.81234, "velocity_r2": 0.5, "position_r2_pixels": 0.1,
                                   "velocity_r2_pixels": -0.0004},
                         "retired": {"score": 1.0},
                         "depth": {"rmse": 0.12345, "rmse_pixels": 0.2, "rmse_mean_depth": 0.3456}},
               "seconds": {"state": 2.4, "retired": 0.0, "depth": 10.6, "total": 13.0}}
    assert markdown_table(results) == (
        "Evaluation of `runs/x/checkpoint.safetensors` (pretrain run)\n\n"
        "| task | score | value | reference |\n"
        "|---|---|---|---|\n"
        "| depth | RMSE (lower is better) | 0.123 | pixels 0.200, mean depth 0.346 |\n"
        "| state | position R² | 0.812 | pixels 0.100 |\n"
        "| state | velocity R² | 0.500 | pixels -0.000 |\n"
        "\nTime: state 2 s, retired 0 s, depth 11 s, total 13 s\n")
    planning = {"episodes": 20, "success_rate": 0.25, "final_distance_mean": 0.0714}
    assert TASKS["planning"].rows(planning) == [
        Row("planning", "success over 20 goals", "0.25", "final distance 0.071")]


def test_registry_lists_every_task_once_under_its_own_name():
    from worldjepa.eval.suite import TASKS, select_tasks

    assert list(TASKS) == ["depth", "state", "anticipation", "surprise", "labels", "navigation", "planning"]
    assert all(task.name == name for name, task in TASKS.items())
    assert [name for name, task in TASKS.items() if task.kind == "world-model"] == ["navigation", "planning"]
    assert [name for name, task in TASKS.items() if task.needs_labels] == ["labels"]
    runnable = select_tasks("pretrain", "all", labels=True) + select_tasks("world-model", "all")
    assert sorted(runnable) == sorted(TASKS)  # every registered task is reachable from `--suite`


def _results_md_is_the_tasks_rows(out):
    """Each task's `rows` reads back the result its `run` saved in results.json, and results.md's table is
    exactly those rows, in the registry's order."""
    from worldjepa.eval.suite import TASKS

    saved = json.loads((out / "results.json").read_text())
    expected = []
    for name, task in TASKS.items():
        if name in saved["tasks"]:
            rows = task.rows(saved["tasks"][name])
            assert rows and {r.task for r in rows} == {name}
            expected += [f"| {r.task} | {r.score} | {r.value} | {r.reference} |" for r in rows]
    table = (out / "results.md").read_text().splitlines()
    assert table[table.index("|---|---|---|---|") + 1:][:len(expected) + 1] == expected + [""]


# -- the command ---------------------------------------------------------------------------------

def test_eval_command_on_a_pretraining_run(tmp_path, small_overrides):
    from worldjepa.cli import main
    from worldjepa.pretrain import pretrain

    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=2", "data.frames=8"])
    pretrain(cfg, tmp_path / "run", progress=False)
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--small", "--quiet"]) == 0
    out = tmp_path / "run" / "eval"
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]) == {"depth", "state", "anticipation", "surprise"}
    for name in ("results.md", "depth.png", "surprise.png"):
        assert (out / name).stat().st_size > 0
    continuity = results["tasks"]["surprise"]["continuity"]
    assert continuity["pairs"] == 8  # SMALL.voe_pairs, each pair judged right (1), wrong (0) or tied (½)
    for key in ("pair_accuracy", "peak_pair_accuracy", "quadruplet_accuracy"):
        assert (2 * 8 * continuity[key]) == round(2 * 8 * continuity[key]), (key, continuity[key])
    assert (out / "features" / "depth-train.safetensors").exists()  # cached for the next probe
    _results_md_is_the_tasks_rows(out)


def test_eval_command_errors(tmp_path, capsys, small_overrides):
    from worldjepa.cli import main
    from worldjepa.pretrain import pretrain

    assert main(["eval", "--checkpoint", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=1", "data.frames=8"])
    pretrain(cfg, tmp_path / "run", progress=False)
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--suite", "planning"]) == 2
    assert "needs a world-model run" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--suite", "dept"]) == 2
    assert "unknown suite 'dept'" in capsys.readouterr().err


def _labelled_folder(root, n=40):
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = ["clip,label,split"]
    for i in range(n):
        label = "red" if i % 2 else "blue"
        colour = np.array([200, 40, 40] if label == "red" else [40, 40, 200])
        img = np.clip(colour + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i}.png")
        rows.append(f"{i}.png,{label},{'train' if i < 30 else 'test'}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_eval_on_a_users_labelled_clips(tmp_path, small_overrides):
    from worldjepa.eval.suite import SMALL, evaluate
    from worldjepa.pretrain import pretrain

    # the labelled files are images: the run must have trained its image tokenizer (stills in its batches)
    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=1", "data.frames=8", "data.image_fraction=0.5"])
    pretrain(cfg, tmp_path / "run", progress=False)
    (tmp_path / "mine").mkdir()
    labels = _labelled_folder(tmp_path / "mine")
    results = evaluate(tmp_path / "run", tmp_path / "ev", size=SMALL, progress=False, labels=labels)
    assert list(results["tasks"]) == ["labels"]
    lab = results["tasks"]["labels"]
    assert lab["clips"] == {"train": 30, "test": 10} and lab["classes"] == ["blue", "red"]
    assert lab["linear"]["accuracy"] == 1.0  # colour is linearly readable even from a barely trained encoder
    assert lab["majority_class"]["accuracy"] == 0.5
    _results_md_is_the_tasks_rows(tmp_path / "ev")


def test_label_file_errors_name_the_problem(tmp_path):
    from worldjepa.eval.labels import read_labels

    (tmp_path / "mine").mkdir()
    labels = _labelled_folder(tmp_path / "mine", n=4)
    (tmp_path / "mine" / "2.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"line 4: the clip '2.png' does not exist"):
        read_labels(labels)
    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\na.png,x\n")
    with pytest.raises(ValueError, match="header must name the columns clip,label"):
        read_labels(bad)
    with pytest.raises(FileNotFoundError, match="label file"):
        read_labels(tmp_path / "nothing.csv")


def _external_references(page: str) -> list[str]:
    import re

    refs = re.findall(r"""(?:src|href|poster)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    refs += re.findall(r"url\(([^)]*)\)", page, flags=re.I)
    return [r for r in refs if not r.startswith("data:") and not r.startswith("#")]


def test_report_of_a_pretraining_run_is_self_contained(tmp_path, small_overrides):
    from worldjepa.cli import main
    from worldjepa.pretrain import pretrain

    cfg = config.load("tiny-cpu", small_overrides + ["train.steps=2", "data.frames=8"])
    pretrain(cfg, tmp_path / "run", progress=False)
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--small", "--quiet", "--suite", "state,surprise"]) == 0
    assert main(["report", str(tmp_path / "run")]) == 0
    page = (tmp_path / "run" / "report.html").read_text()
    assert _external_references(page) == []
    assert "<script" not in page.lower() and "<link" not in page.lower()
    assert page.count('src="data:image/png;base64,') >= 3  # curves, PCA, surprise
    assert "position R²" in page and "continuity" in page


def test_report_of_a_world_model_run_embeds_its_planned_episodes(tmp_path):
    from worldjepa.cli import main
    from conftest import SMALL_WM

    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["collect", "--world", "two-rooms", "--episodes", "4", "--steps", "12", "--out", str(data),
                 "--image-size", "32"]) == 0
    assert main(["train-wm", "--data", str(data), "--out", str(run), "--quiet", *SMALL_WM, "train.steps=3",
                 "data.batch_size=4"]) == 0
    assert main(["eval", "--checkpoint", str(run), "--small", "--quiet"]) == 0
    results = json.loads((run / "eval" / "results.json").read_text())
    nav = results["tasks"]["navigation"]
    assert len(nav["ate_by_step"]) == nav["horizon"] and nav["ate_standing_still"] > 0
    # ATE is the RMS of the position error over every step: the root of the mean of the per-step mean squares
    assert nav["ate"] == pytest.approx(float(np.sqrt(np.mean(np.square(nav["ate_by_step"])))), rel=1e-9)
    assert results["tasks"]["planning"]["episodes"] == 2
    for name in ("navigation.png", "planning/planning.png"):
        assert (run / "eval" / name).stat().st_size > 0
    _results_md_is_the_tasks_rows(run / "eval")
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert _external_references(page) == []
    assert page.count('src="data:video/mp4;base64,') == 1  # eval/planning's episodes


def test_task_selection():
    from worldjepa.eval.suite import select_tasks

    assert select_tasks("pretrain", None) == ["depth", "state", "anticipation", "surprise"]
    assert select_tasks("pretrain", None, labels=True) == ["labels"]
    assert select_tasks("pretrain", "all", labels=True)[-1] == "labels"
    assert select_tasks("world-model", None) == ["navigation", "planning"]
    for args, message in ((("pretrain", ","), "names no task"), (("pretrain", "labels"), "needs a label file"),
                          (("world-model", None, True), "probes a pretrained encoder"),
                          (("world-model", "depth"), "needs a pretraining run")):
        with pytest.raises(ValueError, match=message):
            select_tasks(*args)
