"""The guard-rails of a warp (fsth.guardrails, fsth.eyelids): lids that close, a background that stays, a
mouth that opens — on SynthHeads pairs chosen where a plain warp must fail, and on geometry."""
import numpy as np
import pytest
import torch

from fsth.baselines import create_baseline
from fsth.eyelids import closing_eyes, lash_colour, opened_eyes, shut_eyes
from fsth.guardrails import (GuidedWarp, close_eyelids, guided_grids, head_mask, hold_background, hold_mouth,
                             inner_face_mask, mouth_cavity, skin_colour, steady_paint, tint)
from fsth.landmarks.adapt import adapt_landmarks, lid_gaps
from fsth.landmarks.regions import EYES, eye_gaps, eye_masks, interocular, mouth_masks
from fsth.warp import sampling_grids, source_positions
from fsth.warp_hard import warp_hard_pairs

SIZE = 64


@pytest.fixture(scope="module")
def pairs():
    return warp_hard_pairs(identities=6, size=SIZE)


def _shut(points):
    """The same face with both eyes shut: lower lids moved up onto the upper lids."""
    shut = np.array(points, np.float64)
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        shut[lower] = shut[upper] = (shut[upper] + shut[lower]) / 2
    return shut


def test_lids_leave_an_eye_as_open_as_the_shots_alone(pairs):
    points = pairs[0]["shot_points"]
    positions = source_positions(points, points, SIZE)
    assert np.allclose(close_eyelids(positions, points, points), positions)


def test_a_shut_target_eye_samples_skin_above_the_shots_eye_not_the_eye(pairs):
    points = pairs[0]["shot_points"]
    shut = _shut(points)
    plain = source_positions(points, shut, SIZE)
    lidded = close_eyelids(plain, points, shut)
    inside = eye_masks(shut, SIZE, heights=np.full((1, 2), 3.0))[0].max(0) > 0.5
    moved = np.linalg.norm(lidded - plain, axis=-1)
    assert moved[inside].mean() > 0.3  # pixels over the eye now come from elsewhere …
    assert (lidded[inside][:, 1] <= plain[inside][:, 1] + 1e-6).all()  # … from higher up: the lid above
    far = ~(eye_masks(shut, SIZE, heights=np.full((1, 2), 12.0))[0].max(0) > 0)
    assert np.allclose(lidded[far], plain[far])  # nothing moves away from the eyes


def _blue_eyed(points, size):
    """A flat skin-coloured face (uint8 (S, S, 3)) with pure blue eyes between its lids and a
    black lash line just above each upper lid."""
    import cv2

    image = np.zeros((size, size, 3), np.uint8)
    image[:] = (200, 150, 120)
    for eye in EYES:
        cv2.fillPoly(image, [np.round(points[eye]).astype(np.int32)], (0, 0, 255))
        lid = points[eye[[0, 1, 2, 3]]] - [0, 0.3 * eye_gaps(points)[0].mean() + 2]
        cv2.polylines(image, [np.round(lid).astype(np.int32)], False, (10, 10, 10), 2)
    return image


def test_a_shut_eye_is_covered_by_bare_lid_and_lashes_not_a_squashed_iris(pairs):
    size = 256
    points = (pairs[0]["shot_points"] + 0.5) * (size / SIZE) - 0.5
    shot, shut = _blue_eyed(points, size), _shut(points)
    inside = eye_masks(shut, size, heights=np.full((1, 2), 12.0))[0].max(0) > 0.5

    def blue(image):  # pixels still showing the iris
        return (image[..., 2].astype(int) - image[..., 0] > 40)[inside].mean()
    squashed = blue(create_baseline("warp", shot[None], points[None]).render(shut[None])[0])
    assert squashed > 0.2  # the plain warp squashes the iris into the shut eye
    assert blue(create_baseline("guided-warp", shot[None], points[None]).render(shut[None])[0]) < 0.15 * squashed
    lids = shut_eyes(shot, points)
    assert (lids[..., 2].astype(int) - lids[..., 0] <= 40).all()  # the bare lids: no blue, no lashes left
    assert np.abs(lids.astype(int) - [200, 150, 120]).max() < 30
    lashes = lash_colour(shot, points)
    assert lashes.max() < 0.2  # the lash line's colour is the lashes', not the iris's
    layers = closing_eyes(shot, lids, lashes, points, points[None])
    assert not layers[:, 3].any()  # an eye as open as the shot's is the warp's


