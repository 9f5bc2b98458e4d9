"""Motion metrics on real portraits (fsth.metrics): mouth and eye openings, how much of the
driver's talking and blinking a result shows, flicker, and landmarks detected on frames."""
from __future__ import annotations

import numpy as np
import pytest

from fsth.metrics import (blink_ratio, blink_ratio_of, detected_landmarks, eye_opening, flicker, mouth_opening,
                          mouth_span_ratio)


def faces(mouth, eyes=None, scale: float = 1.0) -> np.ndarray:
    """(T, 68, 2) faces whose outer eye corners (36, 45) lie 100 * scale px apart, inner lips
    ``mouth`` and eyelids ``eyes`` (T,) face widths apart; every other point at a fixed place."""
    mouth = np.asarray(mouth, np.float64)
    eyes = np.full(len(mouth), 0.3) if eyes is None else np.asarray(eyes, np.float64)
    points = np.tile(np.linspace(0, 50, 68)[:, None], (len(mouth), 1, 2))
    points[:, 36], points[:, 45] = [0, 0], [100, 0]
    for upper, lower in zip([61, 62, 63], [67, 66, 65]):
        points[:, upper] = np.stack([np.full(len(mouth), 40.0 + upper), np.full(len(mouth), 80.0)], -1)
        points[:, lower] = points[:, upper] + np.stack([np.zeros(len(mouth)), 100 * mouth], -1)
    for upper, lower in zip([37, 38, 43, 44], [41, 40, 47, 46]):
        points[:, upper] = np.stack([np.full(len(eyes), 5.0 * upper - 170), np.full(len(eyes), -10.0)], -1)
        points[:, lower] = points[:, upper] + np.stack([np.zeros(len(eyes)), 100 * eyes], -1)
    return (points * scale + 7.0).astype(np.float32)


TALK = 0.05 + 0.1 * (1 + np.sin(np.arange(40) / 2.0))  # inner-lip gap over the clip, in face widths


def test_openings_are_gaps_in_face_widths_whatever_the_face_size():
    points = faces([0.0, 0.1, 0.25], eyes=[0.3, 0.02, 0.3], scale=3.7)
    assert np.allclose(mouth_opening(points), [0.0, 0.1, 0.25], atol=1e-5)
    assert np.allclose(eye_opening(points), [0.3, 0.02, 0.3], atol=1e-5)
    points[1] = np.nan
    assert np.isnan(mouth_opening(points)[1]) and np.isfinite(mouth_opening(points)[[0, 2]]).all()
    with pytest.raises(ValueError, match=r"\(T, 68, 2\)"):
        mouth_opening(points[0])


def test_mouth_span_ratio_measures_how_much_and_when_the_mouth_moves():
    driver = faces(TALK)
    assert np.allclose(mouth_span_ratio(driver, driver), (1.0, 1.0))
    half = faces(0.05 + 0.5 * (TALK - 0.05), scale=2.0)  # half the motion, a bigger face
    ratio, r = mouth_span_ratio(half, driver)
    assert ratio == pytest.approx(0.5, abs=1e-4) and r == pytest.approx(1.0, abs=1e-6)
    ratio, r = mouth_span_ratio(faces(TALK[::-1]), driver)  # as much motion, at the wrong times
    assert ratio == pytest.approx(1.0, abs=1e-4) and r < 0.5
    shut_ratio, shut_r = mouth_span_ratio(faces(np.full(40, 0.02)), driver)  # a mouth that never opens
    assert shut_ratio == 0.0 and np.isnan(shut_r)


def test_frames_without_a_face_are_left_out():
    driver, result = faces(TALK), faces(0.05 + 0.7 * (TALK - 0.05))
    result[[3, 17]] = np.nan
    keep = np.setdiff1d(np.arange(40), [3, 17])
    assert mouth_span_ratio(result, driver) == pytest.approx(mouth_span_ratio(result[keep], driver[keep]))
    assert np.isfinite(mouth_span_ratio(result, driver)).all()
    assert np.isnan(mouth_span_ratio(np.full((40, 68, 2), np.nan, np.float32), driver)).all()


