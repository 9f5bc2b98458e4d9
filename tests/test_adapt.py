import numpy as np
import pytest

from fsth.landmarks.adapt import adapt_landmarks, apply, best_reference, similarity
from tests.helpers import face_points


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
    out = adapt_landmarks(frames, portrait, "relative", eyes="relative")  # the lids move with the rest
    assert np.allclose(out[0], portrait, atol=1e-3)  # reference frame: the portrait itself
    retargeted = adapt_landmarks(frames, portrait, "relative")  # the default: lid gaps follow the driver's
    lids = [37, 38, 40, 41, 43, 44, 46, 47]
    assert np.allclose(np.delete(retargeted, lids, axis=1), np.delete(out, lids, axis=1))  # only the lids differ
    jaw = lambda p: np.ptp(p[:17, 0]) / np.linalg.norm(p[36:42].mean(0) - p[42:48].mean(0))  # noqa: E731
    assert jaw(out[1]) == pytest.approx(jaw(portrait), rel=1e-3)  # face shape kept
    # the mouth opens by the same fraction of the face size (256 px driver, 200 px portrait)
    assert out[1][57, 1] - portrait[57, 1] == pytest.approx(12.8 * 200 / 256, rel=1e-3)
    # head rotation is passed on: the eye line turns by the driver's 10 degrees
    eyes = out[2][42:48].mean(0) - out[2][36:42].mean(0)
    assert np.degrees(np.arctan2(eyes[1], eyes[0])) == pytest.approx(10, abs=0.1)


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
