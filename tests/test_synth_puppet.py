"""SynthPuppet: a SynthHeads identity as an fsth renderer, following landmarks by fitting its pose."""
from dataclasses import replace

import numpy as np
import pytest

from fsth.data.synthetic import Pose, SynthPuppet, random_identity, random_motion
from fsth.data.synthetic import Renderer as Painter  # SynthHeads' own, not the protocol
from fsth.data.synthetic.motion import RANGES
from fsth.data.synthetic.puppet import FITTED
from fsth.landmarks.adapt import adapt_landmarks
from fsth.render import Renderer, render_one


def person(index: int, seed: int = 0):
    return random_identity(np.random.default_rng([seed, index]))


def rms(a, b) -> float:
    """Root mean square distance in pixels between landmark sets (..., 68, 2)."""
    return float(np.sqrt(((np.asarray(a, float) - b) ** 2).sum(-1).mean()))


def test_it_is_a_renderer_built_from_its_frame_at_rest():
    puppet = SynthPuppet(person(1), 64)
    assert isinstance(puppet, Renderer) and puppet.size == 64
    assert puppet.shots.shape == (1, 64, 64, 3) and puppet.shots.dtype == np.uint8
    assert puppet.landmarks.shape == (1, 68, 2) and puppet.landmarks.dtype == np.float32
    frame, points = puppet.painter.render(Pose())
    assert np.array_equal(puppet.shots[0], frame) and np.array_equal(puppet.landmarks[0], points)
    again = puppet.render(puppet.landmarks)
    assert again.shape == (1, 64, 64, 3) and again.dtype == np.uint8
    assert np.abs(again[0].astype(float) - frame).mean() < 0.5, "its own rest landmarks give its rest frame"
    assert render_one(puppet, points).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="68, 2"):
        puppet.render(np.zeros((2, 5, 2)))


KNOWN = [Pose(jaw=0.8), Pose(blink=1.0), Pose(yaw=25), Pose(yaw=-25, jaw=0.8, blink=1.0),
         Pose(yaw=-15, pitch=8, roll=-6, x=0.6, y=-0.4, z=2.0, jaw=0.5, smile=0.6, blink=0.4, brows=0.8)]


@pytest.mark.parametrize("index", range(3))
def test_it_recovers_the_poses_of_its_own_landmarks(index):
    puppet = SynthPuppet(person(index), 64, seed=index)
    truth, targets = zip(*((pose, puppet.painter.render(pose)[1]) for pose in KNOWN))
    fitted = puppet.fit(np.stack(targets))
    for pose, fit, target in zip(truth, fitted, targets):
        frame, points = puppet.painter.render(fit)
        assert rms(points, target) < 1.0, (pose, fit)  # pixels, at 64 px
        assert abs(fit.jaw - pose.jaw) < 0.15 and abs(fit.blink - pose.blink) < 0.15, (pose, fit)
        assert abs(fit.yaw - pose.yaw) < 3, (pose, fit)
        assert all(RANGES[k][0] <= getattr(fit, k) <= RANGES[k][1] for k in FITTED)
        assert np.abs(frame.astype(float) - puppet.painter.render(pose)[0]).mean() < 2
    frames = puppet.render(np.stack(targets))
    assert np.abs(frames.astype(float) - np.stack([puppet.painter.render(p)[0] for p in truth])).mean() < 2


def test_it_follows_a_talking_head_frame_after_frame():
    puppet = SynthPuppet(person(4), 64, seed=1)
    motion = random_motion(np.random.default_rng(2), 12)
    truth = [replace(motion.pose(t), gaze_x=0.0, gaze_y=0.0, light_yaw=0.0, light_pitch=0.0) for t in range(12)]
    targets = np.stack([puppet.painter.render(pose)[1] for pose in truth])
    fitted = puppet.fit(targets)
    assert max(rms(puppet.project(fit), target) for fit, target in zip(fitted, targets)) < 1.0
    for name in ("jaw", "blink"):
        assert max(abs(getattr(f, name) - getattr(t, name)) for f, t in zip(fitted, truth)) < 0.15, name
    assert puppet.pose == fitted[-1], "the next frame starts from the last"


DRIVING = [Pose(jaw=j, yaw=y, blink=b) for j, y, b in zip(
    (0.0, 0.3, 0.6, 0.9, 0.6, 0.3, 0.0, 0.5), (0, 5, 10, 15, 10, 0, -10, -15), (0, 0, 0, 0, 1, 0.5, 0, 0))]


@pytest.mark.parametrize("adapt", [False, True])
def test_another_face_drives_it_and_it_stays_itself(adapt):
    puppet = SynthPuppet(person(0), 64)
    driver = Painter(person(6), 64)
    driver_frames, driving = (np.stack(x) for x in zip(*(driver.render(pose) for pose in DRIVING)))
    if adapt:
        driving = adapt_landmarks(driving, puppet.landmarks[0])
    frames = puppet.render(driving)
    assert frames.shape == (len(DRIVING), 64, 64, 3) and frames.dtype == np.uint8
    own = np.abs(frames.astype(float) - puppet.shots[0]).mean(axis=(1, 2, 3))
    theirs = np.abs(frames.astype(float) - driver_frames).mean(axis=(1, 2, 3))
    assert (own < theirs).all(), "every frame shows the puppet, not the driver"
    fitted = puppet.fit(driving)
    for name in ("jaw", "yaw", "blink"):
        ours, truth = [getattr(fit, name) for fit in fitted], [getattr(pose, name) for pose in DRIVING]
        assert np.corrcoef(ours, truth)[0, 1] > 0.85, f"its {name} follows the driver's"
