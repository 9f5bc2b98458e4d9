"""Stage two of the guided model: train its eye refiner (fsth.nn.eye_refiner) on SynthHeads blinks.

    python -m fsth.train.eyes fsth/pretrained/talking_heads_tiny_guided.pt OUT.pt [--identities 480 --steps 6000]

Meta-training never asks an eye to close further than a clip's own shots show, so the refiner is
trained apart: each SynthHeads identity (seeds no other set uses) is drawn with its eyes open —
the one shot — and at random stages of a blink, at 64, 128 and 256 px; the meta-trained model
renders every target from the shot (refiner off, no fine-tuning) and the refiner learns, in a
patch around each eye, what turns that render into the target. Colours are jittered (the same
way for a sample's render, shot and target), so it learns shapes and shading, not SynthHeads'
palette. OUT is the input checkpoint with generator "guided_eyes" and the refiner's weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .refiners import RefinerTrainConfig, add_refiner, command, refiner_samples, synth_clip

EYE_SEED = 3_000_017  # SynthHeads seed of the refiner's identities (held-out pairs use 2_000_003)


@dataclass(frozen=True)
class EyeTrainConfig(RefinerTrainConfig):
    """The eye refiner's recipe, saved in the checkpoint (``train_config["eyes"]``)."""

    frames: int = 12  # per identity: the shot and 11 targets
    steps: int = 6000
    seed: int = EYE_SEED


def blink_clip(index: int, config: EyeTrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """One identity: frames (T, S, S, 3) uint8 and landmarks (T, 68, 2); frame 0 has its eyes
    open, the others blink between open and shut (a third of them fully shut)."""
    def blink(motion, rng):
        motion.blink = np.clip(rng.uniform(-0.2, 1.5, config.frames), 0, 1)
        motion.blink[0] = 0.0

    return synth_clip(index, config, blink)


def eye_samples(model, config: EyeTrainConfig, progress: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (N, 9, H, W) and target patches (N, 3, H, W), float16, two per target frame."""
    return refiner_samples(model, "eyes", blink_clip, config, progress)


def add_eyes(checkpoint: str, out: str, config: EyeTrainConfig = EyeTrainConfig(), progress: bool = True) -> dict:
    """Load ``checkpoint`` (a guided model), give it an eye refiner trained as above, save it to
    ``out`` (atomically) as a "guided_eyes" model (a "guided_refined" one stays one, its eyes
    retrained). Returns what was measured."""
    kinds = {"guided": "guided_eyes", "guided_eyes": "guided_eyes", "guided_refined": "guided_refined"}
    return add_refiner(checkpoint, out, kinds, "eyes", eye_samples, config, progress)


def main(argv=None) -> None:
    command(argv, __doc__.split("\n")[0], EyeTrainConfig, add_eyes,
            "a meta-trained guided model (generator 'guided')", "where to write the model with its eye refiner")


if __name__ == "__main__":
    main()
