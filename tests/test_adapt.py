import numpy as np
import pytest

from fsth.landmarks.adapt import CLOSED_PERCENTILE, adapt_landmarks, apply, best_reference, lip_gaps, similarity
from tests.helpers import face_points, ibug_face_points


def rotate(points, degrees, scale=1.0, shift=(0, 0)):
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * scale
    centre = points.mean(0)
    return ((points - centre) @ rot.T + centre + shift).astype(np.float32)


def widened(points, factor):
    """The same face with a wider jaw: another person's face shape."""
    out = points.copy()
    centre = points[:17, 0].mean()
    out[:17, 0] = centre + (points[:17, 0] - centre) * factor
    return out


def open_mouth(points, amount):
    out = points.copy()
    out[[56, 57, 58, 65, 66, 67], 1] += amount  # lower lip moves down
    out[7:10, 1] += amount  # and the chin with it
    return out


def test_similarity_normalizes_eyes():
    pts = face_points()
    norm = apply(similarity(rotate(pts, 30, 2.0, (15, -7))), rotate(pts, 30, 2.0, (15, -7)))
    assert np.allclose(norm[36:42].mean(0), [-0.5, 0], atol=1e-5)
    assert np.allclose(norm[42:48].mean(0), [0.5, 0], atol=1e-5)
    assert np.allclose(norm, apply(similarity(pts), pts), atol=1e-4)  # pose-free


def test_relative_keeps_the_portrait_shape_and_moves_its_mouth():
    portrait = face_points(200)
    driver = widened(face_points(256), 1.4)  # a broader face, larger in its frame
    frames = np.stack([driver, open_mouth(driver, 12.8), rotate(driver, 10)])
    out = adapt_landmarks(frames, portrait, "relative", eyes="relative", mouth="relative")  # lids, lips with the rest
    assert np.allclose(out[0], portrait, atol=1e-3)  # reference frame: the portrait itself
    retargeted = adapt_landmarks(frames, portrait, "relative", mouth="relative")  # lid gaps follow the driver's
    lids = [37, 38, 40, 41, 43, 44, 46, 47]
    assert np.allclose(np.delete(retargeted, lids, axis=1), np.delete(out, lids, axis=1))  # only the lids differ
    jaw = lambda p: np.ptp(p[:17, 0]) / np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0))  # noqa: E731
    assert jaw(out[1]) == pytest.approx(jaw(portrait), rel=1e-3)  # face shape kept
    # the mouth opens by the same fraction of the face size (256 px driver, 200 px portrait)
    assert out[1][57, 1] - portrait[57, 1] == pytest.approx(12.8 * 200 / 256, rel=1e-3)
    # head rotation is passed on: the eye line turns by the driver's 10 degrees
    eyes = out[2][42:48].mean(0) - out[2][36:42].mean(0)
    assert np.degrees(np.arctan2(eyes[1], eyes[0])) == pytest.approx(10, abs=0.1)


def lips_closed(points):
    """The face with its inner lips meeting: 67-65 onto 61-63 (upright, iBUG order)."""
    out = points.copy()
    out[[67, 66, 65]] = out[[61, 62, 63]]
    return out


def test_mouth_retargeting_parts_closed_lips_by_the_drivers_opening_beyond_closed():
    portrait, driver = lips_closed(ibug_face_points(200)), lips_closed(ibug_face_points(256))
    scale = np.linalg.norm(driver[45] - driver[36])
    frames = np.stack([open_mouth(driver, 0.1 * scale), driver, open_mouth(driver, 0.3 * scale)])  # ref ajar
    relative = adapt_landmarks(frames, portrait, "relative", reference=0, mouth="relative")
    retargeted = adapt_landmarks(frames, portrait, "relative", reference=0)
    assert lip_gaps(portrait)[0] == pytest.approx(0.0, abs=1e-6)
    # relative motion: the driver's closed mouth pushes the lower lip up through the upper one
    assert lip_gaps(relative) == pytest.approx([0.0, -0.1, 0.2], abs=2e-3)
    # retargeted: open by the driver's opening beyond its closed mouth (a low percentile of its gaps)
    closed = np.percentile([0.1, 0.0, 0.3], CLOSED_PERCENTILE)
    assert lip_gaps(retargeted) == pytest.approx(np.maximum(np.array([0.1, 0.0, 0.3]) - closed, 0), abs=2e-3)
    # only the lower lip and the chin move, across the mouth (an upright face: straight down)
    moved = np.flatnonzero(np.abs(retargeted - relative).max(axis=(0, 2)) > 1e-4)
    assert set(moved) <= {6, 7, 8, 9, 10, 55, 56, 57, 58, 59, 65, 66, 67} and {57, 66} <= set(moved)
    assert np.abs((retargeted - relative)[..., 0]).max() < 1e-3 and (retargeted - relative)[1, 66, 1] > 0
    # the driver's closed gap can be given (a live stream keeps a running one)
    kept = adapt_landmarks(frames, portrait, "relative", reference=0, driver_closed=0.05)
    assert lip_gaps(kept) == pytest.approx([0.05, 0.0, 0.25], abs=2e-3)
    with pytest.raises(ValueError, match="unknown mouth adaptation"):
        adapt_landmarks(frames, portrait, "relative", mouth="open")


def test_mouth_retargeting_keeps_an_open_portraits_relative_motion():
    driver = lips_closed(ibug_face_points(256))
    scale = np.linalg.norm(driver[45] - driver[36])
    portrait = ibug_face_points(200)  # lips apart
    opened = lip_gaps(portrait)[0]
    frames = np.stack([driver, open_mouth(driver, 0.2 * scale), open_mouth(driver, 0.05 * scale)])
    relative = adapt_landmarks(frames, portrait, "relative", reference=0, mouth="relative")
    retargeted = adapt_landmarks(frames, portrait, "relative", reference=0)
    assert np.allclose(retargeted, relative, atol=1e-3)  # the reference is the driver's closed mouth: nothing to fix
    # a reference more open than the portrait: the driver's shut mouth shuts the portrait's, no further
    ajar = np.stack([open_mouth(driver, (opened + 0.1) * scale), driver])
    assert lip_gaps(adapt_landmarks(ajar, portrait, "relative", reference=0, mouth="relative"))[1] == \
        pytest.approx(-0.1, abs=2e-3)  # relative: crossed
    assert lip_gaps(adapt_landmarks(ajar, portrait, "relative", reference=0))[1] == pytest.approx(0.0, abs=2e-3)


def test_none_gives_the_driver_face_shape():
    portrait = face_points(200)
    driver = widened(face_points(256), 1.4)
    out = adapt_landmarks(driver[None], portrait, "none")[0]
    jaw = lambda p: np.ptp(p[:17, 0]) / np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0))  # noqa: E731
    assert jaw(out) == pytest.approx(jaw(driver), rel=1e-3) and jaw(out) > 1.2 * jaw(portrait)
    assert np.allclose(out[36:48].mean(0), portrait[36:48].mean(0), atol=1e-3)  # re-centred on the eyes


def test_best_reference_and_errors():
    portrait = face_points()
    frames = np.stack([open_mouth(portrait, 20), rotate(portrait, 25, 1.3), open_mouth(portrait, 5)])
    assert best_reference(frames, portrait) == 1  # same shape, only posed differently
    with pytest.raises(ValueError, match="unknown adaptation"):
        adapt_landmarks(frames, portrait, "mirror")
    with pytest.raises(ValueError, match="degenerate"):
        similarity(np.zeros((68, 2)))
