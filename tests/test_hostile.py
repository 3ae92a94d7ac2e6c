"""Hostile input: random configs and masks (hypothesis), a folder of bad media through `pretrain` and
`embed`, and wrong shapes and dtypes at the public entry points. Each must give a clear error or a
counted skip: never a bare traceback, never a hang, never lost output."""

import dataclasses
import math
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from worldjepa import config
from worldjepa.config import ConfigError, MaskConfig, PretrainConfig
from worldjepa.data.video import write_video
from worldjepa.embed import embed
from worldjepa.nn.encoder import Encoder
from worldjepa.pretrain import pretrain
from worldjepa.ssl.masks import MultiBlockMask
from worldjepa.worlds.balls import BallWorld

# ------------------------------------------------------------------ configs

KEYS = [f"{f.name}.{g.name}" for f in dataclasses.fields(PretrainConfig)
        for g in dataclasses.fields(f.type if isinstance(f.type, type) else getattr(config, f.type))]
VALUES = st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                   st.text(max_size=12), st.lists(st.floats(-2, 2), max_size=3), st.none())


def _loads_or_config_error(overrides):
    try:
        cfg = config.load("tiny-cpu", overrides)
    except ConfigError as err:
        assert str(err).strip(), "a ConfigError without a message"
        return None
    return cfg


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(st.text(max_size=30), max_size=3))
def test_any_override_text_loads_or_says_why(overrides):
    _loads_or_config_error(overrides)


@settings(max_examples=examples(300), deadline=None)
@given(key=st.sampled_from(KEYS), value=VALUES)
def test_any_value_for_a_real_key_loads_or_says_why(key, value):
    cfg = _loads_or_config_error([f"{key}={json.dumps(value)}"])
    if cfg is not None:  # accepted: the value is usable as the field's type
        section, name = key.split(".")
        got = getattr(getattr(cfg, section), name)
        assert got is None or isinstance(got, (int, float, str, bool, list, tuple, dict)) or \
            dataclasses.is_dataclass(got[0] if isinstance(got, list) and got else got)


SIZE_KEYS = ["data.image_size", "data.frames", "data.batch_size", "model.patch_size", "model.tubelet_size",
             "model.depth", "model.width", "model.heads", "model.predictor_depth", "model.predictor_width",
             "model.predictor_heads", "objective.min_context", "model.levels"]


@settings(max_examples=examples(60), deadline=None)
@given(key=st.sampled_from(SIZE_KEYS), value=st.integers(-2, 40))
def test_an_accepted_size_builds_and_trains_a_step(key, value):
    """What the parser accepts must also build and run: no error deferred to a cryptic traceback."""
    from conftest import SMALL

    from worldjepa.pretrain import build_objective, build_source

    try:
        cfg = config.load("tiny-cpu", [*SMALL, f"{key}={value}"])
    except ConfigError as err:
        assert str(err).strip()
        return
    objective = build_objective(cfg)
    try:
        losses = objective.loss(build_source(cfg).batch(0), 0)
    except ValueError as err:  # only the one input-dependent refusal: masks that leave too little context
        assert "visible tokens" in str(err) or "nothing to mask" in str(err), err
        return
    assert torch.isfinite(losses.total)


@settings(max_examples=examples(60), deadline=None)
@given(st.text(max_size=200))
def test_any_yaml_file_loads_or_says_why(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_text(text)
    try:
        config.load(path)
    except ConfigError as err:
        assert str(err).strip()


pair = st.tuples(st.floats(allow_nan=True, allow_infinity=True, width=32),
                 st.floats(allow_nan=True, allow_infinity=True, width=32))


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks=st.integers(-2, 12), spatial=pair, temporal=pair, aspect=pair, causal=st.booleans(),
       grid=st.tuples(st.integers(1, 4), st.integers(1, 8), st.integers(1, 8)), seed=st.integers(0, 2**31))
