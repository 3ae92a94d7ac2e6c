import json

import numpy as np
import pytest
from safetensors import safe_open

from worldjepa.cli import main
from worldjepa.worlds.export import export_world


def test_pretrain_embed_roundtrip(tmp_path, small_overrides, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "--config", "tiny-cpu", "--out", str(run), "--quiet", "train.steps=2",
                 "data.image_fraction=0.5", *small_overrides]) == 0  # clips and stills: both tokenizers train
    assert (run / "config.yaml").exists() and (run / "log.jsonl").exists()
    data = tmp_path / "media"
    export_world(data, clips=2, frames=9, seed=0, image_size=32, progress=False)
    (data / "broken.mp4").write_bytes(b"not a video")
    from PIL import Image

    Image.fromarray(np.zeros((48, 40, 3), np.uint8)).save(data / "still.png")
    capsys.readouterr()
    out = tmp_path / "feats.safetensors"
    assert main(["embed", str(data), "--checkpoint", str(run), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr()
    summary = json.loads(printed.out)
    # a skipped file is one clean line on stderr: no file:line prefix, no source line under it
    warned = [line for line in printed.err.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith("worldjepa embed: warning: skipping unreadable file"), printed.err
    assert "broken.mp4" in warned[0] and "warnings.warn" not in printed.err
    assert summary == {"files": 3, "skipped": 1, "out": str(out), "dim": 48}
    with safe_open(str(out), "pt") as f:
        meta = json.loads(f.metadata()["worldjepa"])
        clip = f.get_tensor("clip_00000.mp4")
        still = f.get_tensor("still.png")
    # 9 frames, windows of 4 with stride 4 → starts 0, 4 and the tail window at 5
    assert meta["files"]["clip_00000.mp4"]["window_starts"] == [0, 4, 5]
    assert clip.shape == (3, 48) and still.shape == (1, 48) and meta["skipped"] == ["broken.mp4"]
    assert main(["embed", str(data / "still.png"), "--checkpoint", str(run), "--out", str(tmp_path / "g.st"),
                 "--pool", "none", "--quiet"]) == 0
    with safe_open(str(tmp_path / "g.st"), "pt") as f:
        assert f.get_tensor("still.png").shape == (1, 1, 4, 4, 48)


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["pretrain", "--out", str(tmp_path), "optim.lrr=1"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'optim.lr'" in err and "Traceback" not in err
    assert main(["pretrain", "--out", str(tmp_path), "data.image_size=30"]) == 2
    assert "not divisible" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["pretrain", "--out", str(tmp_path / "r"), "data.source=folder", f"data.path={empty}"]) == 2
    assert "no images or videos found" in capsys.readouterr().err
    assert main(["embed", str(empty), "--checkpoint", str(tmp_path / "nothing")]) == 2


def test_a_run_that_never_trained_its_image_tokenizer_refuses_images(tmp_path, small_overrides, capsys):
    """V-JEPA 2.1's separate tokenizers: a run on clips only has a random image patch embedding, so an image
    is refused (one line, saying how to get a trained one) instead of embedded into random features; a run
    that saw stills, or one whose tokenizer is shared (V-JEPA 2), takes images."""
    import torch
    from PIL import Image

    from worldjepa.pretrain import load_pretrained

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "still.png")
    runs = {"clips": ["data.image_fraction=0"], "stills": ["data.image_fraction=0.5"],
            "shared": ["objective.recipe=vjepa2", "data.image_fraction=0"]}
    for name, extra in runs.items():
        assert main(["pretrain", "--out", str(tmp_path / name), "--quiet", "train.steps=1", *small_overrides, *extra]) == 0
    capsys.readouterr()
    assert main(["embed", str(tmp_path / "still.png"), "--checkpoint", str(tmp_path / "clips"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pretrained on clips only" in err[0] and "data.image_fraction > 0" in err[0]
    encoder, _ = load_pretrained(tmp_path / "clips")
    with pytest.raises(ValueError, match="image tokenizer is untrained"):
        encoder(torch.zeros(1, 3, 32, 32))
    encoder(torch.zeros(1, 4, 3, 32, 32))  # clips go through the trained video tokenizer
    for name in ("stills", "shared"):
        assert main(["embed", str(tmp_path / "still.png"), "--checkpoint", str(tmp_path / name), "--quiet",
                     "--out", str(tmp_path / f"{name}.st")]) == 0