def test_opened_eyes_give_the_target_the_shots_lid_gap_and_keep_the_rest(pairs):
    shot = pairs[0]["shot_points"]
    target = _shut(shot) * 1.1 + 2  # shut, a little nearer and to the side
    opened = opened_eyes(shot, target[None])[0]
    relative = lambda p: eye_gaps(p)[0] / interocular(p)[0]
    assert np.allclose(relative(opened), relative(shot), rtol=0.05)
    lids = np.concatenate([eye[[1, 2, 4, 5]] for eye in EYES])
    keep = np.setdiff1d(np.arange(68), lids)
    assert np.allclose(opened[keep], target[keep])


def test_background_is_held_outside_the_head_and_free_inside(pairs):
    points = pairs[0]["target_points"] * 0.5 + SIZE / 2  # the face in the middle of a frame twice as wide
    size = 2 * SIZE
    mask = head_mask(points, size)
    nose = int(points[30, 1]), int(points[30, 0])
    assert mask[nose] == pytest.approx(1.0)  # the nose tip is head
    assert mask[0, 0] == 0 and mask[0, -1] == 0 and mask[-1, 0] == 0  # the corners are background
    shifted = np.full((size, size, 2), 5.0)
    held = hold_background(shifted, points)
    assert np.allclose(held[0, 0], [0, 0]) and np.allclose(held[0, -1], [size - 1, 0])  # identity there
    assert np.allclose(held[nose], 5.0)  # the head moves as the warp says
    assert held.shape == shifted.shape and np.isfinite(held).all()


def test_the_inner_face_mask_covers_brows_eyes_nose_and_lips_and_fades_before_the_chin(pairs):
    for pair in pairs:
        points = pair["target_points"] * 2  # 128 px
        mask = inner_face_mask(points, 2 * SIZE)
        hull = inner_face_mask(points, 2 * SIZE, grow=0.0, feather=1e-3)  # the bare hull of points 17-67
        assert hull.sum() > 0 and (mask[hull > 0.5] == 1).all()  # whole inside the hull, and beyond it
        assert mask.sum() > hull.sum()  # grown and feathered outwards
        at = lambda p: mask[int(round(p[1])), int(round(p[0]))]  # noqa: E731
        for feature in (30, 51, 57, 19, 24):  # nose tip, lips, brows
            assert at(points[feature]) == 1
        for jaw in (6, 8, 10):  # the chin
            assert at(points[jaw]) < 0.5
        assert sum(at(p) < 0.5 for p in points[:17]) >= 10  # most of the jaw: cheeks a turn reveals stay free
        assert mask[0, 0] == 0 and 0 <= mask.min() and mask.max() <= 1


def test_cavity_is_painted_only_where_the_lips_part_wider_than_the_shots(pairs):
    mouth = next(p for p in pairs if p["kind"] == "mouth")
    same = mouth_cavity(mouth["shot_points"], mouth["shot_points"][None], SIZE)
    assert same[:, 3].max() == 0  # the shot's own mouth: nothing to paint
    opened = mouth_cavity(mouth["shot_points"], mouth["target_points"][None], SIZE)[0]
    inside = mouth_masks(mouth["target_points"], SIZE)[0] > 0.5
    assert opened[3][inside].mean() > 0.5 and opened[3][~(mouth_masks(mouth["target_points"], SIZE)[0] > 0)].max() < 0.5
    colour = opened[:3][:, inside]
    assert colour.mean() < 0.6  # mostly a dark cavity …
    assert colour.max() > 0.6  # … with teeth


