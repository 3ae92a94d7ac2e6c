"""worldjepa: JEPA world models. The short public API; see docs/guide.md."""

from .config import ConfigError, PretrainConfig
from .config import load as load_config
from .nn.encoder import Encoder
from .nn.predictor import MaskedPredictor
from .pretrain import load_pretrained, pretrain
from .worlds.balls import BallWorld

__version__ = "0.1.0"
__all__ = ["BallWorld", "ConfigError", "Encoder", "MaskedPredictor", "PretrainConfig", "load_config",
           "load_pretrained", "pretrain"]
