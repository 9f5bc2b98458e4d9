"""Temporal smoothing of driving landmarks (fsth.landmarks.smooth) and its use by animate."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fsth.landmarks.smooth import SMOOTHING_METHODS, OneEuroFilter, one_euro, savgol, smooth_landmarks
from fsth.metrics import mouth_opening
from tests.helpers import face_points

FPS = 24.0


def jitter(points: np.ndarray) -> float:
    """Mean |second difference| of every point over time, in pixels: ~0 for smooth motion."""
    return float(np.linalg.norm(np.diff(points, 2, axis=0), axis=-1).mean())


def error(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean distance of every point to the truth, in pixels."""
    return float(np.linalg.norm(points - truth, axis=-1).mean())


def moving_face(frames: int = 96, size: int = 600, talk: float = 0.0) -> np.ndarray:
    """(T, 68, 2) float64 truth: a face swaying slowly (0.4 Hz sideways, 0.25 Hz up and down,
    a tenth of a face width) and, with ``talk`` > 0, a jaw opening at 3 Hz by ``talk`` face widths."""
    t = np.arange(frames) / FPS
    base = face_points(size).astype(np.float64)
    face = np.linalg.norm(base[36] - base[45])
    truth = np.repeat(base[None], frames, 0)
    truth[..., 0] += 0.1 * face * np.sin(2 * np.pi * 0.4 * t)[:, None]
    truth[..., 1] += 0.05 * face * np.sin(2 * np.pi * 0.25 * t)[:, None]
    lower = [56, 57, 58, 65, 66, 67, 6, 7, 8, 9, 10]  # lower lip and chin
    truth[:, lower, 1] += talk * face * 0.5 * (1 - np.cos(2 * np.pi * 3.0 * t))[:, None]
    return truth


def jittered(truth: np.ndarray, sigma: float = 1.0, seed: int = 0) -> np.ndarray:
    return (truth + np.random.default_rng(seed).normal(0, sigma, truth.shape)).astype(np.float32)


# ---- the filters ----

def test_the_sequence_filter_is_the_stream_run_frame_by_frame():
    noisy = jittered(moving_face(60, talk=0.15))
    stream = OneEuroFilter(min_cutoff=0.7, beta=3.0, d_cutoff=1.5)
    live = np.stack([stream.update(frame, i / FPS) for i, frame in enumerate(noisy)])
    whole = one_euro(noisy, FPS, min_cutoff=0.7, beta=3.0, d_cutoff=1.5)
    assert live.dtype == whole.dtype == np.float32 and whole.shape == noisy.shape
    assert np.array_equal(live, whole)
    assert np.array_equal(smooth_landmarks(noisy, "one-euro", fps=FPS, min_cutoff=0.7, beta=3.0, d_cutoff=1.5),
                          whole)
    assert np.array_equal(whole[0], noisy[0])  # the first frame passes as it is
    stream.reset()
    assert np.array_equal(stream.update(noisy[5], 10.0), noisy[5])


@pytest.mark.parametrize("method, closer", [("one-euro", 0.9), ("savgol", 0.7)])
def test_smoothing_takes_the_jitter_out_and_comes_closer_to_the_truth(method, closer):
    """1 px of jitter on a swaying face: far less tremble, and nearer the truth (one-euro
    less so: looking only back, it lags the sway a little)."""
    truth = moving_face(96)
    noisy = jittered(truth, sigma=1.0)
    smooth = smooth_landmarks(noisy, method, fps=FPS)
    assert jitter(smooth) < 0.5 * jitter(noisy)
    assert error(smooth, truth) < closer * error(noisy, truth)


@pytest.mark.parametrize("method", ["one-euro", "savgol"])
def test_the_defaults_keep_a_talking_mouth_open(method):
    """3 Hz syllables opening the jaw by 15 % of a face width, under 1 px of jitter: the
    smoothed mouth still opens and closes by most of the true amount."""
    truth = moving_face(96, talk=0.15)
    smooth = smooth_landmarks(jittered(truth), method, fps=FPS)
    true_span, span = np.ptp(mouth_opening(truth)[24:]), np.ptp(mouth_opening(smooth)[24:])
    assert span > 0.85 * true_span