def test_a_held_mouth_ignores_a_tremble_within_its_band_and_follows_larger_moves(pairs):
    """hold_mouth: the mouth's 20 points move only by what they moved beyond band × the eye
    corners' distance since their last held place; the other 48 points are left as they are,
    and a second call continues from the first's last frame."""
    face = np.asarray(pairs[0]["target_points"], np.float64)
    band = 0.02 * float(interocular(face)[0])
    shifts = np.array([0.0, 0.5, -0.5, 0.9, 3.0, 3.0]) * band  # the whole face, along x
    video = np.repeat(face[None], len(shifts), 0)
    video[..., 0] += shifts[:, None]
    held, last = hold_mouth(video, None, 0.02)
    moved = held[:, 48:68, 0] - face[None, 48:68, 0]
    assert np.allclose(moved, np.array([0, 0, 0, 0, 2, 2])[:, None] * band)
    assert np.array_equal(held[:, :48], video[:, :48]) and np.array_equal(last, held[-1])
    more, _ = hold_mouth(video[:1], last, 0.02)  # the video goes on: back by 3 bands, held 1 band short
    assert np.allclose(more[0, 48:68, 0] - face[48:68, 0], 1 * band)
    fresh, _ = hold_mouth(video[1:2], None, 0.02)  # a new video starts where its first frame is
    assert np.array_equal(fresh, video[1:2])
    assert np.array_equal(hold_mouth(video, None, 0.0)[0], video)


def test_steady_paint_holds_small_changes_follows_large_ones_and_averages():
    """steady_paint on the premultiplied paint, pixel by pixel: a change within the band is
    held, a larger one followed less the band, then averaged with the last frame; the colour
    comes back un-premultiplied."""
    alpha = torch.tensor([0.0, 0.03, -0.01, 0.6, 0.6]) + 0.2  # one pixel's alpha over five frames
    cavity = torch.zeros(5, 4, 1, 1)
    cavity[:, 3, 0, 0] = alpha
    cavity[:, :3] = 0.5  # a constant colour
    held, last = steady_paint(cavity, None, band=0.05, keep=0.0)
    assert torch.allclose(held[:, 3, 0, 0], torch.tensor([0.2, 0.2, 0.2, 0.75, 0.75]))
    assert torch.allclose(held[:, :3], torch.full_like(held[:, :3], 0.5))
    averaged, _ = steady_paint(cavity, None, band=0.0, keep=0.5)
    assert torch.allclose(averaged[:, 3, 0, 0], torch.tensor([0.2, 0.215, 0.2025, 0.50125, 0.650625]))
    go_on, _ = steady_paint(cavity[4:], last, band=0.05, keep=0.0)  # continues from the last frame
    assert torch.allclose(go_on[:, 3, 0, 0], torch.tensor([0.75]))
    same, none = steady_paint(cavity, None, band=0.0, keep=0.0)
    assert same is cavity and none is None


def test_the_guard_rails_hold_their_cavity_still_in_a_video_and_not_across_stills(pairs):
    """GuidedWarp renders a video with its cavity held (the guided generator's rule): a mouth
    whose landmarks tremble by a fraction of a pixel changes far less from frame to frame than
    the same frames as stills; a video rendered in chunks, or frame by frame as a stream,
    continues the hold; a single frame is rendered as it always was."""
    pair = next(p for p in pairs if p["kind"] == "mouth")
    big = np.stack([np.kron(pair["shot"], np.ones((4, 4, 1), np.uint8))])  # 256 px
    points = (pair["shot_points"][None] + 0.5) * 4 - 0.5
    target = (pair["target_points"] + 0.5) * 4 - 0.5
    rng = np.random.default_rng(0)
    video = np.repeat(target[None], 5, 0)
    video[:, 48:68] += rng.uniform(-0.5, 0.5, (5, 20, 2))
    head = create_baseline("guided-warp", big, points)
    inside = mouth_masks(video, 256).max(0) > 0
    tremble = lambda frames: np.abs(np.diff(frames.astype(np.float32), axis=0)).mean(-1)[:, inside].mean()
    as_video, as_stills = head.render(video), head.render(video, video=False)
    assert tremble(as_video) < 0.5 * tremble(as_stills) and tremble(as_stills) > 1.0
    in_chunks = np.concatenate([head.render(video[:2]), head.render_continued(video[2:])])
    assert np.array_equal(in_chunks, as_video)
    head.render(video[:1])  # a new video starts here
    streamed = np.stack([as_video[0]] + [head.render_one(p) for p in video[1:]])
    assert np.array_equal(streamed, as_video)
    assert np.array_equal(head.render(video[3:4]), as_stills[3:4])


def test_tint_follows_the_portraits_skin():
    painted = torch.full((1, 3, 4, 4), 0.7)
    warm, cool = tint(painted, torch.tensor([[0.8, 0.6, 0.3]])), tint(painted, torch.tensor([[0.5, 0.55, 0.6]]))
    assert warm[0, 0].mean() > warm[0, 2].mean() and cool[0, 2].mean() > cool[0, 0].mean()
    shots = torch.zeros(1, 1, 3, 8, 8)
    shots[..., 3:5, 3:5] = 1.0
    assert torch.allclose(skin_colour(shots), torch.ones(1, 3))


