"""SynthHeads' region masks and what the open mouth and closing eyes show: masks that are exactly the
pixels each region shows, teeth and tongue behind open lips, lids that cover the eye, masks stored
with every written clip."""
import dataclasses

import numpy as np
import pytest

from fsth.data import ClipError, list_clips, load_clip, save_clip
from fsth.data.synthetic import (REGIONS, Pose, Renderer, load_masks, random_identity, render_clip,
                                 write_dataset)
from fsth.data.synthetic import render as painting


def person(index: int, seed: int = 0):
    return random_identity(np.random.default_rng([seed, index]))


def colour_angle(pixels, colour) -> np.ndarray:
    """Angles in degrees between RGB pixels (..., 3) and a colour: hue and saturation, whatever the
    brightness (the shading multiplies colours)."""
    a, b = np.asarray(pixels, float) + 1, np.asarray(colour, float) + 1
    cos = (a @ b) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


POSES = [Pose(), Pose(jaw=0.8), Pose(jaw=1.0, smile=0.7, yaw=25), Pose(blink=0.5, pitch=10),
         Pose(blink=1.0, yaw=-30, roll=8), Pose(jaw=0.6, blink=0.3, yaw=40, brows=1.0)]
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def flat_shading(monkeypatch):
    """Frames without shading: the painted canvas shrunk, so pixel values are painted coverage."""
    monkeypatch.setattr(Renderer, "_shading", lambda self, rot, shift, flat, light: (
        np.ones((self.size, self.size), np.float32), np.zeros((self.size, self.size), np.float32)))


def shows(renderer, pose, monkeypatch, colours=(), who_fields=(), background=False) -> np.ndarray:
    """How much of each pixel (0-255) shows what is painted in the named colours: the frame with
    them all black against the frame with them all white (``background``: the background's)."""
    frames = []
    for colour in (BLACK, WHITE):
        for name in colours:
            monkeypatch.setattr(painting, name, colour)
        renderer.who = dataclasses.replace(renderer.who, **{field: colour for field in who_fields})
        if background:
            renderer.background = np.full_like(renderer.background, colour[0])
        frames.append(renderer.render(pose)[0].astype(int))
    return np.abs(frames[1] - frames[0]).max(axis=-1)


REGION_COLOURS = {  # what each region's pixels are painted in: render.py's colours, the identity's
    "mouth": dict(colours=("MOUTH", "TONGUE", "TEETH", "LOWER_TEETH", "TEETH_SEAMS")),
    "teeth": dict(colours=("TEETH", "LOWER_TEETH", "TEETH_SEAMS")),
    "eyes": dict(colours=("SCLERA", "PUPIL", "GLINT"), who_fields=("iris",)),
}


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize("size", [64, 128])
def test_each_mask_is_the_pixels_that_show_its_region(index, size, monkeypatch):
    """A pixel is in a region exactly when more than half of it shows the region: painting the
    region black, then white, changes it by more than half of 255 (up to rounding)."""
    flat_shading(monkeypatch)
    for n, pose in enumerate(POSES):
        renderer = Renderer(person(index), size)
        masks = renderer.render(pose, masks=True)[2]
        assert set(masks) == set(REGIONS)
        assert all(m.dtype == bool and m.shape == (size, size) for m in masks.values())
        for name, how in REGION_COLOURS.items():
            with monkeypatch.context() as patch:
                shown = shows(Renderer(person(index), size), pose, patch, **how)
            clear = np.abs(shown - 127.5) > 6  # away from the cut, where rounding can't decide
            assert np.array_equal(masks[name][clear], shown[clear] > 127.5), (name, n)
        with monkeypatch.context() as patch:
            background = shows(Renderer(person(index), size), pose, patch, background=True)
        clear = np.abs(background - 127.5) > 6
        assert np.array_equal(masks["head"][clear], background[clear] < 127.5), ("head", n)


def nearest(pixels, colours) -> np.ndarray:
    """Per pixel, the smallest colour angle to any of the colours."""
    return np.min([colour_angle(pixels, c) for c in colours], axis=0)


