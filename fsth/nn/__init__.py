"""The three networks of the paper: embedder, generator, discriminator, at any scale."""
from .blocks import AdaIN, ResBlock, ResBlockDown, ResBlockUp, SelfAttention
from .config import PRESETS, ModelConfig, get_config
from .discriminator import Discriminator
from .embedder import Embedder
from .generator import Generator
from .model import TalkingHeads, create
from .warp_generator import WarpGenerator

__all__ = ["AdaIN", "ResBlock", "ResBlockDown", "ResBlockUp", "SelfAttention", "PRESETS", "ModelConfig",
           "get_config", "Discriminator", "Embedder", "Generator", "TalkingHeads", "WarpGenerator", "create"]