def test_any_mask_config_is_refused_or_samples_valid_masks(blocks, spatial, temporal, aspect, causal, grid, seed):
    mask = {"num_blocks": blocks, "spatial_scale": list(spatial), "temporal_scale": list(temporal),
            "aspect_ratio": list(aspect), "causal": causal}
    cfg = _loads_or_config_error([f"objective.masks={json.dumps([mask])}"])
    if cfg is None:
        return
    m = cfg.objective.masks[0]
    assert isinstance(m, MaskConfig) and m.num_blocks >= 1 and 0 < m.spatial_scale[0] <= m.spatial_scale[1] <= 1
    try:
        sampler = MultiBlockMask(grid, m, min_context=1)
        masks = sampler.sample(3, torch.Generator().manual_seed(seed))
    except ValueError as err:  # a grid too small for this mask: said in words
        assert "visible tokens" in str(err) or "nothing to mask" in str(err)
        return
    n = grid[0] * grid[1] * grid[2]
    for b in range(3):
        ctx, tgt = set(masks.context[b].tolist()), set(masks.targets[b, 0].tolist())
        assert ctx and tgt and not ctx & tgt and max(ctx | tgt) < n


# ------------------------------------------------------------------ bad media

BAD = {"zero.mp4", "zero.png", "truncated.mp4", "truncated.png", "video_named.png", "huge.png"}
GOOD = {"good.mp4", "good.png", "one_frame.mp4", "gray.png", "deep16.png", "big.jpg", "image_named.mp4"}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bad_media_folder(root):
    """Two good files and each kind of bad one the issue names (docs/reliability.md)."""
    root.mkdir(parents=True, exist_ok=True)
    frames = BallWorld(image_size=48).generate(1, 8, seed=0).frames[0]
    write_video(root / "good.mp4", frames)
    Image.fromarray(frames[0]).save(root / "good.png")
    video, png = (root / "good.mp4").read_bytes(), (root / "good.png").read_bytes()
    (root / "zero.mp4").write_bytes(b"")
    (root / "zero.png").write_bytes(b"")
    (root / "truncated.mp4").write_bytes(video[: len(video) // 3])
    (root / "truncated.png").write_bytes(png[: len(png) // 2])
    (root / "video_named.png").write_bytes(video)  # wrong extension: skipped
    (root / "image_named.mp4").write_bytes(png)  # wrong extension: FFmpeg reads it by content, a one-frame clip
    write_video(root / "one_frame.mp4", frames[:1])
    Image.fromarray(frames[0]).convert("L").save(root / "gray.png")
    Image.fromarray((np.arange(40 * 40).reshape(40, 40) * 40).astype(np.uint16)).save(root / "deep16.png")
    header = struct.pack(">IIBBBBB", 40_000, 40_000, 1, 0, 0, 0, 0)  # 1.6 gigapixels declared in 74 bytes
    (root / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                                    + _png_chunk(b"IDAT", zlib.compress(b"\0" * 100)) + _png_chunk(b"IEND", b""))
    Image.fromarray(np.zeros((3000, 4000, 3), np.uint8)).save(root / "big.jpg")  # 12 MP: large but allowed
    return root


def test_bad_media_folder_through_embed_and_pretrain(tmp_path, small_overrides):
    data = bad_media_folder(tmp_path / "media")
    assert {p.name for p in data.iterdir()} == BAD | GOOD
    pre = config.load("tiny-cpu", small_overrides + ["train.steps=2", "data.image_fraction=0.5"])  # stills too
    pretrain(pre, tmp_path / "model", progress=False)

    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        summary = embed(data, tmp_path / "model", tmp_path / "features.safetensors", progress=False)
    assert summary["files"] == len(GOOD) and summary["skipped"] == len(BAD)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "features.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["worldjepa"])
        assert sorted(meta["skipped"]) == sorted(BAD) and all(torch.isfinite(f.get_tensor(k)).all() for k in f.keys())

    cfg = config.load("tiny-cpu", small_overrides + ["data.source=folder", f"data.path={data}", "train.steps=12",
                                                     "data.batch_size=6", "data.image_fraction=0.5"])
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        result = pretrain(cfg, tmp_path / "run", progress=False)
    assert result["steps"] == 12 and np.isfinite(result["final"]["loss"])
    assert result["skipped_files"] == len(BAD)  # every bad file met, each counted once


# ------------------------------------------------------------------ wrong shapes and dtypes

def _entry_points():
    from worldjepa.data.episodes import write_episode
    from worldjepa.eval.probes import fit_ridge
    from worldjepa.nn.predictor import MaskedPredictor

    enc = Encoder("tiny-cpu", patch_size=8, tubelet_size=2)
    pred = MaskedPredictor(enc.dim, levels=4, width=32, depth=1, heads=2)
    z = torch.zeros(2, 5, 4 * enc.dim)
    pos = torch.zeros(2, 5, 3)
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    return {
        "encoder: 4 channels": (lambda: enc(torch.zeros(2, 4, 32, 32)), r"expected 3 channels, got 4"),
        "encoder: size not a multiple of the patch": (lambda: enc(torch.zeros(2, 3, 30, 32)), r"30x32 is not divisible"),
        "encoder: odd clip length": (lambda: enc(torch.zeros(2, 3, 3, 32, 32)), r"clip length 3 is not divisible"),
        "encoder: rank 3": (lambda: enc(torch.zeros(3, 32, 32)), r"expected an image batch .* got shape \(3, 32, 32\)"),
        "encoder: uint8 pixels": (lambda: enc(torch.zeros(2, 3, 32, 32, dtype=torch.uint8)), r"expected float pixels.*uint8"),
        "predictor: wrong width": (lambda: pred(torch.zeros(2, 5, 7), pos, pos), r"z_ctx has 7 channels"),
        "predictor: positions": (lambda: pred(z, torch.zeros(2, 4, 3), pos), r"pos_ctx \[B, Nc, 3\]"),
        "predictor: mask type": (lambda: pred(z, pos, pos, mask_type=5), r"mask_type 5 out of range"),
        "ridge: rows differ": (lambda: fit_ridge(torch.randn(10, 4), torch.randn(9, 2)), r"same n, got \(10, 4\) and \(9, 2\)"),
        "ridge: NaN": (lambda: fit_ridge(torch.full((10, 4), float("nan")), torch.randn(10)), r"NaN or Inf"),
        "ridge: too few": (lambda: fit_ridge(torch.randn(2, 4), torch.randn(2)), r"at least 3 samples"),
        "world: no frames": (lambda: BallWorld(image_size=32).generate(1, 0, seed=0), r"at least one frame"),
        "world: tiny image": (lambda: BallWorld(image_size=2), r"at least 8 pixels"),
        "episode: float frames": (lambda: write_episode("unused", 0, frames.astype(np.float32), np.zeros((2, 2))),
                                  r"obs must be uint8"),
        "episode: action count": (lambda: write_episode("unused", 0, frames, np.zeros((3, 2))), r"one fewer than"),
    }


@pytest.mark.parametrize("name", list(_entry_points()))
def test_public_entry_points_refuse_wrong_shapes_and_dtypes(name):
    call, message = _entry_points()[name]
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_loaders_refuse_what_is_not_their_run(tmp_path):
    from worldjepa.pretrain import load_pretrained
    from worldjepa.train.checkpoint import save_checkpoint

    (tmp_path / "image.png").write_bytes(b"\x89PNG not a checkpoint")
    with pytest.raises(ValueError, match="not a readable worldjepa checkpoint"):
        load_pretrained(tmp_path / "image.png")
    save_checkpoint(tmp_path / "wm.safetensors", {"x": torch.zeros(1)}, {"config": {"plan": {}, "model": {}}})
    with pytest.raises(ValueError, match="holds a world-model run.*not a pretrain run.*load_world_model"):
        load_pretrained(tmp_path / "wm.safetensors")


# ------------------------------------------------------------------ every numeric key of both run kinds

def _numeric_keys(cls, prefix=""):
    """(dotted key, arity) of every int / float field and fixed-length tuple of them, in nested sections
    too (arity 0: a plain number)."""
    import types
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, key = hints[f.name], f"{prefix}{f.name}"
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        args = typing.get_args(tp)
        if dataclasses.is_dataclass(tp):
            yield from _numeric_keys(tp, key + ".")
        elif tp in (int, float):
            yield key, 0
        elif typing.get_origin(tp) is tuple and args and all(a in (int, float) for a in args if a is not Ellipsis):
            yield key, 2 if args[-1] is Ellipsis else len(args)


NUMERIC = {"pretrain": sorted(_numeric_keys(PretrainConfig)),
           "world-model": sorted(_numeric_keys(config.WorldModelConfig))}
LOADERS = {"pretrain": lambda o: config.load("tiny-cpu", o), "world-model": lambda o: config.load_world_model("wm-two-rooms", o)}


def test_the_fuzzed_keys_cover_both_run_kinds():
    keys = {k for pairs in NUMERIC.values() for k, _ in pairs}
    assert {"optim.lr", "train.steps", "data.world.gravity", "objective.ema", "plan.temperature", "data.window",
            "model.latent_dim", "plan.disagreement", "objective.rollout_weight"} <= keys
    assert len(NUMERIC["pretrain"]) >= 45 and len(NUMERIC["world-model"]) >= 50


@pytest.mark.parametrize("kind", sorted(NUMERIC))
@pytest.mark.parametrize("bad", [".nan", ".inf", "-.inf"])
def test_no_numeric_key_accepts_nan_or_infinity(kind, bad):
    """`train-wm optim.lr=nan` and the like: refused by the validator, naming the key, for every key."""
    for key, arity in NUMERIC[kind]:
        value = bad if arity == 0 else "[" + ", ".join([bad] * arity) + "]"
        with pytest.raises(ConfigError) as err:
            LOADERS[kind]([f"{key}={value}"])
        assert key in str(err.value), (key, str(err.value))


NUMBERS = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, -1, 0.5, 1.0, 2]))


@settings(max_examples=examples(400), deadline=None)
@given(data=st.data(), kind=st.sampled_from(sorted(NUMERIC)))
def test_any_number_for_any_numeric_key_loads_or_names_the_key(data, kind):
    key, arity = data.draw(st.sampled_from(NUMERIC[kind]), label="key")
    value = data.draw(NUMBERS if arity == 0 else st.lists(NUMBERS, min_size=arity, max_size=arity), label="value")
    try:
        cfg = LOADERS[kind]([f"{key}={json.dumps(value)}"])
    except ConfigError as err:
        assert key in str(err), (key, value, str(err))
        return
    node = cfg
    for part in key.split("."):
        node = getattr(node, part)
    values = list(node) if arity else [node]
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
    config.check_section(cfg)  # what was accepted stays valid


WM_SIZE_KEYS = ["image_size", "data.window", "data.frameskip", "model.depth", "model.width", "model.heads",
                "model.patch_size", "model.token_dim", "model.projector_hidden", "model.latent_dim",
                "model.predictor_depth", "model.predictor_width", "model.predictor_heads", "objective.rollout_steps",
                "objective.sigreg_slices"]


@settings(max_examples=examples(50), deadline=None)
@given(key=st.sampled_from(WM_SIZE_KEYS), value=st.integers(-2, 40))
def test_an_accepted_world_model_size_builds_and_trains_a_step(key, value):
    """What the world-model config accepts also builds and computes a finite loss."""
    from conftest import SMALL_WM

    from worldjepa.data.batches import Batch
    from worldjepa.data.episodes import StoreMeta
    from worldjepa.dynamics.model import build_objective as build_world_model

    try:
        cfg = config.load_world_model("wm-two-rooms", [*SMALL_WM, "image_size=16", f"{key}={value}"])  # 16²: fast
    except ConfigError as err:
        assert str(err).strip()
        return
    S, T, A = cfg.image_size, cfg.data.window, 2 * cfg.data.frameskip
    meta = StoreMeta(world="two-rooms", image_size=S, action_dim=2, action_low=[-1, -1], action_high=[1, 1])
    objective = build_world_model(cfg, meta)
    batch = Batch(video=torch.randn(3, T, 3, S, S), actions=torch.randn(3, T - 1, A), proprio=torch.zeros(3, T, 0))
    assert torch.isfinite(objective.loss(batch, 0).total)
