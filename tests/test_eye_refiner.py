"""The eye refiner (fsth.nn.eye_refiner) and its training (fsth.train.eyes): patches aligned by
the eyes' corners that paste back where they came from, both eyes alike, a refiner that does
nothing until trained, and a training that beats the plain render on patches it never saw."""
import numpy as np
import pytest
import torch

import fsth
from fsth.nn.eye_refiner import EYE, EyeRefiner, eye_frames, eye_maps, sample_patches
from fsth.nn.patches import image_grids
from fsth.train.eyes import EyeTrainConfig, add_eyes, blink_clip, eye_samples
from fsth.train.refiners import patch_errors, train_refiner
from fsth.warp_hard import warp_hard_pairs

from .helpers import SMALL_MODEL


def _face(size=128):
    pair = next(p for p in warp_hard_pairs(identities=1, size=size) if p["kind"] == "eyes")
    image = torch.from_numpy(pair["shot"]).permute(2, 0, 1)[None].float() / 127.5 - 1
    return image, pair["shot_points"][None].astype(np.float64)


def test_a_patch_pasted_back_through_its_frame_lands_where_it_came_from():
    image, points = _face()
    frames = eye_frames(points)
    patches = sample_patches(image, frames)  # (2, 3, 32, 64)
    grids = image_grids(frames.reshape(-1, 3, 2), 128, EYE)
    back = torch.nn.functional.grid_sample(patches, grids, align_corners=False)  # (2, 3, S, S)
    for side, eye in enumerate((range(36, 42), range(42, 48))):
        centre = np.round(points[0, list(eye)].mean(0)).astype(int)
        x, y = centre
        window = (slice(None), slice(y - 2, y + 3), slice(x - 4, x + 5))
        # resampled twice (bilinear), so within a few grey levels; a wrong frame is tens off
        assert (back[side][window] - image[0][window]).abs().mean() < 0.06


def test_both_eyes_look_alike_in_their_patches():
    """The second eye's frame is mirrored: the left eye of a mirrored face has the same patch
    as the right eye of the face."""
    image, points = _face()
    mirrored = image.flip(-1)
    mirrored_points = points.copy()
    mirrored_points[..., 0] = 127 - mirrored_points[..., 0]
    swap = np.r_[np.arange(16, -1, -1), np.arange(26, 16, -1), np.arange(27, 31), np.arange(35, 30, -1),
                 [45, 44, 43, 42, 47, 46], [39, 38, 37, 36, 41, 40],
                 [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55], [64, 63, 62, 61, 60, 67, 66, 65]]
    mirrored_points = mirrored_points[:, swap]
    a = sample_patches(image, eye_frames(points))
    b = sample_patches(mirrored, eye_frames(mirrored_points))
    assert (a[0] - b[1]).abs().mean() < 0.02 and (a[1] - b[0]).abs().mean() < 0.02
    assert (a[0] - a[1]).abs().mean() > 2 * (a[0] - b[1]).abs().mean()  # not trivially equal anyway


def test_eye_maps_draw_an_open_eye_and_a_shut_one():
    open_points = _face()[1]
    shut = open_points.copy()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        shut[:, [upper, lower]] = shut[:, [upper, lower]].mean(1, keepdims=True)
    maps_open, maps_shut = eye_maps(open_points, eye_frames(open_points)), eye_maps(shut, eye_frames(shut))
    assert maps_open[0, :, 0].sum() > 3 * maps_shut[0, :, 0].sum() > 0  # the opening: a line when shut
    assert maps_shut[0, :, 1].sum() > 20  # the upper lid is still drawn


def test_an_untrained_refiner_leaves_the_guided_render_as_it_was():
    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided_eyes", num_videos=2)
    pair = next(p for p in warp_hard_pairs(identities=2, size=128) if p["kind"] == "eyes")
    person = fsth.finetune(model, pair["shot"][None], pair["shot_points"][None], steps=0, progress=False)
    refined = person.render(pair["target_points"][None], amp="none")[0].astype(int)
    person.generator.refine_eyes = False
    plain = person.render(pair["target_points"][None], amp="none")[0].astype(int)
    assert np.abs(refined - plain).max() <= 1


def test_training_beats_the_plain_render_on_patches_it_never_saw():
    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided_eyes", num_videos=2).eval()
    config = EyeTrainConfig(identities=8, frames=6, sizes=(128,), steps=150, batch_size=16, lr=2e-3)
    inputs, targets = eye_samples(model, config, progress=False)
    assert inputs.shape[1:] == (9, 32, 64) and len(inputs) == 8 * 5 * 2
    refiner = model.generator.eyes
    train_refiner(refiner, inputs[:60], targets[:60], config, progress=False)
    plain, refined = patch_errors(refiner, inputs[60:], targets[60:])
    assert refined < 0.9 * plain


def test_blink_clips_open_the_shot_and_shut_some_targets():
    from fsth.landmarks.regions import eye_opening

    images, points = blink_clip(0, EyeTrainConfig(frames=12, sizes=(64,)))
    opening = eye_opening(points)
    assert images.shape == (12, 64, 64, 3)
    assert opening[0] >= np.quantile(opening, 0.7) and opening.min() < 0.35 * opening[0]


