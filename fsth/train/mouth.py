"""Stage three of the guided model: train its mouth refiner (fsth.nn.mouth_refiner) on SynthHeads.

    python -m fsth.train.mouth fsth/pretrained/talking_heads_tiny_guided.pt OUT.pt [--identities 480 --steps 4000]

The model paints an opening mouth at its own 64 px; at 128 or 256 px that paint is enlarged.
Each SynthHeads identity (seeds no other set uses) is drawn with its mouth closed — the one
shot — and then talking, turning and smiling, at 64, 128 and 256 px; the model (eye refiner on,
no fine-tuning) renders every target from the shot, and the refiner learns, in a patch around
the mouth, what turns that render into the target (fsth.train.refiners). The model renders with
its painted cavity shown in full (``--cavity-shown 1``, saved with OUT): the refiner learns to
refine the guard-rails' sharp cavity, not the learned gate's blend of it. OUT is the input
checkpoint with generator "guided_refined" and the refiner's weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .refiners import RefinerTrainConfig, add_refiner, command, refiner_samples, synth_clip

MOUTH_SEED = 3_000_029  # SynthHeads seed of the refiner's identities (held-out pairs use 2_000_003, eyes 3_000_017)


@dataclass(frozen=True)
class MouthTrainConfig(RefinerTrainConfig):
    """The mouth refiner's recipe, saved in the checkpoint (``train_config["mouth"]``)."""

    frames: int = 8  # per identity: the shot and 7 targets
    steps: int = 4000
    seed: int = MOUTH_SEED
    cavity_shown: float = 1.0  # the model's painted cavity shown at least this much, in training and after

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.cavity_shown <= 1.0:
            raise ValueError(f"cavity_shown must be in [0, 1], got {self.cavity_shown}")


def talking_clip(index: int, config: MouthTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """One identity: frames (T, S, S, 3) uint8 and landmarks (T, 68, 2); frame 0 has its mouth
    closed (no jaw, no smile), the others open it anywhere from a little to wide."""
    def talk(motion, rng):
        motion.jaw = rng.uniform(0.15, 1.0, config.frames)
        motion.jaw[0] = 0.0
        motion.smile[0] = 0.0

    return synth_clip(index, config, talk)


def mouth_samples(model, config: MouthTrainConfig, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, 9, H, W) and target patches (N, 3, H, W), float16, one per target frame."""
    return refiner_samples(model, "mouth", talking_clip, config, progress)


def add_mouth(checkpoint: str, out: str, config: MouthTrainConfig = MouthTrainConfig(), progress: bool = True) -> dict:
    """Load ``checkpoint`` (a guided model with its eye refiner), give it a mouth refiner trained
    as above, save it to ``out`` (atomically) as a "guided_refined" model. Returns what was measured."""
    kinds = {"guided_eyes": "guided_refined", "guided_refined": "guided_refined"}
    def show_cavity(model, config):
        model.generator.cavity_shown.fill_(config.cavity_shown)

    return add_refiner(checkpoint, out, kinds, "mouth", mouth_samples, config, progress, prepare=show_cavity)


def main(argv=None) -> None:
    command(argv, __doc__.split("\n")[0], MouthTrainConfig, add_mouth,
            "a guided model with its eye refiner (generator 'guided_eyes')", "where to write the model with its mouth refiner")


if __name__ == "__main__":
    main()
