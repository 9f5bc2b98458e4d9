"""Training configuration: one dataclass, loadable from YAML (``yaml.safe_load``), saved
inside every checkpoint.

Every value is checked against its field's type and range when a config is built, from YAML
or in Python, so a slip (``checkpoint_every: 0``, ``k: 2.5``, ``steps: true``, ``optim: adam``)
is a :class:`ConfigError` naming the key instead of a crash hours later or a silent one-step run.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import get_type_hints

import yaml

from ..errors import UsageError
from ..losses import LossWeights
from ..nn.config import PRESETS, ModelConfig
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
    seed: int = 0  # seed of the weights, the hold-out choice and the episode order
    workers: int = 0  # DataLoader processes
    holdout: int = 0  # identities kept out of training (listed in OUT/holdout.txt)
    device: str = "auto"
    compile: bool = False  # torch.compile the networks
    ema: float = 0.0  # decay of an exponential moving average of G (0: off)
    vgg19: str | None = "auto"  # weights file, "auto" (torch hub cache), or None
    vggface: str | None = None  # VGGFace weights file
    loss: LossWeights = LossWeights()
    optim: OptimConfig = OptimConfig()
    log_every: int = 10
    image_every: int = 200
    checkpoint_every: int = 200
    keep_last: int = 3
    hard: float = 0.0  # share of episodes whose target is where a warp of the shots fails (open mouth, blink, turn)
    init_from: str = ""  # start a new run from this model's weights where they fit (new layers start fresh)

    def __post_init__(self):
        hints = get_type_hints(type(self))
        for f in fields(self):  # types and ranges, also when built in Python rather than from YAML
            object.__setattr__(self, f.name, _value(getattr(self, f.name), hints[f.name], f.name))

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
        """Fields from a YAML file, then ``overrides`` (nested sections merge key by key).

        Raises :class:`ConfigError` naming the file and the key for anything it can't use."""
        try:
            data = yaml.safe_load(Path(path).read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
        data = {} if data is None else data
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a config is a mapping of TrainConfig fields (one 'key: value' "
                              f"per line), not a {_yaml_type(data)}")
        for key, value in overrides.items():
            data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
        try:
            return cls.from_dict(data)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None


class ConfigError(UsageError):
    """A training configuration that can't be used; the message names the key (and the file)."""


def _at_least(low, note=""):
    return lambda v: v >= low, f">= {low}{note}"


# What each number may be; 0 is allowed only where it means something (said in the message).
_RANGES = {
    "k": _at_least(1), "batch_size": _at_least(1), "steps": _at_least(1, " (0 would train nothing)"), "seed": _at_least(0),
    "max_minutes": _at_least(0, " (0: no time limit)"), "workers": _at_least(0, " (0: no worker processes)"),
    "holdout": _at_least(0), "ema": (lambda v: 0 <= v < 1, "in [0, 1) (0: off)"),
    "log_every": _at_least(1), "checkpoint_every": _at_least(1), "image_every": _at_least(0, " (0: no sample grids)"),
    "keep_last": _at_least(0, " (0: keep every checkpoint)"), "hard": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "optim.lr_g": (lambda v: v > 0, "> 0"), "optim.lr_d": (lambda v: v > 0, "> 0"),
    "optim.betas": (lambda v: all(0 <= b < 1 for b in v), "two numbers in [0, 1)"),
    "optim.d_steps": _at_least(1), "optim.grad_clip": _at_least(0, " (0: off)"),
}
_CHOICES = {"variant": ("meta", "ff"), "preset": tuple(PRESETS)}


def _build(cls, data, what: str):
    """A ``cls`` dataclass from a mapping, every value checked against its field's type and range."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a mapping of {what} settings ({', '.join(f.name for f in fields(cls))}), "
                          f"not {_shown(data)}")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown {what} keys: {sorted(map(str, unknown))}; known: {sorted(known)}")
    prefix = "" if cls is TrainConfig else f"{what}."
    hints = get_type_hints(cls)
    values = {k: _value(v, hints[k], prefix + k) for k, v in data.items()}
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # a check of the dataclass itself (e.g. optim.amp)
        raise ConfigError(str(err)) from None


def _value(value, kind, name: str):
    """``value`` as a ``kind`` field called ``name`` wants it, or ConfigError naming the key.

    YAML reads ``5e-5`` as a string (YAML 1.1 wants ``5.0e-5``), so numeric strings become
    numbers; ``true`` is not a number and ``2.5`` is not an integer."""
    given = value
    if kind in (int, float):
        value = _number(value, kind, name)
    elif kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, not {_shown(value)}")
    elif kind in (str, str | None) and not (isinstance(value, str) or (value is None and kind != str)):
        raise ConfigError(f"{name} must be a string{' or null' if kind != str else ''}, not {_shown(value)}")
    elif kind is dict and not isinstance(value, dict):
        raise ConfigError(f"{name} must be a mapping, not {_shown(value)}")
    elif name == "model" and (unknown := set(value) - {f.name for f in fields(ModelConfig)}):
        raise ConfigError(f"unknown model keys: {sorted(map(str, unknown))}; known: "
                          f"{sorted(f.name for f in fields(ModelConfig))}")
    elif kind == tuple[float, float]:
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{name} must be two numbers, not {_shown(value)}")
        value = tuple(_number(v, float, name) for v in value)
    elif kind in (LossWeights, OptimConfig):
        value = _build(kind, asdict(value) if isinstance(value, kind) else value, name)
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ConfigError(f"{name} must be one of {', '.join(_CHOICES[name])}; not {_shown(given)}")
    rule = _RANGES.get(name) or (_at_least(0) if name.startswith("loss.") else None)
    if rule and not rule[0](value):
        raise ConfigError(f"{name} must be {rule[1]}, not {_shown(given)}")
    return value


def _number(value, kind, name: str):
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise ConfigError(f"{name} must be {'an integer' if kind is int else 'a number'}, not {_shown(value)}")
    if kind is int:
        if number != int(number):
            raise ConfigError(f"{name} must be an integer, not {_shown(value)}")
        return int(number)
    return float(number)


def _shown(value) -> str:
    """A value as it looks in YAML: true/false/null, strings quoted."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return f"{value!r} ({_yaml_type(value)})" if isinstance(value, (list, dict)) else repr(value)


def _yaml_type(value) -> str:
    return {list: "list", dict: "mapping", str: "string"}.get(type(value), type(value).__name__)
