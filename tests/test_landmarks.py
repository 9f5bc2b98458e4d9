import json
import logging

import numpy as np
import pytest

from fsth.cli import main
from fsth.io.images import read_image
from fsth.landmarks import NoFaceError, create_detector
from fsth.landmarks.detect import FAN_WEIGHTS_FILE


def nme(pred, truth):
    """Mean point error normalised by the outer-eye-corner distance (points 36 and 45)."""
    return np.linalg.norm(pred - truth, axis=1).mean() / np.linalg.norm(truth[36] - truth[45])


@pytest.mark.parametrize("name", ["einstein", "takeo"])
def test_dlib_matches_hand_annotations(samples, dlib_detector, name):
    image = read_image(samples.fetch(name))
    points = dlib_detector.detect(image, source=name)
    assert points.shape == (68, 2) and points.dtype == np.float32
    assert nme(points, samples.load_points(name)) <= 0.08


def test_grayscale_and_rgba_inputs(samples, dlib_detector):
    rgb = read_image(samples.fetch("takeo"))
    gray = rgb.mean(axis=2).astype(np.uint8)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    reference = dlib_detector.detect(rgb)
    assert np.abs(dlib_detector.detect(gray) - reference).mean() < 3
    assert np.array_equal(dlib_detector.detect(rgba), reference)


def test_no_face_names_input_and_frame(dlib_detector):
    blank = np.full((120, 160, 3), 128, np.uint8)
    with pytest.raises(NoFaceError, match="portrait.png") as info:
        dlib_detector.detect(blank, source="portrait.png")
    assert info.value.frame_index is None
    with pytest.raises(NoFaceError, match="clip.mp4, frame 0"):
        list(dlib_detector.detect_frames([blank, blank], source="clip.mp4"))
    assert list(dlib_detector.detect_frames([blank], on_missing="skip")) == [None]


def test_several_faces_takes_the_largest_with_a_warning(samples, dlib_detector, caplog):
    image = read_image(samples.fetch("multi_face"))
    boxes = dlib_detector.boxes(image)
    assert len(boxes) >= 2
    with caplog.at_level(logging.WARNING):
        points = dlib_detector.detect(image, source="multi_face.jpg")
    assert "faces found" in caplog.text and "multi_face.jpg" in caplog.text
    extents = [np.ptp(p, axis=0).max() for p in dlib_detector._points([image] * len(boxes), boxes)]
    x0, y0, x1, y1 = boxes[int(np.argmax(extents))]  # the largest face, by its landmarks
    inside = ((points[:, 0] > x0 - 20) & (points[:, 0] < x1 + 20)
              & (points[:, 1] > y0 - 20) & (points[:, 1] < y1 + 20))
    assert inside.mean() > 0.9


def test_auto_uses_fan_when_its_weights_are_cached(tmp_path, monkeypatch, caplog, samples):
    """Plant random FAN weights where face-alignment caches them: meaningless points, real code path."""
    import torch
    from face_alignment.models import FAN

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level(logging.INFO):
        assert create_detector("auto").name == "dlib"
    assert "no FAN weights" in caplog.text
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(FAN(4).state_dict(), tmp_path / "hub" / "checkpoints" / FAN_WEIGHTS_FILE)
    fan = create_detector("auto", batch_size=2)
    assert fan.name == "fan"
    image = read_image(samples.fetch("takeo"))
    points = list(fan.detect_frames([image, image, image], source="three"))
    assert len(points) == 3 and all(p.shape == (68, 2) for p in points)
    assert np.allclose(points[0], points[2])  # same frame, same answer, across batches
    x0, y0, x1, y1 = fan.boxes(image)[0]
    # even random heat-maps decode to points inside the face crop
    assert (points[0][:, 0] > x0 - (x1 - x0)).all() and (points[0][:, 0] < x1 + (x1 - x0)).all()


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown landmark backend 'mtcnn'"):
        create_detector("mtcnn")


def test_cli_image_and_video(samples, tmp_path, capsys):
    image = samples.fetch("takeo")
    assert main(["landmarks", str(image), "--backend", "dlib", "--out", str(tmp_path / "p.npy"),
                 "--overlay", str(tmp_path / "o.png")]) == 0
    assert np.load(tmp_path / "p.npy").shape == (68, 2)
    assert read_image(tmp_path / "o.png").shape == read_image(image).shape

    from fsth.io.video import read_video, write_video

    frames = read_video(samples.fetch("single_face"))[:4]
    clip = write_video(tmp_path / "short.mp4", frames)
    assert main(["landmarks", str(clip), "--backend", "dlib", "--out", str(tmp_path / "p.json"),
                 "--overlay", str(tmp_path / "o.mp4")]) == 0
    data = json.loads((tmp_path / "p.json").read_text())
    assert len(data["frames"]) == 4 and len(data["frames"][0]) == 68
    assert (tmp_path / "o.mp4").stat().st_size > 0

    blank = tmp_path / "blank.png"
    from fsth.io.images import save_image

    save_image(blank, np.zeros((50, 50, 3), np.uint8))
    assert main(["landmarks", str(blank), "--backend", "dlib"]) == 1
    assert "no face found in " + str(blank) in capsys.readouterr().err
