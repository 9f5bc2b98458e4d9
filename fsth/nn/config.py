"""Network sizes as a dataclass with named presets, saved inside every checkpoint."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the embedder E, generator G and discriminator D (docs/method.md).

    Block i of a downsampling path has min(channels * 2**i, max_channels) channels; the
    embedder and discriminator go down to 4x4, the generator's encoder to
    image_size / 2**generator_downs. Self-attention runs where the resolution equals
    attention_size (0: nowhere). generator: a registered name (``fsth.nn.generator_names()``):
    "synth" (the paper's G paints every pixel) or "warp" (the shots' own pixels warped to the
    target, the rest painted: warp_generator.py).
    """

    image_size: int = 256
    channels: int = 64
    max_channels: int = 512
    embed_dim: int = 512
    generator_downs: int = 4
    generator_res_blocks: int = 5
    attention_size: int = 32
    num_videos: int = 1
    generator: str = "synth"

    def __post_init__(self):
        if not isinstance(self.generator, str) or not self.generator.isidentifier():
            raise ValueError(f"generator must be a registered generator's name; got {self.generator!r}")
        size = self.image_size
        if size < 16 or size & (size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {size}")
        if not 1 <= self.generator_downs <= self.downs:
            raise ValueError(f"generator_downs must be in 1..{self.downs} for {size} px, got {self.generator_downs}")
        if self.num_videos < 1:
            raise ValueError(f"num_videos must be >= 1, got {self.num_videos}")
        if self.channels < 8 or self.embed_dim < 8:
            raise ValueError("channels and embed_dim must be at least 8")

    @property
    def downs(self) -> int:
        """Downsampling blocks of the embedder / discriminator (to 4x4)."""
        return int(math.log2(self.image_size)) - 2

    def width(self, block: int) -> int:
        return min(self.channels * 2 ** block, self.max_channels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


PRESETS: dict[str, ModelConfig] = {
    # CPU classroom scale: a training step (batch 8, K = 8) in well under a second on 2 cores
    "tiny": ModelConfig(image_size=64, channels=32, max_channels=256, embed_dim=256,
                        generator_downs=3, generator_res_blocks=4, attention_size=16),
    "small": ModelConfig(image_size=128, channels=32, max_channels=512, embed_dim=512,
                         generator_downs=4, generator_res_blocks=4, attention_size=32),
    # the paper: E ~15M, G ~38M, D ~20M parameters at 256 px
    "paper": ModelConfig(image_size=256, channels=64, max_channels=512, embed_dim=512,
                         generator_downs=4, generator_res_blocks=5, attention_size=32),
}


def get_config(name_or_config: str | ModelConfig | dict = "tiny", **overrides) -> ModelConfig:
    """A preset by name (or a config / dict), with keyword overrides."""
    if isinstance(name_or_config, ModelConfig):
        base = name_or_config
    elif isinstance(name_or_config, dict):
        base = ModelConfig.from_dict(name_or_config)
    elif name_or_config in PRESETS:
        base = PRESETS[name_or_config]
    else:
        raise ValueError(f"unknown preset {name_or_config!r}; choose from {sorted(PRESETS)}")
    return replace(base, **overrides) if overrides else base
