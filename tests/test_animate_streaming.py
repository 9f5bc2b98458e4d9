"""``fsth animate`` streams the driving video: landmarks frame by frame, then frames rendered and
written batch by batch, with the same frames as rendering the whole clip at once."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fsth.animation
import fsth.io.decode
from fsth.animation import BATCH, animate
from fsth.io.video import probe, read_frames, write_video
from fsth.nn import create
from fsth.train.finetune import finetune
from tests.helpers import SMALL_MODEL, face_points

FRAMES = 100


class MovingFace:
    """A landmark detector stand-in: one face per frame, drifting; it pulls frames in batches of 8."""
    batch_size = 8

    def __init__(self):
        self.seen = 0

    def detect_frames(self, frames, source="", on_missing="skip", **_):
        batch = []
        for frame in frames:
            batch.append(face_points(frame.shape[0]) + 0.05 * self.seen)
            self.seen += 1
            if len(batch) == self.batch_size:
                yield from batch
                batch.clear()
        yield from batch


class Recording:
    """A renderer that records each call: how many frames it was asked for, and how many driving
    frames had been decoded by then."""

    def __init__(self, person, decoded: list, events: list):
        self.person, self.decoded, self.events = person, decoded, events
        self.shots, self.landmarks = person.shots, person.landmarks
        self.calls: list[tuple[int, int]] = []

    @property
    def size(self) -> int:
        return self.person.size

    def render(self, points):
        self.calls.append((len(points), len(self.decoded)))
        self.events.append("render")
        return self.person.render(points, amp="none")


@pytest.fixture(scope="module")
def person():
    torch.manual_seed(0)
    model = create({**SMALL_MODEL, "num_videos": 1}).eval()
    shot = np.random.default_rng(0).integers(60, 200, (32, 32, 3), dtype=np.uint8)
    return finetune(model, np.stack([shot] * 2), np.stack([face_points(32)] * 2), steps=0, progress=False,
                    amp="none")


@pytest.fixture(scope="module")
def driving(tmp_path_factory):
    rng = np.random.default_rng(1)
    base = rng.integers(40, 200, (48, 48, 3)).astype(np.int16)
    path = tmp_path_factory.mktemp("drive") / "driving.mp4"
    return write_video(path, (np.clip(base + i % 30, 0, 255).astype(np.uint8) for i in range(FRAMES)), fps=25)


@pytest.fixture
def decoded(monkeypatch):
    seen = []
    real = fsth.io.decode.to_rgb_frame
    monkeypatch.setattr(fsth.io.decode, "to_rgb_frame", lambda path, frame, *a: seen.append(frame.pts)
                        or real(path, frame, *a))
    return seen


@pytest.fixture
def events(monkeypatch):
    """'render' for each render call and 'write' for each frame the video writer takes, in order."""
    happened = []
    real = fsth.animation.write_video

    def writer(path, frames, *args, **kwargs):
        assert not isinstance(frames, (list, np.ndarray)) or str(path).endswith(".gif")  # mp4: a stream

        def taken():
            for frame in frames:
                happened.append("write")
                yield frame

        return real(path, taken(), *args, **kwargs)

    monkeypatch.setattr(fsth.animation, "write_video", writer)
    return happened


def test_animate_renders_and_writes_batch_by_batch_reading_the_driving_video_lazily(person, driving, decoded,
                                                                                    events, tmp_path):
    renderer = Recording(person, decoded, events)
    detector = MovingFace()
    result = animate(renderer, driving, tmp_path / "out.mp4", detector, side_by_side=True)

    assert detector.seen == FRAMES
    sizes = [n for n, _ in renderer.calls]
    assert sizes == [BATCH] * (FRAMES // BATCH) + [FRAMES % BATCH]
    # landmarks first (one pass over the video), then the faces beside each batch, read in step with it
    assert [read for _, read in renderer.calls] == [FRAMES + BATCH * i for i in range(len(sizes))]
    assert len(decoded) == 2 * FRAMES
    # the writer takes each batch before the next one is rendered
    assert events[:BATCH + 2] == ["render"] + ["write"] * BATCH + ["render"]
    assert events.count("write") == FRAMES
    assert probe(result["files"][0]).frames == FRAMES and result["frames"] == FRAMES


def test_batched_frames_are_the_frames_of_rendering_the_whole_clip(person, driving, tmp_path):
    result = animate(Recording(person, [], []), driving, tmp_path / "out.mp4", MovingFace())
    assert result["rendered"].shape == (FRAMES, 32, 32, 3)
    assert np.array_equal(result["rendered"], person.render(result["landmarks"], amp="none"))


def test_max_frames_reads_only_that_many_driving_frames(person, driving, decoded, tmp_path):
    result = animate(Recording(person, decoded, []), driving, tmp_path / "out.mp4", MovingFace(), max_frames=40)
    assert len(decoded) == 40 and result["frames"] == 40  # no second pass without --side-by-side


def test_keep_rendered_false_keeps_no_frames_and_the_gif_gets_every_other_one(person, driving, tmp_path):
    result = animate(Recording(person, [], []), driving, tmp_path / "out.mp4", MovingFace(),
                     gif=tmp_path / "out.gif", keep_rendered=False, watermark=True)
    assert result["rendered"] is None and result["frames"] == FRAMES
    assert len(list(read_frames(tmp_path / "out.gif"))) == FRAMES // 2
    assert probe(tmp_path / "out.mp4").frames == FRAMES


def test_gif_frames_wait_on_disk_and_come_back_in_order():
    from fsth.animation import FrameSpool

    frames = [np.full((8, 24, 3), i, np.uint8) for i in range(5)]
    with FrameSpool() as spool:
        for frame in frames:
            spool.add(frame[:, ::1])  # views are stored by value
        assert len(spool) == 5
        assert [int(f[0, 0, 0]) for f in spool] == list(range(5))
        assert [int(f[0, 0, 0]) for f in spool] == list(range(5))  # read again from the start
        with pytest.raises(ValueError, match=r"frame 5 is \(4, 4, 3\), the first was \(8, 24, 3\)"):
            spool.add(np.zeros((4, 4, 3), np.uint8))