def test_blink_ratio_tells_a_result_that_blinks_from_one_that_stares():
    eyes = np.full(40, 0.3)
    eyes[[10, 11, 25]] = 0.03  # the driver blinks on three frames
    driver = faces(TALK, eyes)
    assert blink_ratio(faces(TALK, eyes * 1.2), driver) == pytest.approx(0.1, abs=1e-4)  # blinks along
    assert blink_ratio(faces(TALK), driver) == pytest.approx(1.0)  # eyes open throughout
    assert np.isnan(blink_ratio(faces(TALK), faces(TALK)))  # a driver that never blinks
    no_face = faces(TALK, eyes * 1.2)
    no_face[[10, 11, 25]] = np.nan  # the result's face is lost exactly on the blinks: nothing to say
    assert np.isnan(blink_ratio(no_face, driver))
    # the same from opening series, whatever instrument read the result's: the driver picks the blinks
    mesh = np.full(40, 0.2)
    mesh[[10, 11, 25]] = 0.05
    assert blink_ratio_of(mesh, eye_opening(driver)) == pytest.approx(0.25)
    assert blink_ratio_of(eye_opening(faces(TALK, eyes * 1.2)), eye_opening(driver)) == \
        pytest.approx(blink_ratio(faces(TALK, eyes * 1.2), driver))


def test_flicker_compares_frame_changes_per_pixel_whatever_the_sizes():
    rng = np.random.default_rng(0)
    driver = rng.integers(0, 256, (6, 16, 24, 3), dtype=np.uint8)
    assert flicker(driver, driver) == pytest.approx(1.0)
    bigger = driver.repeat(2, axis=1).repeat(2, axis=2)  # the same changes on a 2x larger frame
    assert flicker(bigger, driver) == pytest.approx(1.0)
    still = np.repeat(driver[:1], 6, axis=0)
    assert flicker(still, driver) == 0.0
    calmer = (driver.astype(np.int16) // 4 + 100).astype(np.uint8)  # a quarter of the changes
    assert flicker(calmer, driver) == pytest.approx(0.25, abs=0.02)
    assert np.isnan(flicker(driver, still))
    with pytest.raises(ValueError, match="two frames"):
        flicker(driver[:1], driver)


def test_detected_landmarks_are_nan_where_no_face_was_found():
    face = faces([0.1])[0]

    class EveryOtherFrame:  # a detector stand-in that finds a face on even frames only
        def detect_frames(self, frames, source="", on_missing="raise", **_):
            assert on_missing == "skip"
            return [face + i if i % 2 == 0 else None for i, _ in enumerate(frames)]

    points = detected_landmarks(np.zeros((5, 8, 8, 3), np.uint8), EveryOtherFrame())
    assert points.shape == (5, 68, 2) and points.dtype == np.float32
    assert np.array_equal(points[[0, 2, 4]], np.stack([face, face + 2, face + 4]))
    assert np.isnan(points[[1, 3]]).all()
    assert np.isnan(mouth_opening(points)[[1, 3]]).all()


def test_detected_landmarks_with_dlib_on_a_real_face(samples, dlib_detector):
    from fsth.io.images import read_image

    photo = read_image(samples.fetch("grace_hopper"))
    points = detected_landmarks(np.stack([photo, np.zeros_like(photo)]), dlib_detector)
    assert np.isfinite(points[0]).all() and np.isnan(points[1]).all()
    assert 0 <= mouth_opening(points)[0] < 0.5 and 0.05 < eye_opening(points)[0] < 0.5


def test_mouth_interior_reads_teeth_dark_and_closed_mouths():
    """Teeth (bright), a dark cavity and a closed mouth, painted inside the inner lips of a
    canonical face on a uniform skin: each counted as what it is; closed mouths not at all."""
    import cv2

    from fsth.metrics import mouth_interior
    from tests.helpers import face_points

    face = face_points(256)
    closed, opened = face.copy(), face.copy()
    closed[[65, 66, 67]] = face[[63, 62, 61]]
    opened[[65, 66, 67]] += [0, 0.3 * np.linalg.norm(face[45] - face[36])]

    def painted(points, inside):
        frame = np.full((256, 256, 3), 150, np.uint8)
        cv2.fillPoly(frame, [np.round(points[60:68]).astype(np.int32)], (inside,) * 3)
        return frame

    teeth = mouth_interior([painted(opened, 240)] * 2, [opened] * 2)
    assert teeth["frames"] == 2 and teeth["bright"] > 0.95 and teeth["dark"] == 0
    assert teeth["brightness"] == pytest.approx(240 / 150)
    dark = mouth_interior([painted(opened, 20), painted(closed, 20)], [opened, closed])
    assert dark["frames"] == 1 and dark["dark"] > 0.95 and dark["bright"] == 0
    shut = mouth_interior([painted(closed, 240)], [closed])  # closed: nothing to read
    assert shut["frames"] == 0 and np.isnan(shut["bright"])