def test_add_eyes_retrains_the_shipped_models_eyes_and_refuses_another_kind(tmp_path):
    out = add_eyes(fsth.pretrained_path(fsth.GUIDED_MODEL), tmp_path / "eyes.pt",
                   EyeTrainConfig(identities=2, frames=3, sizes=(64,), steps=3), progress=False)
    assert out["samples"] == 8 and np.isfinite(out["loss_last"])
    model = fsth.load_model(tmp_path / "eyes.pt")
    # the shipped file has both refiners: it stays a guided_refined model, its eyes retrained
    assert model.config.generator == "guided_refined" and "eyes" in model.checkpoint_info["train_config"]
    assert out["samples"] == 8 and model.checkpoint_info["train_config"]["eyes"]["steps"] == 3
    with pytest.raises(ValueError, match="not a training checkpoint of a guided or guided_eyes or guided_refined"):
        add_eyes(fsth.pretrained_path(fsth.SHIPPED_MODEL), tmp_path / "no.pt",
                 EyeTrainConfig(identities=1, frames=2, sizes=(64,), steps=1), progress=False)
    assert not (tmp_path / "no.pt").exists()


def test_the_refiner_has_the_documented_shape():
    with torch.no_grad():
        change = EyeRefiner()(torch.randn(2, 9, 32, 64))
    assert change.shape == (2, 3, 32, 64) and float(change.abs().max()) == 0.0  # untrained: no change


def test_the_shipped_refiner_closes_held_out_blinks_better_than_the_lid_rule():
    """The shipped guided model with its refiner on against the same model with it off, on
    held-out SynthHeads blinks (identities no training set used), inside the eye regions."""
    from fsth.warp_hard import region_errors, render_pairs

    model = fsth.load_model(fsth.pretrained_path(fsth.GUIDED_MODEL))
    assert model.config.generator == "guided_refined"  # the eye refiner and, since, the mouth's
    pairs = [p for p in warp_hard_pairs(identities=6, size=128) if p["kind"] == "eyes"]
    warp = render_pairs(None, pairs)
    refined = region_errors(render_pairs(model, pairs), pairs, warp)["eyes_l1"]
    model.generator.refine_eyes = False
    plain = region_errors(render_pairs(model, pairs), pairs, warp)["eyes_l1"]
    assert refined < 0.85 * plain


def test_an_eye_whose_corners_meet_still_gives_finite_frames_and_an_unchanged_image():
    image, points = _face()
    points = points.copy()
    points[:, 36:42] = points[:, 36:37]  # every point of one eye on one pixel
    frames = eye_frames(points)
    assert np.isfinite(frames).all() and np.isfinite(image_grids(frames.reshape(-1, 3, 2), 128, EYE).numpy()).all()
    out = EyeRefiner().refine(image, image, points, points)
    assert torch.isfinite(out).all() and (out - image).abs().max() < 1e-6


def test_the_refiner_changes_a_closing_eye_and_leaves_an_open_one_as_the_warp_shows_it():
    image, points = _face()
    refiner = EyeRefiner()
    with torch.no_grad():
        refiner.out.bias.fill_(0.5)  # a refiner that changes everything it is given
    shut = points.copy()
    shut[:, [37, 38, 43, 44]] = shut[:, [41, 40, 47, 46]]  # both upper lids onto the lower ones
    half = points.copy()
    half[:, [37, 38]] = (points[:, [37, 38]] + points[:, [41, 40]]) / 2  # one eye half closed
    assert refiner.needed(points, np.concatenate([points, shut, half])) == pytest.approx(
        np.array([[0, 0], [1, 1], [1, 0]]), abs=1e-6)
    assert (refiner.refine(image, image, points, points) - image).abs().max() < 1e-6  # open: as it was
    changed = (refiner.refine(image.repeat(2, 1, 1, 1), image.repeat(2, 1, 1, 1), np.concatenate([points] * 2),
                              np.concatenate([shut, half])) - image).abs()
    assert changed[0].max() > 0.1 and changed[1].max() > 0.1


def test_a_refiners_change_is_averaged_over_a_videos_frames_only_when_asked():
    """change_smoothing: each frame's change (two patches a frame for the eyes) an exponential
    moving average of the frames before, continued across calls until reset_motion; the
    guided generator's stills() and reset_motion() reach its refiners."""
    refiner = EyeRefiner()
    change = torch.arange(3.0).view(3, 1, 1, 1, 1).expand(3, 2, 3, 4, 4).flatten(0, 1)  # frames 0, 1, 2
    assert torch.equal(refiner.over_time(change, 3), change)  # off by default
    refiner.change_smoothing = 0.5
    averaged = refiner.over_time(change, 3).unflatten(0, (3, 2))
    assert torch.allclose(averaged[:, :, 0, 0, 0], torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.25, 1.25]]))
    more = refiner.over_time(change[-2:], 1)  # the video goes on: 0.5 · 1.25 + 0.5 · 2
    assert torch.allclose(more, torch.full_like(more, 1.625))
    refiner.reset_motion()
    assert torch.equal(refiner.over_time(change[-2:], 1), change[-2:])
    generator = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided_refined", num_videos=2).generator
    generator.eyes.change_smoothing = generator.mouth.change_smoothing = 0.5
    generator.eyes.over_time(change, 3)
    generator.reset_motion()
    assert generator.eyes._change_before is None
    with generator.stills():
        assert generator.eyes.change_smoothing == 0.0 and generator.mouth.change_smoothing == 0.0
    assert generator.eyes.change_smoothing == 0.5 and generator.mouth.change_smoothing == 0.5
