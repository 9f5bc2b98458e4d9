"""The mouth refiner (fsth.nn.mouth_refiner), its training (fsth.train.mouth) and the guided
model's full-resolution flow: a patch aligned by the mouth's corners that pastes back where it
came from, a refiner that does nothing until trained and then beats the plain render on mouths
it never saw, and flow corrections shortened by the dead zone — no more, no less."""
import numpy as np
import pytest
import torch

import fsth
from fsth.nn import patches
from fsth.nn.mouth_refiner import MOUTH, MouthRefiner, mouth_frames, mouth_maps
from fsth.train.mouth import MouthTrainConfig, add_mouth, mouth_samples, talking_clip
from fsth.train.refiners import patch_errors, train_refiner
from fsth.warp_hard import warp_hard_pairs

from .helpers import SMALL_MODEL


def _mouth_pair(size=128):
    pair = next(p for p in warp_hard_pairs(identities=1, size=size) if p["kind"] == "mouth")
    image = torch.from_numpy(pair["target"]).permute(2, 0, 1)[None].float() / 127.5 - 1
    return pair, image


def test_a_mouth_patch_pasted_back_lands_where_it_came_from():
    pair, image = _mouth_pair()
    points = pair["target_points"][None].astype(np.float64)
    frames = mouth_frames(points)
    patch = patches.sample_patches(image, frames, MOUTH)  # (1, 3, 48, 64)
    assert patch.shape == (1, 3, MOUTH.height, MOUTH.width)
    back = torch.nn.functional.grid_sample(patch, patches.image_grids(frames.reshape(-1, 3, 2), 128, MOUTH),
                                           align_corners=False)
    x, y = np.round(points[0, 60:68].mean(0)).astype(int)
    window = (slice(None), slice(y - 3, y + 4), slice(x - 6, x + 7))  # the open mouth: teeth and lips
    shifted = frames.copy()
    shifted[:, :, 0] += 3  # the same patch pasted 3 px off
    off = torch.nn.functional.grid_sample(patch, patches.image_grids(shifted.reshape(-1, 3, 2), 128, MOUTH),
                                          align_corners=False)
    error = float((back[0][window] - image[0][window]).abs().mean())
    # resampled twice (bilinear), so the teeth's edges soften a little; 3 px off, they don't line up
    assert error < 0.1 and error < 0.6 * float((off[0][window] - image[0][window]).abs().mean())


def test_mouth_maps_draw_a_wider_opening_for_an_open_mouth():
    pair, _ = _mouth_pair()
    shot, target = pair["shot_points"][None], pair["target_points"][None]
    closed, opened = mouth_maps(shot, mouth_frames(shot)), mouth_maps(target, mouth_frames(target))
    assert opened[0, 0].sum() > 2 * closed[0, 0].sum()
    assert (opened[0, 1] >= opened[0, 0] - 0.05).all()  # the lips' outline holds the opening


def test_talking_clips_close_the_shot_and_open_the_targets():
    from fsth.landmarks.regions import mouth_opening

    images, points = talking_clip(0, MouthTrainConfig(frames=6, sizes=(64,)))
    opening = mouth_opening(points)
    assert images.shape == (6, 64, 64, 3)
    assert opening[0] < 0.02 and (opening[1:] > 2 * opening[0]).all()


def test_an_untrained_mouth_refiner_leaves_the_render_as_it_was():
    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided_refined", num_videos=2)
    pair, _ = _mouth_pair()
    person = fsth.finetune(model, pair["shot"][None], pair["shot_points"][None], steps=0, progress=False)
    refined = person.render(pair["target_points"][None], amp="none")[0].astype(int)
    person.generator.refine_mouth = False
    plain = person.render(pair["target_points"][None], amp="none")[0].astype(int)
    assert np.abs(refined - plain).max() <= 1
    with torch.no_grad():
        assert float(MouthRefiner()(torch.randn(2, 9, 48, 64)).abs().max()) == 0.0


def test_mouth_training_beats_the_plain_render_on_patches_it_never_saw():
    torch.manual_seed(0)
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided_refined", num_videos=2).eval()
    config = MouthTrainConfig(identities=8, frames=6, sizes=(128,), steps=150, batch_size=16, lr=2e-3)
    inputs, targets = mouth_samples(model, config, progress=False)
    assert inputs.shape[1:] == (9, 48, 64) and len(inputs) == 8 * 5
    train_refiner(model.generator.mouth, inputs[:32], targets[:32], config, progress=False)
    plain, refined = patch_errors(model.generator.mouth, inputs[32:], targets[32:])
    assert refined < 0.9 * plain


