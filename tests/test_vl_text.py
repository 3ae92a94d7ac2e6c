"""VL-JEPA's data and metrics: texts from planted ground truth, held-out templates, CIDEr-D against the COCO
caption evaluation, recall at k."""

import re

import numpy as np
import pytest

from worldjepa.config import WorldConfig
from worldjepa.vl.captions import CAPTIONS, QUESTIONS, captions, clip_facts, events, questions, two_rooms_texts
from worldjepa.vl.metrics import cider_d, recall_at
from worldjepa.worlds.balls import BallWorld, Clips


def planted(T: int = 8) -> Clips:
    """Two balls, one clip: the green ball bounces off the top wall at frame 2, the balls collide at frame 5 and
    the red ball crosses behind a bar at x ∈ [0.4, 0.56] (wholly hidden at frames 3–4); the blue-less world."""
    K = 2
    pos = np.zeros((1, T, K, 2), np.float32)
    pos[0, :, 0, 0] = [0.20, 0.28, 0.36, 0.46, 0.50, 0.62, 0.70, 0.75][:T]  # the red ball, radius 0.05
    pos[0, :, 1, 0] = 0.85
    walls = np.zeros((1, T, K, 4), bool)
    walls[0, 2, 1, 2] = True  # green, top
    collisions = np.zeros((1, T, K, K), bool)
    collisions[0, 5, 0, 1] = collisions[0, 5, 1, 0] = True
    return Clips(frames=np.zeros((1, T, 8, 8, 3), np.uint8), positions=pos, velocities=np.zeros_like(pos),
                 radii=np.array([[0.05, 0.05]], np.float32), layers=np.array([[1.0, 1.4]], np.float32), walls=walls,
                 collisions=collisions, occluder=np.array([0.4], np.float32), depth=None)


def test_events_and_captions_of_planted_ground_truth():
    clips = planted()
    found = [(e.t, e.kind, e.balls, e.wall) for e in events(clips, 0, 0, 8)]
    assert found == [(2, "wall", (1,), "top"), (3, "occlusion", (0,), ""), (5, "collision", (0, 1), "")]
    facts = clip_facts(clips, 0, frames=8)
    assert facts.direction == {0: "right"} and facts.nearest == 0 and facts.occluder and facts.hidden_at_end == []
    texts = {t.kind: t.answer for t in captions(facts, clip=0, template=0)}
    assert texts == {"wall": "the green ball bounces off the top wall",
                     "occlusion": "the red ball goes behind the bar and comes out again",
                     "collision": "the red and green balls collide", "count": "there are two balls",
                     "direction": "the red ball moves to the right", "nearest": "the red ball is the nearest"}
    asked = {t.kind: t for t in questions(facts, 0, 1, np.random.default_rng(0))}
    assert asked["count"].answer == "two" and asked["which_wall"].answer == "the green ball"
    assert asked["which_wall"].query == "which ball hits the top wall first?"
    times = {e.phrase(0): e.t for e in facts.events}
    assert asked["order"].answer == min(asked["order"].choices, key=times.get)
    assert "next" not in asked  # nothing happens after the clip's end
    # cut at frame 5: the red ball is behind the bar at the end (not yet out: no occlusion event), the collision next
    facts = clip_facts(clips, 0, frames=5)
    assert [e.kind for e in facts.events] == ["wall"] and facts.hidden_at_end == [0]
    asked = {t.kind: t for t in questions(facts, 0, 0, np.random.default_rng(0))}
    assert asked["hidden"].answer == "behind the bar" and asked["hidden"].query == "where is the red ball at the end?"
    assert asked["next"].answer == "the red and green balls collide" and "order" not in asked
    # cut at frame 3: the red ball is still in view, and its passage behind the bar is what happens next
    asked = {t.kind: t for t in questions(clip_facts(clips, 0, frames=3), 0, 0, np.random.default_rng(0))}
    assert asked["hidden"].answer == "in view"
    assert asked["next"].answer == "the red ball goes behind the bar and comes out again"
    assert len(asked["next"].choices) == 4


