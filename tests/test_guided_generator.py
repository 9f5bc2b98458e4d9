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
    flow = first.generator.flow_head[-1].weight.clone()
    summary = train(replace(config, steps=3), progress=False)
    assert summary["step"] == 3 and all(np.isfinite(v) for v in summary["losses"].values())
    model = fsth.load_model(sorted((tmp_path / "run").glob("step-*.pt"))[-1])
    assert model.config.generator == "guided" and not torch.equal(model.generator.flow_head[-1].weight, flow)
    assert float(model.generator.cavity_shown) == 1.0
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


def test_the_synthesis_share_stays_inside_the_opening_mouth_and_owns_its_cavity():
    """bound_mask: no synthesis where the mouth prior is 0, at least the cavity's alpha inside,
    the shots' shares rescaled so every pixel still sums to 1; both rails switch off."""
    generator = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2).generator
    torch.manual_seed(0)
    mask = torch.softmax(torch.randn(2, 3, 1, 8, 8), dim=1)  # two shots and the synthesis path
    priors = torch.zeros(2, 2, 8, 8)
    priors[:, 0, 2:6, 2:6] = 1.0
    painted = torch.zeros(2, 4, 8, 8)
    painted[:, 3, 3:5, 3:5] = 0.9
    bounded = generator.bound_mask(mask, priors=priors, painted=painted)
    synth = bounded[:, -1, 0]
    assert torch.allclose(bounded.sum(1), torch.ones(2, 1, 8, 8), atol=1e-6)
    assert synth[:, priors[0, 0] == 0].abs().max() == 0
    assert (synth[:, 3:5, 3:5] >= 0.9 - 1e-6).all()
    ring = (priors[0, 0] == 1) & (painted[0, 3] == 0)  # inside the prior, outside the cavity: as learned
    assert torch.allclose(synth[:, ring], mask[:, -1, 0][:, ring])
    ratio = bounded[:, 0] / bounded[:, 1]  # the shots keep their proportions
    assert torch.allclose(ratio, mask[:, 0] / mask[:, 1], rtol=1e-4)
    generator.confine_synthesis = generator.cavity_floor = False
    assert generator.bound_mask(mask, priors=priors, painted=painted) is mask


def test_the_guided_generator_applies_the_bounds_to_the_mask_it_paints_with():
    from fsth.landmarks import draw_landmarks
    from fsth.nn.conditioning import build
    from fsth.io.tensors import to_tensor

    torch.manual_seed(0)
    generator = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2).generator.eval()
    pair = _mouth_pair()
    target = pair["target_points"][None].astype(np.float32)
    inputs = build(generator.conditioning, to_tensor(pair["shot"][None]), pair["shot_points"][None], target, 64)
    with torch.no_grad():
        synth = generator(to_tensor(draw_landmarks(target, 64)), torch.zeros(1, generator.config.embed_dim),
                          return_parts=True, **inputs)["mask"][0, -1, 0]
    alpha = inputs["cavity"][0, 3]
    assert synth[(inputs["priors"][0, 0] == 0) & (alpha == 0)].max() == 0
    assert alpha.max() > 0.5 and (synth >= alpha - 1e-6).all()


def test_at_full_resolution_the_learned_flow_is_a_moving_average_over_the_videos_frames():
    generator = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2).generator
    generator.flow_smoothing, generator.flow_hold = 0.7, 0.0
    step = torch.zeros(4, 1, 2, 2, 2)
    step[1:] = 1.0  # the correction jumps at the second frame
    base = torch.rand(4, 2, 2, 2)
    parts = generator._flow_over_time({"delta": step, "grid": base + step[:, 0]})
    assert torch.allclose(parts["delta"][:, 0, 0, 0, 0], torch.tensor([0.0, 0.3, 0.51, 0.657]))
    assert torch.allclose(parts["grid"], base + parts["delta"][:, 0])  # the grid moves with it
    more = generator._flow_over_time({"delta": step[1:2], "grid": base[:1] + step[1:2, 0]})  # the video goes on
    assert torch.allclose(more["delta"][0, 0, 0, 0, 0], torch.tensor(0.7 * 0.657 + 0.3))
    generator.reset_motion()  # a new video starts where its first correction is
    assert torch.allclose(generator._flow_over_time({"delta": step[1:2], "grid": base[:1]})["delta"], step[1:2])
    generator.flow_smoothing = 0.0
    assert torch.equal(generator._flow_over_time(parts)["delta"], parts["delta"])


