"""More than a warp: the regions a warp can't show, episodes chosen there, the layered generator
whose synthesis path owns them from the start, and rendering at the portrait's resolution."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fsth
from fsth.landmarks.regions import eye_opening, mouth_masks, mouth_opening, warp_priors, yaw
from fsth.nn import create
from tests.helpers import SMALL_MODEL
from tests.helpers import ibug_face_points as face_points


def open_mouth(points: np.ndarray, amount: float) -> np.ndarray:
    """The face with its lower inner lip (and jaw) moved down by ``amount`` × the eye distance."""
    moved = points.copy()
    drop = amount * np.linalg.norm(points[45] - points[36])
    moved[[65, 66, 67, 55, 56, 57, 58, 59]] += [0, drop]
    moved[5:12] += [0, 0.7 * drop]
    return moved


def close_eyes(points: np.ndarray, amount: float = 1.0) -> np.ndarray:
    moved = points.copy()
    moved[[37, 38, 43, 44]] = (1 - amount) * points[[37, 38, 43, 44]] + amount * points[[41, 40, 47, 46]]
    return moved


def test_regions_measure_mouth_eyes_and_turns():
    face = face_points(64)
    assert mouth_opening(open_mouth(face, 0.3))[0] > mouth_opening(face)[0] + 0.25
    assert eye_opening(close_eyes(face))[0] < 0.2 * eye_opening(face)[0]
    turned = face.copy()
    turned[30, 0] += 8
    assert yaw(turned)[0] > yaw(face)[0] + 0.2
    assert mouth_masks(open_mouth(face, 0.3), 64).sum() > 1.8 * mouth_masks(face, 64).sum()  # the face: lips ajar


def test_priors_mark_the_open_mouth_and_only_eyes_that_close():
    face = face_points(64)
    priors = warp_priors(face, np.stack([face, open_mouth(face, 0.3), close_eyes(face)]), 64)
    assert priors.shape == (3, 2, 64, 64) and priors.min() >= 0 and priors.max() <= 1
    assert priors[1, 0].sum() > 20 and priors[1, 1].sum() == 0  # mouth opened, eyes as in the shot
    assert priors[2, 1].sum() > 10  # eyes closed: their region is the synthesis path's
    reopened = warp_priors(close_eyes(face), face[None], 64)
    assert reopened[0, 1].sum() == 0  # opening eyes the shot had closed: the rule is about closing


def test_warp_hard_episodes_pair_a_closed_shot_with_an_open_target():
    from fsth.train.episodes import warp_hard_frames

    face = face_points(64)
    amounts = np.linspace(0, 0.4, 30)
    clip = np.stack([open_mouth(face, a) for a in amounts])
    rng = np.random.default_rng(0)
    mouth_pairs = 0
    for _ in range(30):
        frames = warp_hard_frames(clip, 1, rng)
        assert len(set(frames.tolist())) == 2  # the target is never a shot
        mouth_pairs += amounts[frames[1]] - amounts[frames[0]] > 0.2
    assert mouth_pairs >= 5  # one kind in three asks for an open mouth from a closed one


def test_the_layered_generator_gives_its_synthesis_path_the_mouth_from_the_first_step():
    torch.manual_seed(0)
    G = create(SMALL_MODEL, generator="layered").generator.eval()
    face = face_points(32)
    target = open_mouth(face, 0.4)
    inputs = fsth_inputs(G, face, target, 32)
    parts = G(torch.zeros(1, 3, 32, 32), torch.randn(1, G.config.embed_dim), return_parts=True, **inputs)
    synth_share = parts["mask"][0, -1, 0]
    inside = torch.from_numpy(inputs["priors"][0, 0].numpy() > 0.9)
    assert synth_share[inside].min() > 0.9 and synth_share[~inside].max() < 0.2
    parts["image"].sum().backward()
    assert G.prior_gain.grad is not None and G.synth.down[0].conv1.parametrizations.weight.original.grad.abs().sum() > 0


def fsth_inputs(G, shot_points, target_points, size):
    from fsth.nn.conditioning import build

    shots = np.random.default_rng(0).integers(0, 255, (1, size, size, 3), dtype=np.uint8)
    return build(G.conditioning, shots, shot_points[None], target_points[None], size)


def test_a_warping_person_renders_at_the_portraits_resolution_with_its_texture():
    """At 128 px from a 32 px model the texture is the 128 px shot's own (what the landmark warp
    at 128 px gives), far closer to it than a 32 px render enlarged."""
    import cv2

    from fsth.io.tensors import resize_frames

    torch.manual_seed(0)
    model = create(SMALL_MODEL, generator="warp").eval()
    with torch.no_grad():
        model.generator.synth_logit.bias.fill_(-30.0)  # all warp: the comparison isolates the texture path
    rng = np.random.default_rng(1)
    shot = cv2.GaussianBlur(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8), (0, 0), 1.0)[None]
    points = face_points(128)[None]
    targets = points + rng.normal(0, 1.0, (3, 68, 2)).astype(np.float32)
    person = fsth.finetune(model, shot, points, steps=0, progress=False)
    frames = person.render(targets, amp="none")
    assert frames.shape == (3, 128, 128, 3) and person.size == 128
    warp = fsth.create_baseline("warp", shot, points).render(targets)
    small_shot, small_points = resize_frames(shot, points, 32)
    small = fsth.finetune(model, small_shot, small_points, steps=0, progress=False)
    small_frames = small.render((targets + 0.5) * 0.25 - 0.5, amp="none")
    enlarged = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_CUBIC) for f in small_frames])
    full_error = np.abs(frames.astype(int) - warp).mean()
    enlarged_error = np.abs(enlarged.astype(int) - warp).mean()
    assert full_error < 0.5 * enlarged_error, (full_error, enlarged_error)


def test_training_with_warp_hard_episodes_and_the_regions_term(clip_folder, tmp_path):
    from fsth.train.config import TrainConfig
    from fsth.train.meta import train

    base = TrainConfig(data=str(clip_folder), out=str(tmp_path / "warp"), model={**SMALL_MODEL, "generator": "warp"},
                       k=1, batch_size=2, steps=1, vgg19=None, image_every=0, optim={"amp": "none"})
    train(base, progress=False)
    from dataclasses import replace

    layered = replace(base, out=str(tmp_path / "layered"), model={**SMALL_MODEL, "generator": "layered"}, hard=1.0,
                      loss={"regions": 5.0}, init_from=str(next((tmp_path / "warp").glob("step-*.pt"))))
    summary = train(layered, progress=False)
    assert "regions" in summary["losses"] and np.isfinite(summary["losses"]["regions"])
    model = fsth.load_model(next((tmp_path / "layered").glob("step-*.pt")))
    assert model.config.generator == "layered"
    with pytest.raises(Exception, match="hard must be in"):
        replace(layered, hard=1.5)


def test_warp_hard_pairs_and_table(tmp_path):
    from fsth.warp_hard import save_warp_hard, warp_hard_pairs, warp_hard_table

    pairs = warp_hard_pairs(identities=2, frames=24, size=32)
    assert {p["kind"] for p in pairs} == {"mouth", "eyes", "turn"}
    mouth = [p for p in pairs if p["kind"] == "mouth"]
    assert all(mouth_opening(p["target_points"])[0] > mouth_opening(p["shot_points"])[0] for p in mouth)
    torch.manual_seed(0)
    rows = warp_hard_table({"warp": None, "guard-rails": "guided-warp",
                            "model": create(SMALL_MODEL, generator="layered").eval()}, pairs)
    warp, rails, model = rows
    assert warp["mouth_l1 / warp"] == 1.0 and 0 < warp["ssim"] <= 1
    assert rails["mouth_l1"] != warp["mouth_l1"]  # a baseline by name renders its own frames
    assert all(np.isfinite(row[k]) for row in (rails, model) for k in ("mouth_l1", "eyes_l1", "ssim"))
    table = save_warp_hard(tmp_path, rows, len(pairs))
    assert "| model |" in table.read_text() and (tmp_path / "warp_hard.json").exists()


def test_the_shipped_layered_model_loads_renders_and_owns_the_open_mouth():
    """The shipped file matches the code: a layered generator whose synthesis path holds the open
    mouth (its learned prior gains stayed high) and whose frames come out at the shots' size."""
    model = fsth.load_model(fsth.pretrained_path(fsth.LAYERED_MODEL))
    assert model.config.generator == "layered" and model.config.image_size == 64
    G = model.generator
    assert (G.prior_gain > 2).all()
    face = face_points(128)
    person = fsth.finetune(model, np.full((1, 128, 128, 3), 150, np.uint8), face[None], steps=0, progress=False)
    frames = person.render(np.stack([face, open_mouth(face, 0.4)]), amp="none")
    assert frames.shape == (2, 128, 128, 3)
    inside = mouth_masks(open_mouth(face, 0.4), 128)[0] > 0.5
    assert np.abs(frames[1].astype(int) - 150)[inside].mean() > 3 * np.abs(frames[1].astype(int) - 150)[~inside].mean()
    small = face_points(64)  # at the model's size, the synthesis path's share of the open mouth
    inputs = fsth_inputs(G, small, open_mouth(small, 0.4), 64)
    with torch.no_grad():
        parts = G(torch.zeros(1, 3, 64, 64), torch.zeros(1, G.config.embed_dim), return_parts=True, **inputs)
    share, mouth = parts["mask"][0, -1, 0], inputs["priors"][0, 0] > 0.9
    assert share[mouth].mean() > 5 * share[~mouth].mean()  # synthesis where the warp can't show anything