def test_generated_texts_are_consistent_and_hold_out_the_last_template():
    world = BallWorld(WorldConfig(num_balls=4, occluder=0.5), image_size=16)
    clips = world.generate(24, 30, seed=3)
    rng = np.random.default_rng(0)
    exists = []
    for b in range(24):
        facts = clip_facts(clips, b, frames=20)
        for template in range(4):
            for text in questions(facts, b, template, rng):
                assert text.answer in text.choices and len(set(text.choices)) == len(text.choices)
                assert text.held_out == (template == len(QUESTIONS[text.kind]) - 1)
                exists += [text.answer] if text.kind == "exists" else []
            for text in captions(facts, b, template):
                assert text.held_out == (template == len(CAPTIONS[text.kind]) - 1) and " a o" not in text.answer
    assert 0.3 < exists.count("yes") / len(exists) < 0.7  # existence questions ask about absent colours too


def test_two_rooms_texts_follow_the_agent():
    path = np.stack([np.linspace(0.2, 0.8, 10), np.full(10, 0.5)], -1)
    caption, question = two_rooms_texts(path, clip=7, template=0)
    assert caption.answer == "the agent passes through the door into the right room" and caption.clip == 7
    assert question.answer == "the right room" and question.answer in question.choices
    caption, question = two_rooms_texts(path[::-1][:4], clip=0, template=2)
    assert caption.answer == "the agent moves about the right room" and question.answer == "the right room"


def test_cider_d_equals_the_coco_caption_evaluation():
    # per-item scores of the COCO caption evaluation's CiderScorer (tylin/coco-caption, pycocoevalcap/cider,
    # n = 4, sigma = 6), computed once on these five items
    cases = {
        0: ("the red ball bounces off the left wall", ["the red ball bounces off the left wall",
                                                      "the red ball hits the left wall"]),
        1: ("the blue ball hits the top wall", ["the green ball hits the top wall",
                                                "a green ball rebounds from the top wall"]),
        2: ("there are three balls", ["there are two balls", "two balls are in the box"]),
        3: ("the red and green balls collide collide", ["the red and green balls collide",
                                                        "the red ball bumps into the green ball"]),
        4: ("balls", ["the agent stays in the left room", "the agent never leaves the left room"]),
    }
    coco = [6.682358108412592, 4.300803570917862, 1.7402333598736286, 4.4216086153892915, 0.0]
    mean, scores = cider_d({k: c for k, (c, _) in cases.items()}, {k: r for k, (_, r) in cases.items()})
    assert [scores[k] for k in cases] == pytest.approx(coco, rel=1e-12)
    assert mean == pytest.approx(3.4290007309186747, rel=1e-12)
    with pytest.raises(ValueError, match="same items"):
        cider_d({0: "a"}, {1: ["a"]})


def test_recall_at_k_counts_ties_against_the_answer_and_any_right_answer_as_a_hit():
    sim = np.array([[0.9, 0.1, 0.2], [0.5, 0.5, 0.1], [0.3, 0.2, 0.1]])
    assert recall_at(sim, np.array([0, 1, 2]), ks=(1, 2)) == {"R@1": 1 / 3, "R@2": 2 / 3}
    both = np.array([[True, False, False], [True, True, False], [False, False, True]])  # query 1: two right clips
    assert recall_at(sim, both, ks=(1, 2)) == {"R@1": 2 / 3, "R@2": 2 / 3}
    # chance: every ranking of 6 clips equally likely, counted one by one
    from itertools import permutations

    from worldjepa.vl.metrics import recall_chance

    right = np.array([[True, True, False, False, False, False], [False, False, False, False, False, True]])
    for k in (1, 2, 5):
        hits = [[any(r[c] for c in order[:k]) for order in permutations(range(6))] for r in right]
        assert recall_chance(right, ks=(k,))[f"R@{k}"] == pytest.approx(np.mean([np.mean(h) for h in hits]))
    assert recall_chance(np.eye(400, dtype=bool))["R@1"] == pytest.approx(1 / 400)
    assert recall_chance(np.eye(3, dtype=bool)) == {"R@1": pytest.approx(1 / 3), "R@5": 1.0}  # fewer clips than k


