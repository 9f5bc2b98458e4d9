"""Images, videos and faces that used to be misread: animated WebP/PNG are videos, an audio-only
file says it has no video stream, the largest face wins across search sizes, and ``detect score``
on a mixed folder scores each file on its own."""
from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

import fsth.landmarks
from detector.__main__ import main as detector_main
from fsth.cli import main
from fsth.data.preprocess import discover
from fsth.io.images import read_image, save_image
from fsth.io.video import VideoReadError, frames_at, is_video, probe, read_frames, write_video
from fsth.landmarks import create_detector
from tests.helpers import run_cli
from tests.test_score_streaming import StubLandmarks


def _animation(path, count=5, size=48):
    """An animated image whose frame i is filled with grey level 40 i (so a wrong frame shows)."""
    frames = [Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)) for i in range(count)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0, lossless=True)
    return path


def _audio_only(path):
    """An mp4 holding one AAC stream and no picture (PyAV)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for _ in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path




@pytest.fixture
def stub_faces(monkeypatch):
    stub = StubLandmarks()
    monkeypatch.setattr(fsth.landmarks, "create_detector", lambda *args, **kwargs: stub)
    return stub


# ---- animated images are videos -----------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".webp", ".png", ".gif"])
def test_animated_images_read_as_videos_with_every_frame(tmp_path, suffix):
    path = _animation(tmp_path / f"anim{suffix}")
    assert is_video(path)
    info = probe(path)
    assert (info.frames, info.width, info.height) == (5, 48, 48) and info.fps == pytest.approx(12.5)
    levels = [int(frame.mean()) for frame in read_frames(path)]
    assert levels == [0, 40, 80, 120, 160]
    assert [(i, int(f.mean())) for i, f in frames_at(path, [1, 4])] == [(1, 40), (4, 160)]
    with pytest.raises(VideoReadError, match="asked for, but it has 5"):
        list(frames_at(path, [7]))


def test_a_still_webp_stays_an_image_and_preprocess_sees_animations_as_videos(tmp_path):
    still = tmp_path / "still.webp"
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(still)
    _animation(tmp_path / "talking.webp")
    assert not is_video(still)
    kinds = {job.out: job.kind for job in discover(tmp_path)}
    assert kinds == {"still.npz": "image", "talking.npz": "video"}


def test_detector_score_of_an_animated_webp_scores_every_frame(tmp_path, saved_detector, stub_faces, capsys):
    path = _animation(tmp_path / "fake.webp", count=6, size=64)
    assert detector_main(["score", str(path), "--detector", str(saved_detector)]) == 0
    assert "mean over 6 frame(s)" in capsys.readouterr().out and stub_faces.seen == 6


# ---- no video stream ------------------------------------------------------------------------------

def test_an_audio_only_mp4_is_one_line_saying_it_has_no_video_stream(tmp_path, capsys, saved_detector):
    audio = _audio_only(tmp_path / "voice.mp4")
    with pytest.raises(VideoReadError, match=r"voice\.mp4: no video stream \(the file holds audio\)"):
        probe(audio)
    with pytest.raises(VideoReadError, match="no video stream"):
        list(read_frames(audio))
    out = tmp_path / "out.mp4"
    for argv, entry in [(["landmarks", str(audio), "--backend", "dlib"], main),
                        (["animate", "--shots", "a.png", "--driving", str(audio), "--out", str(out)], main),
                        (["score", str(audio), "--detector", str(saved_detector)], detector_main)]:
        code, line = run_cli(capsys, argv, entry)
        assert code == 1 and f"{audio}: no video stream" in line and "IndexError" not in line, line
    assert not out.exists()


# ---- the largest face across search sizes --------------------------------------------------------

class _Rect:
    def __init__(self, box):
        self.box = [int(round(v)) for v in box]

    def left(self):
        return self.box[0]

    def top(self):
        return self.box[1]

    def right(self):
        return self.box[2]

    def bottom(self):
        return self.box[3]


class FakeHog:
    """Stands in for dlib's HOG detector: finds the given faces (boxes in the image's own pixels)
    only when the image is searched at the given long side, and counts its searches."""

    def __init__(self, long_side: int, found: dict[int, list]):
        self.long_side, self.found, self.searched = long_side, found, []

    def __call__(self, image, upsample):
        side = max(image.shape[:2])
        self.searched.append(side)
        scale = side / self.long_side
        return [_Rect(np.array(box, float) * scale) for box in self.found.get(side, [])]


SMALL, LARGE = (40, 40, 120, 120), (300, 100, 500, 300)  # 80 px and 200 px faces in a 640 x 480 image


@pytest.mark.parametrize("found, largest", [
    ({640: [SMALL], 905: [SMALL, LARGE]}, LARGE),  # the large face shows only at the next size
    ({640: [], 905: [SMALL], 1280: [LARGE]}, LARGE),  # the first size finds nothing, the next a small one
    ({640: [LARGE], 905: [SMALL]}, LARGE),  # the first size's face stays when later ones find smaller
])
def test_the_largest_face_across_search_sizes_is_chosen(found, largest):
    detector = create_detector("dlib")
    detector.boxes._detector = fake = FakeHog(640, found)
    image = np.full((480, 640, 3), 128, np.uint8)
    boxes = detector.boxes(image)
    assert np.allclose(boxes[0], largest, atol=1)
    assert fake.searched[:2] == [640, 905]
    points = detector.detect(image)  # the landmarks come from the largest face's box
    assert largest[0] - 20 <= points[:, 0].mean() <= largest[2] + 20


def test_a_face_found_again_or_barely_larger_elsewhere_changes_nothing():
    """A false face of about the same size at the next size (astronaut's shoulder patch) is ignored:
    only a clearly larger face is worth preferring over what the first size found."""
    face, again, patch = (174, 74, 275, 175), (177, 76, 279, 178), (121, 335, 223, 437)
    detector = create_detector("dlib")
    detector.boxes._detector = fake = FakeHog(640, {640: [face], 905: [again, patch]})
    boxes = detector.boxes(np.full((640, 640, 3), 128, np.uint8))
    assert len(boxes) == 1 and np.allclose(boxes[0], face, atol=1) and fake.searched == [640, 905]


def test_a_face_too_large_to_be_beaten_ends_the_search_at_once():
    detector = create_detector("dlib")
    detector.boxes._detector = fake = FakeHog(640, {640: [(100, 40, 500, 440)]})
    assert len(detector.boxes(np.full((480, 640, 3), 128, np.uint8))) == 1 and fake.searched == [640]


def test_real_photos_keep_their_face(samples):
    detector = create_detector("dlib")
    astronaut = detector.detect(read_image(samples.fetch("astronaut")))
    assert astronaut[:, 1].mean() < 200  # her face, not the patch on her suit
    group = detector.detect(read_image(samples.fetch("multi_face")))
    assert group[:, 0].mean() > 640  # the right-hand, largest of three faces with equal boxes


# ---- detect score on a folder --------------------------------------------------------------------

def test_detector_score_of_a_mixed_folder_scores_each_file_on_its_own(tmp_path, saved_detector, stub_faces, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    save_image(folder / "alice.png", np.full((64, 64, 3), 60, np.uint8))
    save_image(folder / "bob.jpg", np.full((64, 64, 3), 200, np.uint8))
    write_video(folder / "carol.mp4", [np.full((64, 64, 3), 30 + 10 * i, np.uint8) for i in range(7)])
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("not media")
    assert detector_main(["score", str(folder), "--detector", str(saved_detector)]) == 0
    out = capsys.readouterr().out
    assert f"{folder}: 4 file(s), each scored on its own" in out and "no score is pooled" in out
    scored = [line for line in out.splitlines() if "P(fake) =" in line]
    assert len(scored) == 3
    assert any(line.startswith(str(folder / "carol.mp4")) and "mean over 7 frame(s)" in line for line in scored)
    assert all("mean over 1 frame(s)" in line for line in scored if "carol.mp4" not in line)
    assert "broken.png" in out and "not scored" in out and "notes.txt" not in out


def test_detector_score_of_a_folder_with_nothing_scorable_is_one_line(tmp_path, saved_detector, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    code, line = run_cli(capsys, ["score", str(folder), "--detector", str(saved_detector)], detector_main)
    assert code == 1 and f"{folder}: no file in the folder could be scored" in line