def test_add_mouth_writes_a_refined_model_and_refuses_one_without_eyes(tmp_path):
    out = add_mouth(fsth.pretrained_path(fsth.GUIDED_MODEL), tmp_path / "mouth.pt",
                    MouthTrainConfig(identities=2, frames=3, sizes=(64,), steps=3), progress=False)
    assert out["samples"] == 4 and np.isfinite(out["loss_last"])
    model = fsth.load_model(tmp_path / "mouth.pt")
    assert model.config.generator == "guided_refined" and "mouth" in model.checkpoint_info["train_config"]
    assert float(model.generator.cavity_shown) == 1.0  # the recipe's, rendered with and saved
    add_mouth(fsth.pretrained_path(fsth.GUIDED_MODEL), tmp_path / "learned.pt",
              MouthTrainConfig(identities=2, frames=3, sizes=(64,), steps=1, cavity_shown=0.0), progress=False)
    assert float(fsth.load_model(tmp_path / "learned.pt").generator.cavity_shown) == 0.0
    with pytest.raises(ValueError, match="cavity_shown"):
        MouthTrainConfig(cavity_shown=1.5)
    with pytest.raises(ValueError, match="not a training checkpoint of a guided_eyes or guided_refined"):
        add_mouth(fsth.pretrained_path(fsth.SHIPPED_MODEL), tmp_path / "no.pt",
                  MouthTrainConfig(identities=1, frames=2, sizes=(64,), steps=1), progress=False)
    assert not (tmp_path / "no.pt").exists()


def test_the_flow_dead_zone_shortens_each_correction_by_its_width():
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    generator = model.generator
    generator.flow_deadzone = 0.5
    pixel = 2 / 64
    delta = torch.zeros(1, 1, 4, 4, 2)
    delta[0, 0, 0, 0] = torch.tensor([0.2 * pixel, 0.0])  # inside the zone: dropped
    delta[0, 0, 1, 1] = torch.tensor([3 * pixel, 4 * pixel])  # 5 px: 4.5 px left, same direction
    base = torch.rand(1, 4, 4, 2)
    parts = {"delta": delta, "grid": base + delta[:, 0]}
    grid = generator._flow_past_deadzone(parts)["grid"]
    kept = grid - base
    assert torch.allclose(kept[0, 0, 0], torch.zeros(2), atol=1e-7)
    assert torch.allclose(kept[0, 1, 1], torch.tensor([3.0, 4.0]) * pixel * 4.5 / 5, atol=1e-6)
    assert torch.allclose(kept[0, 2:], torch.zeros(2, 4, 2), atol=1e-7)
    generator.flow_deadzone = 0.0
    assert torch.allclose(generator._flow_past_deadzone(parts)["grid"], parts["grid"])


def test_the_flow_correction_is_dropped_inside_the_inner_face_and_kept_around_it():
    from fsth.guardrails import inner_face_mask

    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided", num_videos=2)
    target = warp_hard_pairs(identities=1, size=64)[0]["target_points"]
    delta = torch.full((1, 2, 64, 64, 2), 0.05)  # (B, K, S, S, 2): every pixel corrected
    base = torch.rand(2, 64, 64, 2)
    parts = {"delta": delta, "grid": base + delta.flatten(0, 1)}
    out = model.generator._flow_outside_face(parts, (target[None] + 0.5) * 4 - 0.5, 256)  # the points at 256 px
    kept = out["grid"] - base  # (K, S, S, 2)
    assert torch.allclose(kept, out["delta"].flatten(0, 1), atol=1e-6)
    inner = torch.from_numpy(inner_face_mask(target, 64)).float()
    assert inner.max() == 1 and inner.min() == 0
    for shot in kept:
        assert torch.allclose(shot[inner == 1], torch.zeros(2), atol=1e-6)  # the nose, eyes and lips: the warp's alone
        assert torch.allclose(shot[inner == 0], torch.tensor(0.05), atol=1e-6)  # the cheeks, jaw, hair: kept whole
        assert torch.allclose(shot, 0.05 * (1 - inner)[..., None], atol=1e-6)


def test_the_shipped_mouth_refiner_opens_held_out_mouths_better_than_the_enlarged_paint():
    """The shipped guided model with its mouth refiner on against the same model with it off, on
    held-out SynthHeads mouths (identities no training set used) at 128 px, inside the open mouth."""
    from fsth.warp_hard import region_errors, render_pairs

    model = fsth.load_model(fsth.pretrained_path(fsth.GUIDED_MODEL))
    assert model.config.generator == "guided_refined" and "mouth" in model.checkpoint_info["train_config"]
    pairs = [p for p in warp_hard_pairs(identities=6, size=128) if p["kind"] == "mouth"]
    warp = render_pairs(None, pairs)
    refined = region_errors(render_pairs(model, pairs), pairs, warp)["mouth_l1"]
    model.generator.refine_mouth = False
    plain = region_errors(render_pairs(model, pairs), pairs, warp)["mouth_l1"]
    # measured 0.46x (stop 38: the painted cavity shown in full, the refiner trained on it; AVX-512 CPU);
    # 0.48x at 64 px, 0.55x at 256 px
    assert refined < 0.7 * plain


