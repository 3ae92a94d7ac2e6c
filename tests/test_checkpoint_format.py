"""Checkpoints say which kind of run wrote them and in which format version; older ones still load,
newer ones are refused with what to do, and each loader refuses the other kind by name."""

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from worldjepa import config
from worldjepa.pretrain import load_pretrained, pretrain
from worldjepa.train.checkpoint import FORMAT_VERSION, checkpoint_path, read_checkpoint_meta, run_kind


def _rewrite_meta(path, change):
    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        meta = json.loads(f.metadata()["worldjepa"])
    change(meta)
    save_file(tensors, str(path), metadata={"worldjepa": json.dumps(meta)})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    from conftest import SMALL

    run = tmp_path_factory.mktemp("ckpt") / "run"
    pretrain(config.load("tiny-cpu", SMALL + ["train.steps=1"]), run, progress=False)
    return run


def test_every_checkpoint_records_its_kind_and_format(pretrained):
    meta = read_checkpoint_meta(checkpoint_path(pretrained))
    assert meta["kind"] == "pretrain" and meta["format"] == FORMAT_VERSION == 2
    assert checkpoint_path(pretrained) == pretrained / "checkpoint.safetensors"
    assert checkpoint_path(pretrained / "checkpoint.safetensors") == pretrained / "checkpoint.safetensors"
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nothing"):
        checkpoint_path(pretrained / "nothing")


def test_a_format_1_checkpoint_still_loads_with_its_kind_told_by_its_config(pretrained, tmp_path):
    old = tmp_path / "old.safetensors"
    old.write_bytes((pretrained / "checkpoint.safetensors").read_bytes())
    _rewrite_meta(old, lambda m: (m.pop("kind"), m.pop("format")))
    meta = read_checkpoint_meta(old)
    assert "kind" not in meta and run_kind(meta) == "pretrain"
    encoder, _ = load_pretrained(old)
    fresh, _ = load_pretrained(pretrained)
    assert all(torch.equal(a, b) for a, b in zip(encoder.state_dict().values(), fresh.state_dict().values()))
    assert run_kind({"config": {"store": {}, "model": {}}}) == "world-model"  # format 1: a store means a world model


def test_a_newer_format_is_refused_with_what_to_do(pretrained, tmp_path):
    new = tmp_path / "new.safetensors"
    new.write_bytes((pretrained / "checkpoint.safetensors").read_bytes())
    _rewrite_meta(new, lambda m: m.update(format=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match=r"format 3, newer than this worldjepa reads \(up to 2\): upgrade worldjepa"):
        load_pretrained(new)


def test_each_loader_refuses_the_other_kind(pretrained):
    from worldjepa.dynamics.model import load_world_model

    with pytest.raises(ValueError, match="holds a pretrain run.*not a world-model run.*load_pretrained"):
        load_world_model(pretrained)