def test_the_held_flow_ignores_changes_within_its_band_and_follows_larger_ones():
    """flow_hold (model pixels; a model pixel is 2 / 64 grid units here): a correction that
    trembles by less than the band stays where it was, a larger move is followed less the band."""
    generator = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2).generator
    generator.flow_smoothing, generator.flow_hold = 0.0, 1.0
    pixel = 2 / 64
    moves = torch.tensor([0.0, 0.5, -0.4, 0.9, 3.0, 3.2]) * pixel  # along x, in grid units
    delta = torch.zeros(6, 1, 2, 2, 2)
    delta[..., 0] = moves.view(6, 1, 1, 1)
    held = generator._flow_over_time({"delta": delta, "grid": torch.zeros(6, 2, 2, 2) + delta[:, 0]})["delta"]
    expected = torch.tensor([0.0, 0.0, 0.0, 0.0, 2.0, 2.2]) * pixel
    assert torch.allclose(held[:, 0, 0, 0, 0], expected, atol=1e-6) and held[..., 1].abs().max() == 0
    with generator.stills():  # single pictures are not held to one another
        generator.reset_motion()
        assert torch.equal(generator._flow_over_time({"delta": delta, "grid": delta[:, 0]})["delta"], delta)
    assert generator.flow_hold == 1.0 and generator.flow_smoothing == 0.0


def test_in_a_video_the_painted_mouth_does_not_tremble_with_the_drivers_landmarks():
    """A driver whose landmarks tremble by a fraction of a pixel around an open mouth: rendered as a
    video the cavity is held (cavity_hold, cavity_paint_hold, cavity_smoothing) and the mouth
    changes far less from frame to frame than the same frames rendered as stills; a real opening
    (frames 4-5) shows from its first frame."""
    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    model.generator.flow_smoothing = model.generator.flow_hold = 0.0  # only the cavity's hold here
    pair = _mouth_pair()
    big = np.stack([np.kron(pair["shot"], np.ones((2, 2, 1), np.uint8))])
    points = (pair["shot_points"][None] + 0.5) * 2 - 0.5
    target = (pair["target_points"] + 0.5) * 2 - 0.5
    rng = np.random.default_rng(0)
    video = np.repeat(target[None], 6, 0).astype(np.float32)
    video[:4, 48:68] += rng.uniform(-0.4, 0.4, (4, 20, 2)).astype(np.float32)  # a tremble
    video[4:, [65, 66, 67, 56, 57, 58]] += np.float32([0, 4])  # then the jaw drops 4 px
    person = fsth.finetune(model, big, points, steps=0, progress=False)
    inside = mouth_masks(video, 128).max(0) > 0
    as_video = person.render(video, amp="none").astype(np.float32)
    as_stills = person.render(video, amp="none", video=False).astype(np.float32)
    tremble = lambda frames: np.abs(np.diff(frames[:4], axis=0)).mean(-1)[:, inside].mean()
    assert tremble(as_video) < 0.5 * tremble(as_stills) and tremble(as_stills) > 1.0
    opened = lambda frames: np.abs(frames[4] - frames[3]).mean(-1)[inside].mean()
    assert opened(as_video) > 0.4 * opened(as_stills) > 0  # the first frame of it: about half (the average)
    assert model.generator.cavity_hold > 0  # stills left the settings as they were


def test_the_painted_cavity_is_shown_in_full_unless_weights_from_before_say_otherwise():
    """cavity_shown (a saved buffer): 1 by default, the gate then shows the cavity whatever it
    learned; guided weights saved before it existed load with 0, the gate as they learned it."""
    from fsth.nn.conditioning import build
    from fsth.landmarks import draw_landmarks
    from fsth.io.tensors import to_tensor

    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    generator = model.generator.eval()
    torch.nn.init.constant_(generator.cavity_gate.bias, -4.0)  # a gate that learned to hide the cavity
    pair = _mouth_pair()
    target = pair["target_points"][None].astype(np.float32)
    inputs = build(generator.conditioning, to_tensor(pair["shot"][None]), pair["shot_points"][None], target, 64)

    def gate():
        with torch.no_grad():
            return generator(to_tensor(draw_landmarks(target, 64)), torch.zeros(1, generator.config.embed_dim),
                             return_parts=True, **inputs)["cavity_gate"]
    assert float(generator.cavity_shown) == 1.0 and torch.equal(gate(), torch.ones_like(gate()))
    old = {k: v for k, v in model.state_dict().items() if k != "generator.cavity_shown"}
    model.load_state_dict(old, strict=False)
    assert float(generator.cavity_shown) == 0.0 and gate().max() < 0.05
    generator.cavity_shown.fill_(0.5)
    again = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    again.load_state_dict(model.state_dict())
    assert float(again.generator.cavity_shown) == 0.5


