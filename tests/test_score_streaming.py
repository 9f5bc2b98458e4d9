"""``fsth detect score`` streams a video in bounded batches and reads only ``--max-frames`` of it."""
from __future__ import annotations

import numpy as np
import pytest

import fsth.io.decode
import fsth.landmarks
from detector import models, scoring
from detector.__main__ import main as detector_main
from detector.faces import face_crops
from fsth.cli import main as fsth_main
from fsth.io.video import write_video

ANGLES = np.linspace(0, 2 * np.pi, 68, endpoint=False)
POINTS = np.stack([32 + 12 * np.cos(ANGLES), 30 + 14 * np.sin(ANGLES)], axis=1).astype(np.float32)


class StubLandmarks:
    """A landmark detector that finds the same face in every frame, pulling frames in batches as
    fsth's detectors do; it counts the frames it was handed."""
    batch_size = 8

    def __init__(self):
        self.seen = 0

    def detect_frames(self, frames, source="video", on_missing="raise", video=True):
        batch = []
        for frame in frames:
            self.seen += 1
            batch.append(frame)
            if len(batch) == self.batch_size:
                yield from (POINTS.copy() for _ in batch)
                batch.clear()
        yield from (POINTS.copy() for _ in batch)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """300 frames of 64 px, each a little different, written by fsth's own video writer."""
    path = tmp_path_factory.mktemp("score") / "long.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(40, 200, (64, 64, 3)).astype(np.int16)
    write_video(path, (np.clip(base + (i % 50) - 25, 0, 255).astype(np.uint8) for i in range(300)), fps=25)
    return path



@pytest.fixture
def decoded(monkeypatch):
    """The indices of the video frames decoded to RGB, in order."""
    seen = []
    real = fsth.io.decode.to_rgb_frame

    def counting(path, frame, *args):
        seen.append(frame.pts)
        return real(path, frame, *args)

    monkeypatch.setattr(fsth.io.decode, "to_rgb_frame", counting)
    return seen


def test_max_frames_50_of_a_300_frame_video_reads_only_50_frames(long_video, saved_detector, decoded, monkeypatch,
                                                                   capsys):
    stub = StubLandmarks()
    monkeypatch.setattr(fsth.landmarks, "create_detector", lambda *args, **kwargs: stub)
    assert detector_main(["score", str(long_video), "--detector", str(saved_detector), "--max-frames", "50"]) == 0
    assert "mean over 50 frame(s)" in capsys.readouterr().out
    assert len(decoded) == 50 and stub.seen == 50
    assert len(set(decoded)) == 50 and decoded == sorted(decoded)  # 50 different frames, spread in order


def test_frames_are_read_cropped_and_scored_in_bounded_batches(long_video, saved_detector, decoded, monkeypatch):
    det = models.load(saved_detector)
    read_when_scored = []
    real = scoring.p_fake
    monkeypatch.setattr(scoring, "p_fake", lambda d, crops: read_when_scored.append((len(decoded), len(crops)))
                        or real(d, crops))
    result = scoring.score_media(det, long_video, face_detector=StubLandmarks(), batch=32)
    assert result["frames"] == 300 and len(decoded) == 300
    # each batch of 32 is scored when 32 more frames have been read, not after the whole video
    assert read_when_scored == [(32 * (i + 1), 32) for i in range(9)] + [(300, 12)]


def test_iter_media_reads_a_video_lazily(long_video, decoded):
    frames = scoring.iter_media(long_video)
    assert decoded == []  # nothing read before the first frame is asked for
    first = next(frames)
    assert first.shape == (64, 64, 3) and len(decoded) == 1
    next(frames)
    assert len(decoded) == 2
    frames.close()


def test_streamed_scores_match_scoring_all_frames_at_once(long_video, saved_detector):
    det = models.load(saved_detector)
    streamed = scoring.score_media(det, long_video, face_detector=StubLandmarks(), max_frames=40, batch=16)
    frames = scoring.read_media(long_video)[::300 // 40][:40]
    at_once = scoring.score_faces(det, face_crops(frames, 64, "long.mp4", StubLandmarks()))
    assert streamed["frames"] == at_once["frames"] == 40
    assert np.allclose(streamed["scores"], at_once["scores"])


def test_max_frames_beyond_the_video_scores_every_frame(long_video, saved_detector, decoded):
    det = models.load(saved_detector)
    assert scoring.score_media(det, long_video, face_detector=StubLandmarks(), max_frames=1000)["frames"] == 300


@pytest.mark.parametrize("value", ["0", "-3"])
@pytest.mark.parametrize("entry", ["fsth detect", "python -m detector"])
def test_max_frames_of_zero_or_less_is_a_usage_error(value, entry, long_video, saved_detector, capsys):
    argv = ["score", str(long_video), "--detector", str(saved_detector), "--max-frames", value]
    assert (fsth_main(["detect", *argv]) if entry == "fsth detect" else detector_main(argv)) == 2
    assert capsys.readouterr().err == f"fsth detect score: error: --max-frames {value}: must be at least 1\n"


def test_a_folder_of_images_is_spread_too(tmp_path, saved_detector):
    from fsth.io.images import save_image

    for i in range(20):
        save_image(tmp_path / f"{i:03d}.png", np.full((64, 64, 3), 10 * i, np.uint8))
    picked = [int(frame[0, 0, 0]) // 10 for frame in scoring.iter_media(tmp_path, max_frames=5)]
    assert picked == [0, 4, 8, 12, 16]
    assert scoring.score_media(models.load(saved_detector), tmp_path, face_detector=StubLandmarks(),
                               max_frames=5)["frames"] == 5
