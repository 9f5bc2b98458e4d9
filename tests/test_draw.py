import numpy as np
import pytest

from fsth.landmarks import PART_COLORS, PARTS, draw_landmarks, line_width, overlay_landmarks
from tests.helpers import face_points


def test_shapes_and_batch_equals_single():
    pts = face_points()
    single = draw_landmarks(pts, 256)
    batch = draw_landmarks(np.stack([pts, pts + 3]), 256)
    assert single.shape == (256, 256, 3) and single.dtype == np.uint8
    assert batch.shape == (2, 256, 256, 3)
    assert np.array_equal(batch[0], single)
    assert not np.array_equal(batch[1], single)
    assert draw_landmarks(pts / 2, (100, 128)).shape == (100, 128, 3)


def test_each_part_has_its_colour_and_lines_are_antialiased():
    img = draw_landmarks(face_points(), 256)
    colours = {tuple(c) for c in img.reshape(-1, 3)}
    for name in PARTS:
        assert PART_COLORS[name] in colours, name
    # anti-aliasing leaves intermediate intensities at the line edges
    assert len(colours) > 3 * len(PARTS)


def test_line_width_scales_with_size():
    assert line_width(64) == 1 and line_width(256) == 2 and line_width(512) == 4
    pts = face_points(256)
    thin = (draw_landmarks(pts / 4, 64).max(-1) > 127).sum() * 16
    thick = (draw_landmarks(pts, 256).max(-1) > 127).sum()
    assert thick > thin * 0.4  # drawn area keeps pace with the image, not fixed at 1 px


def test_bad_shapes_raise_and_missing_faces_stay_black():
    with pytest.raises(ValueError, match="68, 2"):
        draw_landmarks(np.zeros((67, 2)), 64)
    with pytest.raises(ValueError, match="positive"):
        draw_landmarks(face_points(), 0)
    assert draw_landmarks(np.full((68, 2), np.nan), 64).max() == 0


def test_overlay_keeps_photo_where_nothing_is_drawn():
    photo = np.full((256, 256, 3), 90, np.uint8)
    out = overlay_landmarks(photo, face_points())
    drawn = draw_landmarks(face_points(), 256).max(-1) > 0
    assert np.all(out[~drawn] == 90)
    assert (out[drawn] != 90).any()