def test_one_euro_follows_a_step_within_a_few_frames_and_keeps_a_still_face_still():
    face = face_points(256)
    still = np.repeat(face[None], 10, 0)
    assert np.array_equal(one_euro(still, FPS), still)
    step = np.repeat(face[None], 30, 0)
    step[15:] += [10.0, 0.0]
    moved = one_euro(step, FPS)[:, :, 0] - face[:, 0]
    assert np.allclose(moved[:15], 0)
    assert (moved[15] > 3).all() and (moved[17] > 9).all()  # 10 px: most of it at once, >90 % in 3 frames
    assert (moved <= 10 + 1e-4).all()  # no overshoot


def test_one_euro_is_the_same_for_a_face_of_any_size_or_place():
    """Speed is measured in face widths, so a 4x larger, shifted face is smoothed the same."""
    noisy = jittered(moving_face(48, size=150, talk=0.1))
    moved = noisy * 4 + [30.0, -12.0]
    assert np.allclose(one_euro(moved, FPS), one_euro(noisy, FPS) * 4 + [30.0, -12.0], atol=1e-3)


def test_savgol_keeps_motion_of_its_order_exactly_and_handles_short_clips():
    t = np.arange(20, dtype=np.float64)[:, None, None]
    curve = face_points(256)[None] + 0.5 * t + 0.02 * t ** 2  # quadratic in time: order 2 keeps it
    assert np.allclose(savgol(curve, FPS), curve, atol=1e-3)
    assert savgol(curve, window=9, order=2).shape == curve.shape
    assert np.allclose(savgol(curve[:4], FPS), curve[:4], atol=1e-3)  # shorter than the window: 3 frames
    assert np.array_equal(savgol(curve[:2], FPS), curve[:2].astype(np.float32))  # too short to fit: as it is
    with pytest.raises(ValueError, match="odd window"):
        savgol(curve, window=8)


@pytest.mark.parametrize("method", SMOOTHING_METHODS)
def test_nan_is_refused_by_name(method):
    noisy = jittered(moving_face(10))
    noisy[4, 7] = np.nan
    with pytest.raises(ValueError, match="NaN.*frames 4"):
        smooth_landmarks(noisy, method, fps=FPS)
    with pytest.raises(ValueError, match="NaN"):
        OneEuroFilter().update(noisy[4], 0.0)


def test_bad_calls_say_what_is_wrong():
    noisy = jittered(moving_face(10))
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth_landmarks(noisy, "kalman", fps=FPS)
    with pytest.raises(ValueError, match="fps"):
        smooth_landmarks(noisy, "one-euro")
    with pytest.raises(ValueError, match=r"shape \(T, 68, 2\)"):
        one_euro(noisy[:, :10], FPS)
    stream = OneEuroFilter()
    stream.update(noisy[0], 1.0)
    with pytest.raises(ValueError, match="increasing times"):
        stream.update(noisy[1], 1.0)
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroFilter(min_cutoff=0)
    assert np.array_equal(smooth_landmarks(noisy, "none"), noisy)


def test_the_command_line_defaults_are_the_filters_defaults():
    from fsth import options
    from fsth.landmarks import smooth

    fields = {f.name: f for f in dataclasses.fields(options.AnimateOptions)}
    assert fields["smooth"].default == "savgol" and fields["smooth"].metadata["choices"] == SMOOTHING_METHODS
    assert fields["smooth_cutoff"].default == smooth.MIN_CUTOFF and fields["smooth_beta"].default == smooth.BETA


# ---- animate ----

class JitteryFace:
    """A landmark detector stand-in: a slowly swaying 64 px face with 0.7 px of detector jitter."""

    def __init__(self, frames: int):
        self.points = jittered(moving_face(frames, size=64), sigma=0.7, seed=3)

    def detect_frames(self, frames, **_):
        return [self.points[i] for i, _ in enumerate(frames)]


@pytest.fixture(scope="module")
def warped_person():
    """A renderer with no learning (the landmark-warp baseline) on a textured 64 px portrait."""
    from fsth.warp import WarpedPortrait

    yy, xx = np.mgrid[:64, :64]
    portrait = np.stack([128 + 100 * np.sin(xx / 3.0), 128 + 100 * np.cos(yy / 4.0), (xx * 4) % 256], -1)
    return WarpedPortrait(portrait.astype(np.uint8)[None], face_points(64)[None])


