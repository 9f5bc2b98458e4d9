"""SynthHeads: procedural talking-head clips with exact 68-point landmarks.

An unlimited, licence-free, exactly labelled dataset for meta-learning and tests:

    who = random_identity(np.random.default_rng(42))        # face, colours, hair, glasses, scene
    frames, landmarks, poses = render_clip(who, frames=32, size=64, seed=0)
    frames, landmarks, poses, masks = render_clip(who, 32, 64, seed=0, masks=True)  # + exact regions
    write_dataset("data/synth", identities=500)              # OUT/synth00042/clip01.npz, ...
    masks = load_masks("data/synth/synth00042/clip01.npz")   # {"mouth": bool (T, S, S), "teeth", ...}
    puppet = SynthPuppet(who, size=64)                       # an fsth.render.Renderer: landmarks -> frames

Modules: ``identity`` (who), ``head`` (3D geometry, pose, expression), ``camera`` (framing
like ``fsth preprocess``), ``motion`` (talking over time), ``render`` (painting, shading and
region masks), ``dataset`` (writing clips, the ``fsth synth`` command), ``masks`` (storing and
loading the region masks of clips), ``puppet`` (an identity driven by landmarks, fitting poses).
"""
from .dataset import write_dataset
from .head import Pose
from .identity import Identity, random_identity
from .masks import load_masks
from .motion import Motion, random_motion
from .puppet import SynthPuppet
from .render import REGIONS, Renderer, render_clip, render_frame

__all__ = ["Identity", "Motion", "Pose", "REGIONS", "Renderer", "SynthPuppet", "load_masks", "random_identity",
           "random_motion", "render_clip", "render_frame", "write_dataset"]
