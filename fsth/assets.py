"""The files fsth ships in ``fsth/pretrained/``, by role, in one table.

    load_model(pretrained_path(SHIPPED_MODEL))      # the talking-head model of demo, finetune, animate
    pretrained_path(SHIPPED_DETECTORS["cnn"])       # a shipped detector (detector.models.load)
"""
from __future__ import annotations

from pathlib import Path

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
SHIPPED_MODEL = "talking_heads_tiny_warp.pt"  # the talking-head model demo, finetune, animate and the course use
PAPER_MODEL = "talking_heads_tiny.pt"  # the paper's pure-synthesis generator, same preset: for comparisons
LAYERED_MODEL = "talking_heads_tiny_layered.pt"  # the layered generator: paints open mouths (MODEL_CARD.md)
GUIDED_MODEL = "talking_heads_tiny_guided.pt"  # the guided generator: the warp on guard-rails, refined by learning
COURSE_MODEL = "course_tiny_synth.pt"  # the course's architecture (learners build it from their blocks), trained by fsth
SHIPPED_DETECTORS = {"frequency": "frequency.json", "cnn": "detector_cnn.pt"}  # written by the study's --ship


def pretrained_path(name: str) -> Path:
    """The shipped file ``name`` (a FileNotFoundError that says what to do when it is missing)."""
    path = PRETRAINED / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: this copy of fsth ships no pretrained {name}; "
                                "train one with `fsth train --config configs/tiny.yaml`")
    return path