def test_a_video_rendered_in_chunks_is_the_video_rendered_at_once():
    """Person.render starts a new video (the smoothed flow forgets the last call's);
    fsth.render.render_continued goes on with it, so chunks join up exactly."""
    from fsth.render import render_continued

    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    torch.nn.init.normal_(model.generator.flow_head[-1].weight, std=0.3)  # a flow that moves
    pair = _mouth_pair()
    big = np.stack([np.kron(pair["shot"], np.ones((2, 2, 1), np.uint8))])
    points = (pair["shot_points"][None] + 0.5) * 2 - 0.5
    rng = np.random.default_rng(0)
    targets = points + rng.normal(0, 1.5, (6, 68, 2)).astype(np.float32)
    person = fsth.finetune(model, big, points, steps=0, progress=False)
    whole = person.render(targets, amp="none")
    first = person.render(targets[:3], amp="none")
    assert np.array_equal(np.concatenate([first, person.render_continued(targets[3:], amp="none")]), whole)
    restarted = person.render(targets[3:], amp="none")
    assert not np.array_equal(restarted[0], whole[3])
    stills = person.render(targets, amp="none", video=False)  # independent pictures: each as if alone
    assert np.array_equal(stills[4], person.render(targets[4:5], amp="none")[0])
    assert not np.array_equal(stills[4], whole[4]) and person.generator.flow_smoothing == 0.7
    warp = fsth.create_baseline("warp", big, points)  # nothing carried: render_continued is render

    assert np.array_equal(render_continued(warp, targets[3:]), warp.render(targets[3:]))


def test_composing_at_full_resolution_raises_the_synthesis_share_to_its_floor():
    """_compose with ``synth_floor``: where the floor is 1 the output is the synthesis, where it is
    0 the shots as the (upsampled) mask mixed them, however little synthesis the mask gave."""
    from fsth.nn.warp_generator import GuidedWarpGenerator

    size = 16
    mask = torch.zeros(1, 2, 1, 8, 8)
    mask[:, 0] = 0.9  # one shot, and a synthesis path the mask almost ignores
    mask[:, 1] = 0.1
    identity = torch.stack(torch.meshgrid(torch.linspace(-1, 1, 8), torch.linspace(-1, 1, 8), indexing="xy"), -1)
    parts = {"mask": mask, "grid": identity[None]}
    shot = torch.full((1, 1, 3, size, size), -0.5)
    synth = torch.full((1, 3, size, size), 0.8)
    floor = torch.zeros(1, 1, size, size)
    floor[..., 4:12, 4:12] = 1.0
    out = GuidedWarpGenerator._compose(parts, shot, size, synth=synth, synth_floor=floor)
    plain = GuidedWarpGenerator._compose(parts, shot, size, synth=synth)
    assert torch.allclose(out[..., 4:12, 4:12], synth[..., 4:12, 4:12], atol=1e-5)
    assert torch.allclose(out[..., :2, :], plain[..., :2, :], atol=1e-6)
    assert torch.allclose(plain[..., 6, 6], torch.full((1, 3), 0.9 * -0.5 + 0.1 * 0.8), atol=1e-5)


def test_a_guided_model_floors_its_synthesis_with_the_cavity_drawn_at_the_outputs_size(monkeypatch):
    from fsth.nn.warp_generator import GuidedWarpGenerator

    seen = []
    compose = GuidedWarpGenerator._compose
    monkeypatch.setattr(GuidedWarpGenerator, "_compose",
                        staticmethod(lambda *a, **k: seen.append(k.get("synth_floor")) or compose(*a, **k)))
    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    pair = _mouth_pair()
    big = np.stack([np.kron(pair["shot"], np.ones((2, 2, 1), np.uint8))])
    points = (pair["shot_points"][None] + 0.5) * 2 - 0.5
    target = (pair["target_points"][None] + 0.5) * 2 - 0.5
    person = fsth.finetune(model, big, points, steps=0, progress=False)
    person.render(target, amp="none")
    cavity = mouth_cavity(points, target, 128)
    assert seen[-1].shape == (1, 1, 128, 128) and np.allclose(seen[-1][0, 0].numpy(), cavity[0, 3])
    person.generator.cavity_floor = False
    person.render(target, amp="none")
    assert seen[-1] is None