@pytest.mark.parametrize("index", range(6))
def test_regions_in_natural_colours(index):
    """With shading: the open mouth shows dark cavity, tongue and teeth, closed it shows nothing;
    the eyes show white and iris, closed they vanish under lid skin; the head is not background."""
    who = person(index, seed=3)
    renderer = Renderer(who, 128)
    frame, _, masks = renderer.render(Pose(jaw=0.8), masks=True)
    mouth, teeth = masks["mouth"], masks["teeth"]
    assert mouth.sum() >= 40 and teeth.sum() >= 20 and not (teeth & ~mouth).any()
    inside = frame[mouth & ~teeth]
    near, skin = nearest(inside, (painting.MOUTH, painting.TONGUE)), nearest(inside, (who.skin, who.lips))
    assert np.median(near) < min(5, np.median(skin)), "cavity and tongue, not lips or skin"
    assert np.mean(colour_angle(frame[teeth], painting.TEETH) < colour_angle(frame[teeth], who.lips)) > 0.75
    assert frame[teeth].mean() > inside.mean() + 30, "teeth are bright against the dark mouth"
    closed = renderer.render(Pose(jaw=0.0), masks=True)[2]
    assert not closed["mouth"].any() and not closed["teeth"].any()

    areas = [renderer.render(Pose(blink=b), masks=True)[2] for b in (0.0, 0.5, 0.9, 1.0)]
    eyes = [a["eyes"].sum() for a in areas]
    assert eyes[0] >= 40 and eyes[0] > eyes[1] > eyes[2] >= eyes[3] == 0, eyes
    for a in areas:  # the eye regions: what a blink changes, the same whatever the blink
        assert not (a["eyes"] & a["eyelids"]).any()
        assert np.array_equal(a["eyes"] | a["eyelids"], areas[0]["eyes"] | areas[0]["eyelids"])
    frame = renderer.render(Pose())[0]
    balls = frame[areas[0]["eyes"]]
    assert np.median(nearest(balls, (painting.SCLERA, who.iris, painting.PUPIL))) < np.median(colour_angle(balls, who.skin))
    frame, _, shut = renderer.render(Pose(blink=1.0), masks=True)
    lids = frame[shut["eyelids"]]
    assert np.median(colour_angle(lids, who.skin)) < np.median(colour_angle(lids, painting.SCLERA)), "lid skin"

    backdrop = painting.background(who, renderer.scene, 128)
    for pose in POSES:
        frame, _, masks = renderer.render(pose, masks=True)
        outside = np.abs(frame.astype(float) - backdrop)[~masks["head"]].max(axis=-1)
        assert np.median(outside) < 4, "outside the head: the background"
        assert masks["head"].mean() > 0.3
        assert not ((masks["mouth"] | masks["eyes"] | masks["eyelids"]) & ~masks["head"]).any()


def test_open_mouth_shows_upper_and_lower_teeth_and_tongue():
    who = person(2)
    renderer = Renderer(who, 256)
    frame, points, masks = renderer.render(Pose(jaw=1.0), masks=True)
    rows = np.flatnonzero(masks["teeth"].any(axis=1))
    assert np.diff(rows).max() > 3, "two rows of teeth with the mouth between them"
    inside = frame[masks["mouth"] & ~masks["teeth"]]
    assert (colour_angle(inside, painting.TONGUE) < 4).sum() > 40, "the tongue shows"
    assert (colour_angle(inside, painting.MOUTH) < 4).sum() > 40, "so does the dark cavity"


def test_default_render_is_unchanged_by_masks():
    renderer = Renderer(person(1), 64)
    for pose in POSES:
        frame, points = renderer.render(pose)
        again, same, _ = renderer.render(pose, masks=True)
        assert np.array_equal(frame, again) and np.array_equal(points, same)


def test_light_drifts_within_a_clip_and_stays_in_range():
    frames, _, poses = render_clip(person(0), frames=32, size=64, seed=1)
    moved = [np.ptp(poses[k]) for k in ("light_yaw", "light_pitch")]
    assert max(moved) > 0.1 and all(np.abs(poses[k]).max() <= 30 for k in ("light_yaw", "light_pitch"))
    renderer = Renderer(person(0), 64)
    left, right = (renderer.render(Pose(light_yaw=a, light_pitch=10), masks=True) for a in (-20, 20))
    assert np.abs(left[0].astype(float) - right[0]).mean() > 2, "the light moves"
    assert np.array_equal(left[1], right[1]) and all(np.array_equal(left[2][k], right[2][k]) for k in REGIONS)


def test_clips_store_their_masks(tmp_path):
    write_dataset(tmp_path, identities=2, clips_per_identity=1, frames=5, size=32, seed=4, progress=False)
    paths = list_clips(tmp_path)
    clip = load_clip(paths[1])
    masks = load_masks(paths[1])
    frames, _, _, truth = render_clip(person(1, seed=4), 5, 32, clip.meta["clip_seed"], masks=True)
    assert list(masks) == list(REGIONS) == clip.meta["mask_regions"]
    assert all(masks[k].dtype == bool and masks[k].shape == (5, 32, 32) for k in masks)
    assert all(np.array_equal(masks[k], truth[k]) for k in REGIONS)
    some = load_masks(paths[1], [4, 0])
    assert all(np.array_equal(some[k], truth[k][[4, 0]]) for k in REGIONS)
    with pytest.raises(ClipError, match="frame 5"):
        load_masks(paths[1], [5])
    old = save_clip(tmp_path / "old.npz", clip.frames, clip.landmarks, {"identity": "x"})
    assert load_clip(old).frames.shape == clip.frames.shape  # clips without masks load as before
    with pytest.raises(ClipError, match="no region masks"):
        load_masks(old)
    with pytest.raises(ClipError, match="extra array"):
        save_clip(tmp_path / "bad.npz", clip.frames, clip.landmarks, {}, arrays={"landmarks": clip.landmarks})
