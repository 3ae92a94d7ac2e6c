"""worldjepa: JEPA world models. The short public API; see docs/guide.md."""

from .config import ConfigError, PretrainConfig
from .config import load as load_config
from .nn.encoder import Encoder
from .nn.predictor import MaskedPredictor
from .pretrain import load_pretrained, pretrain
from .worlds.balls import BallWorld

__version__ = "0.1.0"
__all__ = ["BallWorld", "ConfigError", "Encoder", "MaskedPredictor", "PretrainConfig", "from_pretrained",
           "load_config", "load_pretrained", "pretrain"]


def from_pretrained(path, **kwargs):
    """The encoder, predictor and world model of a run folder, a published checkpoint (V-JEPA 2, 2.1, 2-AC,
    I-JEPA; torch.hub files, transformers folders) or a Hugging Face hub id: `worldjepa.interop.runs`."""
    from .interop.runs import from_pretrained as load  # imported when used: the converters stay out of `import worldjepa`

    return load(path, **kwargs)
