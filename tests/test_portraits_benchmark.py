"""benchmarks/portraits.py without real media: the synthesis share inside the open mouth read
from the generator's parts (and NaN where there are none), the driver's open-mouth frames,
the scores, the table and JSON with NaN written as – and null, and the bridge to the second
eye instrument (benchmarks/mesh_eyes.py) with a stand-in for the mesh environment's Python."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import fsth
from benchmarks import portraits
from benchmarks.mesh_eyes import mesh_eye_opening
from fsth.baselines import create_baseline
from fsth.nn import create
from tests.helpers import SMALL_MODEL
from tests.helpers import ibug_face_points as face_points


def open_mouth(points: np.ndarray, amount: float) -> np.ndarray:
    moved = points.copy()
    moved[[65, 66, 67, 55, 56, 57, 58, 59]] += [0, amount * np.linalg.norm(points[45] - points[36])]
    return moved


def warping_person(bias: float, size: int = 128):
    torch.manual_seed(0)
    model = create(SMALL_MODEL, generator="warp").eval()
    with torch.no_grad():
        model.generator.synth_logit.bias.fill_(bias)  # the synthesis share, the same everywhere
    shot = np.random.default_rng(0).integers(0, 255, (1, size, size, 3), dtype=np.uint8)
    return fsth.finetune(model, shot, face_points(size)[None], steps=0, progress=False)


@pytest.mark.parametrize("bias, expected", [(30.0, 1.0), (-30.0, 0.0), (0.0, 0.5)])
def test_synthesis_in_mouth_reads_the_mask_inside_the_open_mouth(bias, expected):
    person = warping_person(bias)  # renders at 128 px, G at 32 px
    targets = np.stack([open_mouth(face_points(128), a) for a in (0.0, 0.3, 0.4)])
    value = portraits.synthesis_in_mouth(person, targets, np.array([1, 2]))
    assert value == pytest.approx(expected, abs=1e-3)


def test_synthesis_in_mouth_follows_the_render_and_is_nan_without_parts():
    person = warping_person(0.0, size=32)  # at the model's size the parts' image is the render
    targets = np.stack([open_mouth(face_points(32), 0.3)])
    from fsth.io.tensors import to_tensor, to_uint8
    from fsth.landmarks import draw_landmarks
    from fsth.nn.conditioning import build

    G = person.generator
    inputs = build(G.conditioning, to_tensor(person.shots), person.landmarks, targets, 32)
    with torch.no_grad():
        parts = G(to_tensor(draw_landmarks(targets, 32)), None, return_parts=True, **inputs)
    assert np.abs(to_uint8(parts["image"]).astype(int) - person.render(targets, amp="none")).max() <= 1
    paper = fsth.finetune(create(SMALL_MODEL).eval(), person.shots, person.landmarks, steps=0, progress=False)
    assert math.isnan(portraits.synthesis_in_mouth(paper, targets, np.array([0])))  # pure synthesis: no parts
    warp = fsth.WarpedPortrait(person.shots, person.landmarks)
    assert math.isnan(portraits.synthesis_in_mouth(warp, targets, np.array([0])))
    assert math.isnan(portraits.synthesis_in_mouth(person, targets, np.array([], int)))


def test_open_mouth_frames_are_those_above_the_median():
    drive = np.stack([open_mouth(face_points(64), a) for a in (0.0, 0.3, 0.1, 0.4, 0.05)])
    assert portraits.open_mouth_frames(drive).tolist() == [1, 3]


class FakeScorer:
    """The result's landmarks are the driver's (a face that follows fully), the identity fixed."""

    def __init__(self, found):
        self.found = found

    def embedder(self, frames, points):
        return np.tile(np.eye(128)[0], (len(frames), 1))

    def detected_landmarks(self, frames):
        return self.found


def test_scores_table_and_json_with_nan():
    amounts = [0.0, 0.3, 0.1, 0.4, 0.05, 0.2]
    drive = np.stack([open_mouth(face_points(64), a) for a in amounts]).astype(np.float32)
    found = drive.astype(np.float64)
    found[2] = np.nan  # one frame without a face
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 16, 16, 3), dtype=np.uint8)
    crops = frames // 2
    scores = portraits.score(FakeScorer(found), frames, drive, np.eye(128)[0], drive, crops)
    assert scores["detected"] == pytest.approx(5 / 6) and scores["verified"] == 1.0
    assert scores["mouth_span"] == pytest.approx(1.0) and scores["mouth_corr"] == pytest.approx(1.0)
    assert scores["nme"] == pytest.approx(0.0) and math.isnan(scores["blink"])  # the driver never blinks
    assert scores["flicker"] == pytest.approx(2.0, rel=0.05)  # twice the change of the halved frames
    row = {"portrait": "p", "method": "warp", **scores, "synth_in_mouth": float("nan")}
    text = portraits.table([row], "caption")
    header, _, line = text.splitlines()[2:5]
    assert header.count("|") == line.count("|") == len(portraits.COLUMNS) + 3
    assert all(sum(mark in h for mark in "↑↓≈") == 1 for _, h, _ in portraits.COLUMNS)
    assert line.split("|")[-2].strip() == "–" and "nan" not in text
    assert json.loads(json.dumps({k: portraits._finite(v) for k, v in row.items()}, allow_nan=False))["blink"] is None


def test_driving_takes_a_sample_name_or_a_path(tmp_path):
    video = tmp_path / "my clip.mp4"
    video.write_bytes(b"")
    assert portraits.media(str(video), "video") == video
    with pytest.raises(SystemExit, match="wolfgang"):
        portraits.media(str(tmp_path / "missing.mp4"), "video")


def _stand_in_python(tmp_path, body: str):
    """An executable that takes the mesh bridge's arguments (script, frames.npz, out.npy) as the
    mesh environment's Python would, and runs ``body`` (Python, with ``frames`` and ``out``) in
    this interpreter instead of Face Mesh."""
    import sys
    script = tmp_path / "stand_in.py"
    script.write_text("import sys, numpy as np\nframes = np.load(sys.argv[2])['frames']\nout = sys.argv[3]\n" + body)
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    python.chmod(0o755)
    return python


def test_the_mesh_bridge_hands_frames_over_and_reads_the_answer_back(tmp_path):
    frames = np.zeros((5, 8, 8, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(5)[:, None, None] * 10
    brightness = _stand_in_python(tmp_path, "np.save(out, frames.reshape(len(frames), -1).mean(1))")
    assert mesh_eye_opening(frames, brightness) == pytest.approx(np.arange(5) * 10 / 3)


def test_the_mesh_bridge_names_the_interpreter_that_failed(tmp_path):
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    failing = _stand_in_python(tmp_path, "raise SystemExit('no module named mediapipe')")
    with pytest.raises(RuntimeError, match=r"failed with .*python.*no module named mediapipe"):
        mesh_eye_opening(frames, failing)
    short = _stand_in_python(tmp_path, "np.save(out, np.zeros(2))")
    with pytest.raises(RuntimeError, match="answered"):
        mesh_eye_opening(frames, short)
    with pytest.raises(RuntimeError, match="could not run"):
        mesh_eye_opening(frames, tmp_path / "no-such-python")
    with pytest.raises(ValueError, match="uint8"):
        mesh_eye_opening(frames.astype(np.float32), short)


def test_refiner_variants_switch_each_learned_refiner_off_then_all():
    guided = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided_refined", num_videos=2)
    person = fsth.finetune(guided, np.zeros((1, 64, 64, 3), np.uint8), face_points(64)[None], steps=0, progress=False)
    variants = dict(portraits.refiner_variants(person, ablate=True))
    assert variants == {"": {"refine_eyes": True, "refine_mouth": True},
                        ", eyes refiner off": {"refine_eyes": False, "refine_mouth": True},
                        ", mouth refiner off": {"refine_eyes": True, "refine_mouth": False},
                        ", refiners off": {"refine_eyes": False, "refine_mouth": False}}
    assert all(hasattr(person.generator, switch) for switches in variants.values() for switch in switches)
    assert portraits.refiner_variants(person, ablate=False) == [("", {"refine_eyes": True, "refine_mouth": True})]
    warp = create_baseline("warp", np.zeros((1, 64, 64, 3), np.uint8), face_points(64)[None])
    assert portraits.refiner_variants(warp, ablate=True) == [("", {})]  # no generator: rendered once
