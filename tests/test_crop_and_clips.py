import numpy as np
import pytest

from fsth.io.clips import list_clips, load_clip, read_meta, save_clip
from fsth.io.crop import crop_face, face_box, smooth_boxes


def test_face_box_is_square_and_contains_the_landmarks():
    rng = np.random.default_rng(1)
    pts = rng.uniform([100, 150], [180, 260], size=(68, 2)).astype(np.float32)
    x0, y0, side = face_box(pts, margin=0.5)
    assert side == pytest.approx(110 * 1.5, rel=0.05)
    assert x0 <= pts[:, 0].min() and x0 + side >= pts[:, 0].max()
    assert y0 <= pts[:, 1].min() and y0 + side >= pts[:, 1].max()
    assert face_box(np.stack([pts, pts])).shape == (2, 3)


def test_smoothing_removes_jitter_and_keeps_steady_boxes():
    rng = np.random.default_rng(2)
    steady = np.tile([[10.0, 20.0, 100.0]], (30, 1))
    assert np.allclose(smooth_boxes(steady, sigma=3), steady, atol=1e-4)
    jittery = steady + rng.normal(0, 4, steady.shape)
    smoothed = smooth_boxes(jittery, sigma=3)
    assert np.diff(smoothed[:, 0]).std() < 0.3 * np.diff(jittery[:, 0]).std()
    # sparse frame times: boxes far apart in time are not averaged together
    two = np.array([[0, 0, 50], [500, 0, 50]], np.float32)
    assert np.allclose(smooth_boxes(two, times=np.array([0, 1000]), sigma=8), two, atol=1e-3)


@pytest.mark.parametrize("size", [64, 256])
def test_crop_moves_points_with_the_pixels(size):
    image = np.zeros((300, 400, 3), np.uint8)
    spots = np.array([[150.0, 120.0], [210.0, 170.0]], np.float32)
    for x, y in spots.astype(int):
        image[y - 2:y + 3, x - 2:x + 3] = 255
    crop, moved, used = crop_face(image, np.array([100, 80, 160]), size, spots)
    assert crop.shape == (size, size, 3)
    for x, y in moved:
        window = crop[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4]
        assert window.max() > 150, "the bright spot should sit where the point moved"
    assert used.tolist() == [100, 80, 160]


def test_crop_pads_boxes_that_leave_the_image():
    image = np.full((100, 100, 3), 200, np.uint8)
    crop, _, _ = crop_face(image, np.array([-50, -50, 120]), 64)
    assert crop.shape == (64, 64, 3) and crop.min() == 200  # replicated edges, no black
    with pytest.raises(ValueError, match="outside"):
        crop_face(image, np.array([500, 500, 50]), 64)


def test_clip_round_trip_and_random_access(tmp_path):
    rng = np.random.default_rng(3)
    frames = np.repeat(np.linspace(0, 255, 8, dtype=np.uint8)[:, None, None, None], 3, axis=3)
    frames = np.broadcast_to(frames, (8, 32, 32, 3)).copy()
    landmarks = rng.uniform(0, 32, (8, 68, 2)).astype(np.float32)
    path = save_clip(tmp_path / "id0" / "v" / "c.npz", frames, landmarks,
                     {"identity": "id0", "boxes": np.zeros((8, 3))})
    clip = load_clip(path)
    assert clip.frames.shape == (8, 32, 32, 3) and clip.frames.dtype == np.uint8
    assert np.abs(clip.frames.astype(int) - frames).max() <= 3  # JPEG at quality 95
    assert np.array_equal(clip.landmarks, landmarks) and clip.landmarks.dtype == np.float32
    assert clip.meta["identity"] == "id0" and clip.meta["num_frames"] == 8
    frames_part, points_part, _ = load_clip(path, [5, 2])
    assert np.array_equal(points_part, landmarks[[5, 2]])
    assert np.array_equal(frames_part[0], clip.frames[5])
    assert read_meta(path)["height"] == 32
    (tmp_path / "id0" / "v" / ".c2.npz.tmp").write_bytes(b"partial")
    assert list_clips(tmp_path) == [path]


def test_bad_clip_inputs_are_named(tmp_path):
    with pytest.raises(ValueError, match="landmarks"):
        save_clip(tmp_path / "a.npz", np.zeros((2, 8, 8, 3), np.uint8), np.zeros((3, 68, 2)), {})
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="broken.npz"):
        load_clip(broken)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        list_clips(tmp_path / "nowhere")
