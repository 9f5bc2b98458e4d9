"""SynthHeads: procedural talking-head clips with exact 68-point landmarks.

An unlimited, licence-free, exactly labelled dataset for meta-learning and tests:

    who = random_identity(np.random.default_rng(42))        # face, colours, hair, glasses, scene
    frames, landmarks, poses = render_clip(who, frames=32, size=64, seed=0)
    write_dataset("data/synth", identities=500)              # OUT/synth00042/clip01.npz, ...

Modules: ``identity`` (who), ``head`` (3D geometry, pose, expression), ``camera`` (framing
like ``fsth preprocess``), ``motion`` (talking over time), ``render`` (painting and shading),
``dataset`` (writing clips, the ``fsth synth`` command).
"""
from .dataset import write_dataset
from .head import Pose
from .identity import Identity, random_identity
from .motion import Motion, random_motion
from .render import Renderer, render_clip, render_frame

__all__ = ["Identity", "Motion", "Pose", "Renderer", "random_identity", "random_motion",
           "render_clip", "render_frame", "write_dataset"]