def test_guided_grids_differ_from_plain_grids_only_where_a_rule_applies(pairs):
    points = pairs[0]["shot_points"]
    shut = _shut(points)
    plain, guided = sampling_grids(points, shut[None], SIZE), guided_grids(points, shut[None], SIZE)
    assert plain.shape == guided.shape == (1, 1, SIZE, SIZE, 2)
    assert not torch.allclose(plain, guided)
    same = guided_grids(points, points[None], SIZE)
    face = torch.from_numpy(head_mask(points, SIZE) > 0.999)
    assert torch.allclose(same[0, 0][face], sampling_grids(points, points[None], SIZE)[0, 0][face], atol=1e-5)


def test_guided_warp_opens_the_mouth_where_the_plain_warp_stretches_the_lips(pairs):
    """On SynthHeads mouth pairs the painted cavity is darker than the stretched lips, as the
    open mouth is: the guided warp's mouth is closer to the truth's brightness."""
    mouths = [p for p in pairs if p["kind"] == "mouth"]
    gaps = {"warp": [], "guided-warp": []}
    for pair in mouths:
        inside = mouth_masks(pair["target_points"], SIZE)[0] > 0.5
        truth = pair["target"][inside].mean()
        for name in gaps:
            rendered = create_baseline(name, pair["shot"][None], pair["shot_points"][None]).render(
                pair["target_points"][None])[0]
            gaps[name].append(abs(rendered[inside].mean() - truth))
    assert isinstance(create_baseline("guided-warp", mouths[0]["shot"][None], mouths[0]["shot_points"][None]),
                      GuidedWarp)
    assert np.mean(gaps["guided-warp"]) < np.mean(gaps["warp"])


def test_retargeted_eyes_shut_when_the_drivers_do_and_keep_a_shut_portrait_shut(pairs):
    face = pairs[0]["shot_points"]
    open_, shut = face, _shut(face)
    driving = np.stack([open_] * 8 + [shut])
    adapted = adapt_landmarks(driving, face, "relative", reference=0)
    assert lid_gaps(adapted[-1]).max() < 0.05 * lid_gaps(face).max()
    assert np.allclose(lid_gaps(adapted[0]), lid_gaps(face), rtol=1e-3)
    relative = adapt_landmarks(driving, shut, "relative", reference=0)  # a portrait with shut eyes
    assert np.allclose(relative, adapt_landmarks(driving, shut, "relative", reference=0, eyes="relative"))
    with pytest.raises(ValueError, match="eye adaptation"):
        adapt_landmarks(driving, face, eyes="squint")


def test_a_map_computed_at_low_resolution_matches_the_full_map_within_a_pixel(pairs):
    """Live rendering computes the warp's map at 64 px and upsamples it (``map_size``)."""
    from fsth.warp import WarpedPortrait

    pair = pairs[0]
    big = np.kron(pair["shot"], np.ones((4, 4, 1), np.uint8))[None]  # 256 px
    points, target = (pair["shot_points"][None] + 0.5) * 4 - 0.5, (pair["target_points"] + 0.5) * 4 - 0.5
    full, fast = WarpedPortrait(big, points), WarpedPortrait(big, points, map_size=64)
    face = head_mask(target, 256) > 0.5
    assert np.abs(fast.positions(target) - full.positions(target))[face].mean() < 1.0
    assert create_baseline("guided-warp", big, points, map_size=64).render(target[None]).shape == (1, 256, 256, 3)


def test_an_eye_a_detector_reads_as_nearly_shut_is_drawn_shut():
    """dlib's points never quite close (a shut eye reads ~0.3 of its open gap): retargeting
    stretches such readings to shut and leaves open-ish ones as they are."""
    from fsth.landmarks.adapt import KNEE, SHUT_READING, openness

    readings = np.array([0.0, SHUT_READING, 0.5 * (SHUT_READING + KNEE), KNEE, 0.8, 1.0, 2.0])
    assert np.allclose(openness(readings), [0, 0, KNEE / 2, KNEE, 0.8, 1.0, 1.3])
    assert (np.diff(openness(np.linspace(0, 2, 101))) >= 0).all()