def test_selective_decoding_finds_the_planted_segments_and_needs_fewer_decodes():
    from worldjepa.vl.selective import (change_segments, fewer_decodes, scene_changes, selective_curves,
                                        uniform_segments, ward_segments)

    rng = np.random.default_rng(0)
    # a stream of 30 windows in three planted segments (10, 5, 15 windows), each its own direction plus noise
    truth = np.repeat([0, 1, 2], [10, 5, 15])
    means = rng.normal(size=(3, 16))
    stream = means[truth] + 0.05 * rng.normal(size=(30, 16))
    labels, decodes = ward_segments(stream, 3)
    assert labels.tolist() == truth.tolist() and decodes == [4, 12, 22]
    labels, decodes = change_segments(stream, threshold=0.5)
    assert decodes == [0, 10, 15] and labels.tolist() == truth.tolist()
    assert uniform_segments(7, 3)[1] == [1, 4, 6] and uniform_segments(7, 3)[0].tolist() == [0, 0, 0, 1, 1, 1, 2]
    # captions: each segment has its own sentence; decoding a window returns the sentence of its true segment
    sentences = ["the red ball hits the left wall", "the green and blue balls collide", "there are three balls"]
    references = [[[sentences[k]] for k in truth]]
    rows = selective_curves([stream], references, lambda s, windows: [sentences[truth[w]] for w in windows],
                            window_rate=3.0, everies=(1, 3), segment_shares=(0.1,), thresholds=(0.5,),
                            fact=lambda text: text.split(" ")[1])  # red / green / are
    by = {(r["policy"], r["setting"]): r for r in rows}
    assert by[("uniform", 1)]["decodes_per_s"] == 3.0 and by[("ward", 0.1)]["decodes_per_s"] == 0.3
    assert by[("ward", 0.1)]["cider"] == pytest.approx(by[("uniform", 1)]["cider"])  # as good with 10× fewer
    assert by[("uniform", 3)]["cider"] < by[("uniform", 1)]["cider"]  # uniform decoding misses the short segment
    assert fewer_decodes(rows, "ward", rate=3.0) == pytest.approx(10.0)
    # the share of windows stating their segment's fact: every window when each is decoded or each segment is;
    # blocks of 3 windows decoded at their middle misstate window 9 only (its block 9–11 is read at window 10)
    assert by[("uniform", 1)]["fact_right"] == 1.0 == by[("ward", 0.1)]["fact_right"]
    assert by[("uniform", 3)]["fact_right"] == pytest.approx(29 / 30)
    assert fewer_decodes(rows, "ward", rate=3.0, quality="fact_right") == pytest.approx(10.0)
    # the planted stream jumps where its scene changes; a stream that stays in one place (noise only) does not
    marks = scene_changes([stream], [truth])
    assert marks["step_across_change"] > 10 * marks["step_within_scene"] and marks["ward_finds_changes"] == 1.0
    ten = np.repeat(np.arange(10), 30)  # ten scenes of 30 windows, 9 changes
    still = scene_changes([means[0] + 0.05 * rng.normal(size=(300, 16))], [ten])
    assert still["step_across_change"] < 2 * still["step_within_scene"]
    from worldjepa.vl.evaluate import ball_count

    assert ball_count("the red ball bounces off the top wall, there are three balls, the red ball is the nearest") \
        == "three" and ball_count("the red ball bounces off the top wall") is None


def test_ward_segments_never_merge_windows_that_are_not_next_to_each_other():
    from sklearn.cluster import AgglomerativeClustering

    from worldjepa.vl.selective import ward_segments

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 8))
    # scenes A, B, A: Ward without the time constraint puts both A runs in one cluster; with it, each is its own
    stream = np.concatenate([np.tile(a, (6, 1)), np.tile(b, (4, 1)), np.tile(a, (6, 1))])
    stream = stream + 0.01 * rng.normal(size=stream.shape)
    free = AgglomerativeClustering(n_clusters=2, linkage="ward").fit_predict(stream)
    assert free[0] == free[15] != free[7]  # what the constraint has to prevent
    assert ward_segments(stream, 3)[0].tolist() == [0] * 6 + [1] * 4 + [2] * 6
    assert ward_segments(stream, 2)[0].tolist() in ([0] * 6 + [1] * 10, [0] * 10 + [1] * 6)
    for _ in range(30):  # any stream, any number of segments: contiguous runs in time order, each decoded inside
        T = int(rng.integers(5, 40))
        k = int(rng.integers(1, T + 1))
        labels, decodes = ward_segments(rng.normal(size=(T, 4)) * rng.integers(1, 4, size=(T, 1)), k)
        assert labels[0] == 0 and set(np.diff(labels).tolist()) <= {0, 1} and labels[-1] == k - 1
        assert [labels[d] for d in decodes] == list(range(k))


