"""fsth: few-shot talking heads (Zakharov et al., ICCV 2019, arXiv:1905.08233).

Teaches the method in notebooks, reproduces it as software, and measures how detectable
its fakes are. Generated media is marked synthetic; see README for intended use.

The public API — everything a script, a notebook or the detector needs — is here:

    import fsth
    model = fsth.load_model(fsth.pretrained_path(fsth.SHIPPED_MODEL))
    shots, points = fsth.crop_shots([fsth.read_image("me.jpg")], model.config.image_size,
                                    fsth.create_landmark_detector())
    person = fsth.finetune(model, shots, points, steps=100)       # a Renderer
    fsth.animate(person, "driver.mp4", "me_talking.mp4", fsth.create_landmark_detector())

Names are imported on first use, so ``import fsth`` (and ``fsth --help``) loads no torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_API = {
    # models: building, loading, personalising
    "create_model": "fsth.nn", "ModelConfig": "fsth.nn", "PRESETS": "fsth.nn",
    "TalkingHeadGenerator": "fsth.nn.base", "register_generator": "fsth.nn.base",
    "load_model": "fsth.person", "load_person": "fsth.person", "save_person": "fsth.person",
    "crop_shots": "fsth.person", "Person": "fsth.person", "finetune": "fsth.train.finetune",
    # rendering: one interface, several renderers
    "Renderer": "fsth.render", "render_one": "fsth.render", "WarpedPortrait": "fsth.warp",
    "MeanFrame": "fsth.baselines", "create_baseline": "fsth.baselines", "SynthPuppet": "fsth.data.synthetic",
    # making videos and fakes
    "animate": "fsth.animation", "adapt_landmarks": "fsth.landmarks.adapt",
    "make_fake": "fsth.reenact", "FakeRecipe": "fsth.reenact", "split_frames": "fsth.reenact",
    "fine_tuned_heads": "fsth.reenact",
    "create_landmark_detector": "fsth.landmarks",
    # media and shipped files
    "read_image": "fsth.io.images", "save_image": "fsth.io.images", "read_frames": "fsth.io.video",
    "write_video": "fsth.io.video", "fetch_sample": "fsth.data.samples",
    "pretrained_path": "fsth.assets", "SHIPPED_MODEL": "fsth.assets", "PAPER_MODEL": "fsth.assets", "LAYERED_MODEL": "fsth.assets",
    "GUIDED_MODEL": "fsth.assets", "COURSE_MODEL": "fsth.assets",
    "SHIPPED_DETECTORS": "fsth.assets", "PRETRAINED": "fsth.assets",
}
_RENAMED = {"create_model": "create", "create_landmark_detector": "create_detector", "fetch_sample": "fetch"}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'fsth' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), _RENAMED.get(name, name))
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))
