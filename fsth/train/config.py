"""Training configuration: one dataclass, loadable from YAML (``yaml.safe_load``), saved
inside every checkpoint."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import get_type_hints

import yaml

from ..losses import LossWeights
from .step import OptimConfig


@dataclass(frozen=True)
class TrainConfig:
    data: str = ""  # folder of clips (fsth preprocess / fsth synth)
    out: str = "runs/tiny"  # run folder: checkpoints, logs, sample grids
    preset: str = "tiny"
    model: dict = field(default_factory=dict)  # ModelConfig overrides, e.g. {"channels": 16}
    variant: str = "meta"  # "meta" (with L_MCH, for fine-tuning) or "ff" (feed-forward, no L_MCH)
    k: int = 8
    batch_size: int = 8
    steps: int = 2000
    max_minutes: float = 0.0  # stop after this much wall time (0: no limit); resumable
    seed: int = 0
    workers: int = 0  # DataLoader processes
    holdout: int = 0  # identities kept out of training (listed in OUT/holdout.txt)
    device: str = "auto"
    compile: bool = False
    ema: float = 0.0  # decay of an exponential moving average of G (0: off)
    vgg19: str | None = "auto"  # weights file, "auto" (torch hub cache), or None
    vggface: str | None = None  # VGGFace weights file
    loss: LossWeights = LossWeights()
    optim: OptimConfig = OptimConfig()
    log_every: int = 10
    image_every: int = 200
    checkpoint_every: int = 200
    keep_last: int = 3

    def __post_init__(self):
        if self.variant not in ("meta", "ff"):
            raise ValueError(f"variant must be 'meta' or 'ff', got {self.variant!r}")
        if self.k < 1 or self.batch_size < 1 or self.steps < 0:
            raise ValueError("k and batch_size must be >= 1 and steps >= 0")
        if isinstance(self.loss, dict):
            object.__setattr__(self, "loss", _build(LossWeights, self.loss, "loss"))
        if isinstance(self.optim, dict):
            object.__setattr__(self, "optim", _build(OptimConfig, self.optim, "optim"))

    @property
    def loss_weights(self) -> LossWeights:
        """The loss weights actually used: feed-forward training has no L_MCH."""
        return replace(self.loss, embedding_match=0.0) if self.variant == "ff" else self.loss

    def to_dict(self) -> dict:
        data = asdict(self)
        data["optim"]["betas"] = list(data["optim"]["betas"])
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return _build(cls, data, "train config")

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides) -> "TrainConfig":
        """Fields from a YAML file, then ``overrides`` (nested sections merge key by key)."""
        data = yaml.safe_load(Path(path).read_text()) or {}
        for key, value in overrides.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        return cls.from_dict(data)


def _build(cls, data: dict, what: str):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {what} keys: {sorted(unknown)}; known: {sorted(known)}")
    if cls is OptimConfig and "betas" in data:
        data = {**data, "betas": tuple(data["betas"])}
    return cls(**{k: _coerce(v, hints[k], f"{what}.{k}") if k in (hints := get_type_hints(cls)) else v
                  for k, v in data.items()})


def _coerce(value, kind, name):
    """YAML reads ``5e-5`` as a string (YAML 1.1 wants ``5.0e-5``): convert numbers by field type."""
    if kind in (float, int) and isinstance(value, str):
        try:
            return kind(float(value)) if kind is int else float(value)
        except ValueError:
            raise ValueError(f"{name} must be a number, got {value!r}") from None
    return value