def test_the_mouth_refiner_acts_only_as_the_lips_part_wider_than_the_shots():
    from fsth.guardrails import MOUTH_OPENS
    from fsth.landmarks.regions import mouth_opening

    pair, image = _mouth_pair()
    refiner = MouthRefiner()
    with torch.no_grad():
        refiner.out.bias.fill_(0.5)  # a refiner that changes everything it is given
    shot, target = pair["shot_points"][None], pair["target_points"][None]
    opens = float(np.clip((mouth_opening(target) - mouth_opening(shot))[0] / MOUTH_OPENS, 0, 1))
    assert opens > 0.5 and refiner.needed(shot, target).ravel() == pytest.approx([opens])
    assert refiner.needed(shot, shot).ravel() == pytest.approx([0.0])
    assert (refiner.refine(image, image, shot, shot) - image).abs().max() < 1e-6  # the shot's own mouth
    assert (refiner.refine(image, image, shot, target) - image).abs().max() > 0.1


def test_the_mouth_refiner_changes_the_opening_and_not_the_chin():
    """A refiner whose network asks for the same change everywhere: the render changes between the
    target's lips, and not on the chin or the cheeks (``MouthRefiner.where``)."""
    from fsth.landmarks.regions import INNER_LIPS, fill_polygon

    pair, image = _mouth_pair()
    refiner = MouthRefiner()
    torch.nn.init.constant_(refiner.out.bias, 1.0)  # tanh(1) · 2 · fade: a change across the fade's ellipse
    shot_points, target = pair["shot_points"][None], pair["target_points"][None]
    refined = refiner.refine(image, image, shot_points, target)
    changed = (refined - image).abs().amax(1)[0].detach().numpy()
    opening = np.zeros(changed.shape, np.float32)
    fill_polygon(opening, target[0, INNER_LIPS], 1.0)
    span = np.linalg.norm(target[0, 54] - target[0, 48])
    below = np.round(target[0, 57] + [0, 0.2 * span]).astype(int)  # under the lower lip, inside the fade's ellipse
    assert changed[opening > 0.5].mean() > 0.5
    assert changed[below[1], below[0]] < 0.05
    refiner.where = lambda inputs: 1.0  # without the bound the same network reshades the chin
    unbound = (refiner.refine(image, image, shot_points, target) - image).abs().amax(1)[0].detach().numpy()
    assert unbound[below[1], below[0]] > 0.5


def _random_refiner(balanced: bool) -> MouthRefiner:
    torch.manual_seed(0)
    refiner = MouthRefiner()
    torch.nn.init.normal_(refiner.out.weight, std=0.2)
    refiner.balanced.fill_(float(balanced))
    return refiner.eval()


def test_a_balanced_refiner_paints_in_the_portraits_own_palette():
    """White-balanced by the shot's patch, a refiner's change to a recoloured mouth (a varnished
    painting: less blue, more red) is its change to the original, recoloured the same way — so a
    refiner trained on SynthHeads' skin can't paint green on a yellow portrait. Without the
    balance the same network's change does not follow the colours."""
    pair, image = _mouth_pair()
    shot, target = pair["shot_points"][None], pair["target_points"][None]
    inputs, _ = MouthRefiner().patches(image, image, shot, target)
    gain = torch.tensor([1.3, 1.0, 0.55]).view(1, 3, 1, 1)  # in light ([0, 1]) units
    recoloured = torch.cat([(inputs[:, :6] + 1) * gain.repeat(1, 2, 1, 1) - 1, inputs[:, 6:]], 1)
    for balanced in (True, False):
        refiner = _random_refiner(balanced)
        with torch.no_grad():
            change, change_recoloured = refiner(inputs), refiner(recoloured)
        assert float(change.abs().mean()) > 0.02  # the network does change the patch
        error = float((change_recoloured - change * gain).abs().mean()) / float(change.abs().mean())
        assert (error < 1e-4) if balanced else (error > 0.1)


def test_refiner_weights_saved_before_the_balance_load_as_they_were_trained():
    new = MouthRefiner()
    assert float(new.balanced) == 1.0
    old = {k: v for k, v in new.state_dict().items() if k != "balanced"}
    loaded = MouthRefiner()
    loaded.load_state_dict(old)  # strict: the switch is filled in, as off
    assert float(loaded.balanced) == 0.0
    loaded.load_state_dict(new.state_dict())
    assert float(loaded.balanced) == 1.0
    model = fsth.create_model({**SMALL_MODEL, "image_size": 64}, generator="guided_refined", num_videos=2)
    without = {k: v for k, v in model.state_dict().items() if not k.startswith("generator.mouth.")}
    missing, _ = model.load_state_dict(without, strict=False)
    assert "generator.mouth.balanced" in missing  # a refiner that isn't there is not made up
