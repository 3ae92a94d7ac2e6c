import pytest

from worldjepa import config
from worldjepa.config import ConfigError


def test_preset_loads_and_recipe_fills_switches():
    cfg = config.load("tiny-cpu")
    assert cfg.objective.recipe == "vjepa2.1"
    assert (cfg.objective.context_loss, cfg.model.levels, cfg.model.separate_tokenizers) == (True, 4, True)
    v2 = config.load("tiny-cpu", ["objective.recipe=vjepa2"])
    assert (v2.objective.context_loss, v2.model.levels, v2.model.separate_tokenizers) == (False, 1, False)


def test_explicit_switch_beats_recipe_default():
    cfg = config.load("tiny-cpu", ["objective.recipe=vjepa2.1", "objective.context_loss=false"])
    assert cfg.objective.context_loss is False and cfg.model.levels == 4


def test_unknown_key_names_closest_valid_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'optim.lrr'.*did you mean 'optim.lr'"):
        config.load("tiny-cpu", ["optim.lrr=0.1"])
    with pytest.raises(ConfigError, match=r"did you mean 'train.steps'"):
        config.load("tiny-cpu", ["train.step=3"])
    with pytest.raises(ConfigError, match=r"did you mean 'model'"):
        config.from_dict(config.PretrainConfig, {"modle": {}})


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"config='tiny-cpux' is not one of \[.*'tiny-cpu', 'tiny-physics'.*\]; "
                                          r"did you mean 'tiny-cpu'"):
        config.load("tiny-cpux")
    with pytest.raises(ConfigError, match=r"config='wm-rooms' is not one of \[.*'wm-two-rooms'.*\]"):
        config.load_world_model("wm-rooms")


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train:\n  stepz: 5\n")
    with pytest.raises(ConfigError, match=r"train.stepz.*did you mean 'train.steps'"):
        config.load(path)


def test_types_are_checked_and_numbers_parsed():
    with pytest.raises(ConfigError, match="train.steps must be an integer"):
        config.load("tiny-cpu", ["train.steps=many"])
    with pytest.raises(ConfigError, match="true or false"):
        config.load("tiny-cpu", ["train.tensorboard=3"])
    assert config.load("tiny-cpu", ["optim.lr=1e-3"]).optim.lr == pytest.approx(1e-3)  # YAML 1.1 string
    assert config.load("tiny-cpu", ["objective.ema=[0.99, 0.999]"]).objective.ema == (0.99, 0.999)


def test_choice_errors_suggest_valid_value():
    with pytest.raises(ConfigError, match="did you mean 'bf16'"):
        config.load("tiny-cpu", ["train.precision=bf61"])
    with pytest.raises(ConfigError, match="tiny-cpu"):
        config.load("tiny-cpuu")


def test_image_size_not_divisible_by_patch_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"image_size=60 is not divisible by model.patch_size=8.*multiple of 8"):
        config.load("tiny-cpu", ["data.image_size=60"])


def test_roundtrip_through_yaml(tmp_path):
    cfg = config.load("tiny-cpu", ["train.steps=7", "objective.masks=[{num_blocks: 3, spatial_scale: [0.2, 0.3]}]"])
    config.save_yaml(cfg, tmp_path / "c.yaml")
    again = config.load(tmp_path / "c.yaml")
    assert again == cfg
    assert again.objective.masks[0].num_blocks == 3


@pytest.mark.parametrize("override,message", [
    ("optim.lr=-0.001", "optim.lr must be at least 0, got -0.001"),
    ("optim.betas=[0.9, 1.0]", r"optim.betas\[1\] must be in \[0, 1\), got 1.0"),
    ("data.image_fraction=1.5", r"data.image_fraction must be in \[0, 1\], got 1.5"),
    ("data.world.occluder_width=0", r"data.world.occluder_width must be in \(0, 1\], got 0.0"),
    ("train.steps=0", "train.steps must be at least 1, got 0"),
    ("objective.lambda_warmup=[-2, 5]", r"objective.lambda_warmup\[0\] must be at least -1, got -2"),
    ("data.world.speed=[1.5, 0.5]", r"data.world.speed must be \[low, high\] with low ≤ high"),
])
def test_ranges_are_checked_with_the_key_named(override, message):
    with pytest.raises(ConfigError, match=message):
        config.load("tiny-cpu", [override])


@pytest.mark.parametrize("override,message", [
    ("data.window=1", "data.window must be at least 2, got 1"),
    ("plan.noise_correlation=1.0", r"plan.noise_correlation must be in \[0, 1\), got 1.0"),
    ("plan.temperature=0", "plan.temperature must be greater than 0, got 0.0"),
    ("plan.execute=6", "plan.execute must be between 1 and plan.horizon=5, got 6"),
    ("train.device=tpu", r"train.device='tpu' is not one of \['auto', 'cpu', 'cuda', 'mps'\]"),
    ("model.predictor_heads=3", "model.predictor_width=128 with model.predictor_heads=3"),
])
def test_world_model_sections_use_the_same_validator(override, message):
    """The world-model config's sections are checked by the same rules, optimiser and trainer included."""
    with pytest.raises(ConfigError, match=message):
        config.load_world_model("wm-two-rooms", [override])
    with pytest.raises(ConfigError, match="optim.lr must be a finite number, got nan"):
        config.load_world_model("wm-two-rooms", ["optim.lr=.nan"])  # `train-wm optim.lr=nan`