def test_long_clips_are_scenes_cut_together_and_each_window_is_described_from_its_middle_scene():
    from worldjepa.vl.data import ball_streams, scene_window, window_starts

    frames, stride, length = 8, 4, 60
    videos, refs, cuts = ball_streams(2, length, frames, stride, 32, seed=3, scene_frames=(12, 20))
    changes = 0
    assert videos.shape[:2] == (2, length) and len(refs[0]) == len(window_starts(length, frames, stride))
    for s in range(2):
        edges = [0, *cuts[s], length]
        gaps = np.diff(edges)
        assert all(12 <= g <= 20 for g in gaps[:-1]) and 0 < gaps[-1] <= 20  # the last scene is cut at the end
        for c in cuts[s]:  # a cut is a jump: the frames across it differ far more than frames within a scene
            assert np.abs(videos[s, c].astype(int) - videos[s, c - 1]).mean() > \
                np.abs(videos[s, c - 1].astype(int) - videos[s, c - 2]).mean()
        seen = {}  # scene (of the window's middle frame) → the ball count its windows state
        for w, start in enumerate(window_starts(length, frames, stride)):
            scene = int(np.searchsorted(cuts[s], start + frames // 2, side="right"))
            count = re.search(r"there are (\w+) balls", refs[s][w][0]).group(1)
            assert seen.setdefault(scene, count) == count  # one scene, one count
        changes += sum(a != b for a, b in zip(list(seen.values()), list(seen.values())[1:]))
    assert changes >= 1  # and the count changes at some cut (new scenes draw 1 to 5 balls)
    # a window belongs to the scene of its middle frame and keeps its frames in that scene
    cut = [10, 25]
    assert scene_window(cut, 0, 8) == (0, 0, 8) and scene_window(cut, 4, 8) == (0, 4, 10)
    assert scene_window(cut, 8, 8) == (1, 10, 16) and scene_window(cut, 20, 8) == (1, 20, 25)
    assert scene_window(cut, 24, 8) == (2, 25, 32) and scene_window([], 4, 8) == (0, 4, 12)
    one = ball_streams(1, length, frames, stride, 32, seed=3, scene_frames=(length, length))
    assert one[2] == [[]]  # one continuous scene
    with pytest.raises(ValueError, match="scene_frames"):
        ball_streams(1, length, frames, stride, 32, seed=3, scene_frames=(20, 10))


def test_two_rooms_clips_say_where_the_agent_ends_as_its_pixels_show():
    from worldjepa.vl.data import two_rooms_clips
    from worldjepa.vl.evaluate import swap_one
    from worldjepa.worlds.two_rooms import TwoRooms

    videos, texts = two_rooms_clips(40, 16, 32, seed=1)
    assert videos.shape == (40, 16, 32, 32, 3) and len(texts) == 40 * 4 * 2  # a caption and a question per template
    agent = np.all(np.abs(videos[:, -1].astype(int) - TwoRooms.AGENT) < 40, axis=-1)  # [N, S, S] the agent's pixels
    for clip in range(40):
        x = np.nonzero(agent[clip])[1].mean() / 32  # its centre, read off the last frame
        question = next(t for t in texts if t.clip == clip and t.query and t.template == 0)
        assert question.answer == ("the right room" if x > 0.5 else "the left room")
    kinds = [t.kind for t in texts if not t.query and t.template == 0]
    assert 5 <= kinds.count("door") <= 35  # some clips pass the door, most of the others stay
    assert swap_one("the agent stays in the left room", np.random.default_rng(0)) == "the agent stays in the right room"


def test_fact_f1_takes_a_fact_in_any_templates_words():
    from worldjepa.vl.evaluate import fact_f1

    clip = ["the red ball hits the top wall, there are two balls", "the red ball bounces off the top wall, two balls are "
            "in the box"]  # one clip's description in two templates: two facts
    assert fact_f1("the red ball hits the top wall, there are two balls", clip) == 1.0
    assert fact_f1("the red ball bounces off the top wall, there are two balls", clip) == 1.0  # templates mixed
    assert fact_f1("the red ball hits the top wall", clip) == pytest.approx(2 * 1 * 0.5 / 1.5)  # precision 1, recall ½
    # a wrong clause and a fact said twice in two wordings: precision 2/3, recall ½
    assert fact_f1("the red ball hits the top wall, the red ball bounces off the top wall, there are three balls",
                   clip) == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert fact_f1("there are five balls", clip) == 0.0
    assert fact_f1("a, b", ["a, b", "c"]) == 1.0  # templates that do not line up: the best one