def test_animate_smooths_the_driver_and_none_is_todays_pipeline(warped_person, tmp_path):
    from fsth.animation import animate
    from fsth.io.video import write_video
    from fsth.landmarks.adapt import adapt_landmarks
    from fsth.metrics import flicker

    frames = 36
    driving = write_video(tmp_path / "driver.mp4", [np.full((64, 64, 3), 100, np.uint8)] * frames, fps=FPS)
    detector = JitteryFace(frames)
    smoothed = animate(warped_person, driving, tmp_path / "smooth.mp4", detector)  # default: savgol
    raw = animate(warped_person, driving, tmp_path / "raw.mp4", detector, smooth="none")

    assert jitter(smoothed["landmarks"]) < 0.5 * jitter(raw["landmarks"])
    assert np.array_equal(smoothed["detected_landmarks"], detector.points)
    assert not np.array_equal(smoothed["driving_landmarks"], detector.points)
    # the result's pixels tremble less too (flicker relative to the rendering of the raw points)
    assert flicker(smoothed["rendered"], raw["rendered"]) < 0.8

    # --smooth none: detection -> adaptation -> rendering exactly as before smoothing existed
    expected = adapt_landmarks(detector.points, warped_person.landmarks[0], mode="relative", reference=0)
    assert np.array_equal(raw["driving_landmarks"], detector.points)
    assert np.array_equal(raw["landmarks"], expected)
    assert np.array_equal(raw["rendered"], warped_person.render(expected))

    tuned = animate(warped_person, driving, tmp_path / "savgol.mp4", detector, smooth="savgol",
                    smooth_params={"window": 5})
    assert np.array_equal(tuned["driving_landmarks"], savgol(detector.points, window=5))


def test_fsth_animate_passes_the_smoothing_flags_through(monkeypatch, tmp_path):
    import fsth.animation
    import fsth.cli
    import fsth.landmarks
    from fsth.cli import main

    calls = []
    monkeypatch.setattr(fsth.cli, "_person_from_args", lambda args: "person")
    monkeypatch.setattr(fsth.landmarks, "create_detector", lambda backend: "detector")
    monkeypatch.setattr(fsth.animation, "animate", lambda *a, **kw: calls.append(kw) or {"files": [], "frames": 0})
    from fsth.io.video import write_video

    driving = write_video(tmp_path / "d.mp4", [np.zeros((32, 32, 3), np.uint8)] * 3, fps=10)  # probed before work
    base = ["animate", "--person", "p.pt", "--driving", str(driving), "--out", str(tmp_path / "o.mp4")]
    assert main(base) == 0
    assert main(base + ["--smooth", "one-euro", "--smooth-cutoff", "0.5", "--smooth-beta", "2"]) == 0
    assert main(base + ["--smooth", "savgol", "--smooth-window", "9"]) == 0
    assert main(base + ["--smooth", "savgol"]) == 0
    assert main(base + ["--smooth", "none"]) == 0
    assert [(c["smooth"], c["smooth_params"]) for c in calls] == [
        ("savgol", {"window": None}), ("one-euro", {"min_cutoff": 0.5, "beta": 2.0}),
        ("savgol", {"window": 9}), ("savgol", {"window": None}), ("none", {})]


def test_frames_without_a_face_reuse_the_last_face():
    """A driving clip's frames where no face was found (NaN rows) take the face before them, those
    before any face the first one; a clip with no face at all is an error naming it."""
    from fsth.animation import reuse_last_face

    points = np.stack([np.full((68, 2), float(i)) for i in range(6)])
    points[[0, 1, 3, 4]] = np.nan
    filled = reuse_last_face(points, "clip.mp4")
    assert filled.dtype == np.float32 and [row[0, 0] for row in filled] == [2, 2, 2, 2, 2, 5]
    with pytest.raises(ValueError, match="clip.mp4: no face in any frame"):
        reuse_last_face(np.full((3, 68, 2), np.nan), "clip.mp4")
