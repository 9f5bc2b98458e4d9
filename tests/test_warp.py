"""The landmark-warp baseline: a piecewise-affine warp of the portrait's own pixels."""
import numpy as np
import pytest

from fsth.warp import border_anchors, source_positions, warp_portrait
from tests.helpers import face_points


@pytest.fixture
def portrait():
    rng = np.random.default_rng(0)
    smooth = rng.integers(0, 255, (8, 8, 3)).astype(np.uint8)
    return np.kron(smooth, np.ones((8, 8, 1), np.uint8))  # 64 px of 8 px blocks


def test_warping_to_its_own_landmarks_changes_nothing(portrait):
    points = face_points(64)
    assert np.array_equal(warp_portrait(portrait, points, points[None])[0], portrait)


def test_a_moved_face_moves_the_pixels_with_it(portrait):
    points = face_points(64)
    shifted = points + [3.0, 0.0]
    positions = source_positions(points, shifted, 64)
    inside = positions[28:40, 24:40]  # the middle of the face: inside the landmark mesh
    assert np.allclose(inside[..., 0], np.mgrid[28:40, 24:40][1] - 3.0, atol=1e-6)
    assert np.allclose(inside[..., 1], np.mgrid[28:40, 24:40][0], atol=1e-6)
    corners = border_anchors(64)[::2].astype(int)  # the four corners stay put
    assert np.allclose(positions[corners[:, 1], corners[:, 0]], corners)
    frames = warp_portrait(portrait, points, np.stack([points, shifted]))
    assert frames.shape == (2, 64, 64, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[1, 30:38, 30:38], portrait[30:38, 27:35])


def test_bad_input_is_refused_with_a_message(portrait):
    points = face_points(64)
    with pytest.raises(ValueError, match="square"):
        warp_portrait(portrait[:, :40], points, points[None])
    bad = points.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        warp_portrait(portrait, points, bad[None])


@pytest.mark.parametrize("case", ["moved", "off the frame", "coincident", "random"])
def test_one_blas_thread_changes_no_pixel_even_for_degenerate_landmarks(case):
    """source_positions limits BLAS to one thread: every pixel still lands where the course's
    reference (scipy's point location, an affine solve per triangle, default threads) puts it,
    also with landmarks off the frame (clipped onto the border) or on top of each other."""
    from teachers import solutions

    rng = np.random.default_rng(1)
    points = face_points(64)
    target = {"moved": points * 1.1 - 3 + rng.normal(0, 0.5, points.shape),
              "off the frame": points + [25.0, -20.0],
              "coincident": np.round(points / 8) * 8,
              "random": rng.uniform(0, 63, points.shape)}[case]
    assert np.allclose(source_positions(points, target, 64), solutions.piecewise_warp(points, target, 64), atol=1e-8)
