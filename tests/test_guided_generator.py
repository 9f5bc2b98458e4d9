"""The guided generator (fsth.nn.warp_generator.GuidedWarpGenerator): the warp on guard-rails,
refined by learning — it opens a closed mouth from step 0, trains, resumes, renders at the
portrait's resolution and round-trips through a person file."""
from dataclasses import replace

import numpy as np
import torch

import fsth
from fsth.guardrails import mouth_cavity, skin_colour, tint
from fsth.landmarks.regions import mouth_masks
from fsth.warp_hard import warp_hard_pairs

from .helpers import SMALL_MODEL


def _mouth_pair(size=64):
    return next(p for p in warp_hard_pairs(identities=2, size=size) if p["kind"] == "mouth")


def test_an_untrained_guided_model_paints_a_dark_open_mouth_at_full_resolution():
    """The painted cavity shows through the synthesis path before any training, and it is
    drawn again at the output's size: inside the target's inner lips the 128 px result is the
    paint (cavity and teeth), not the plain warp's stretched lips."""
    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    pair = _mouth_pair()
    big = np.stack([np.kron(pair["shot"], np.ones((2, 2, 1), np.uint8))])  # the shot at 128 px
    points = (pair["shot_points"][None] + 0.5) * 2 - 0.5
    target = (pair["target_points"][None] + 0.5) * 2 - 0.5
    person = fsth.finetune(model, big, points, steps=0, progress=False)
    frame = person.render(target, amp="none")[0]
    warp = fsth.create_baseline("warp", big, points).render(target)[0]
    inside = mouth_masks(target, 128)[0] > 0.9
    assert frame.shape == (128, 128, 3) and inside.sum() > 10
    cavity = torch.from_numpy(mouth_cavity(points, target, 128))
    paint = tint(cavity[:, :3], skin_colour(torch.from_numpy(big).permute(0, 3, 1, 2)[None].float() / 127.5 - 1))
    paint = (paint[0].permute(1, 2, 0).numpy() * 255)[inside]
    assert np.abs(frame[inside] - paint).mean() < 0.5 * np.abs(warp[inside] - paint).mean()
    outside = mouth_masks(target, 128)[0] == 0
    assert np.abs(frame[outside].astype(int) - warp[outside]).mean() < 40  # elsewhere the warp's pixels


def test_at_full_resolution_a_guided_models_shut_eyes_are_lids_not_a_squashed_iris(monkeypatch):
    """The guard-rails' lids (fsth.eyelids) are laid over the warped shot at the output's size,
    as the cavity is painted again there: a blue iris squashed into a shut eye is gone."""
    from fsth.nn import warp_generator

    from .test_guardrails import _blue_eyed, _shut

    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    with torch.no_grad():  # no flow correction: an untrained one moves pixels by up to 5 px, a trained one by < 1
        model.generator.flow_head[-1].weight.zero_()
        model.generator.flow_head[-1].bias.zero_()
    pair = _mouth_pair()
    points = (pair["shot_points"][None] + 0.5) * 2 - 0.5
    shot = _blue_eyed(points[0], 128)[None]
    target = _shut(points[0])[None]
    inside = fsth.landmarks.regions.eye_masks(target, 128, heights=np.full((1, 2), 6.0))[0].max(0) > 0.5

    def blue():
        frame = fsth.finetune(model, shot, points, steps=0, progress=False).render(target, amp="none")[0]
        return (frame[..., 2].astype(int) - frame[..., 0] > 40)[inside].mean()
    with_lids = blue()
    monkeypatch.setattr(warp_generator, "closing_eyes_layers", lambda *args, **kwargs: None)
    squashed = blue()
    assert squashed > 0.2 and with_lids < 0.25 * squashed


def test_a_guided_model_meta_learns_resumes_and_round_trips(clip_folder, tmp_path):
    from fsth.train.config import TrainConfig
    from fsth.train.meta import train

    config = TrainConfig(data=str(clip_folder), out=str(tmp_path / "run"), model={**SMALL_MODEL, "generator": "guided"},
                         k=1, hard=0.5, batch_size=2, steps=1, vgg19=None, image_every=1, checkpoint_every=1,
                         ema=0.9, optim={"amp": "none"}, loss={"regions": 5.0})
    assert train(config, progress=False)["step"] == 1
    first = fsth.load_model(next((tmp_path / "run").glob("step-*.pt")))
    gate = first.generator.cavity_gate.bias.clone()
    summary = train(replace(config, steps=3), progress=False)
    assert summary["step"] == 3 and all(np.isfinite(v) for v in summary["losses"].values())
    model = fsth.load_model(sorted((tmp_path / "run").glob("step-*.pt"))[-1])
    assert model.config.generator == "guided" and not torch.equal(model.generator.cavity_gate.bias, gate)
    rng = np.random.default_rng(0)
    shots = rng.integers(0, 255, (1, 48, 48, 3), dtype=np.uint8)
    from .helpers import face_points

    points = (face_points(32)[None] * 1.5).astype(np.float32)
    person = fsth.finetune(model, shots, points, steps=1, progress=False, amp="none")
    targets = points + rng.normal(0, 1.5, (2, 68, 2)).astype(np.float32)
    frames = person.render(targets, amp="none")
    assert frames.shape == (2, 48, 48, 3)
    again = fsth.load_person(fsth.save_person(tmp_path / "guided.pt", person))
    assert np.array_equal(again.render(targets, amp="none"), frames)
