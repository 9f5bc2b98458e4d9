"""The live loop (fsth.live): the tracker follows a real clip with few full searches and close to
per-frame detection, streaming adaptation carries blinks over, the output follows the driver and
carries the visible label on every frame, the model renders for a stream exactly as Person.render,
and ``fsth live --benchmark`` prints its table (bad flags: exit 2, before any work). No wall-time
assertions: the figures are benchmarks/live.py's."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fsth.cli import main
from fsth.io.video import read_frames
from fsth.landmarks.adapt import lid_gaps, lip_gaps
from fsth.landmarks.regions import mouth_opening
from fsth.live import LabelStamp, LandmarkTracker, LiveAdapter, LiveLoop, live_renderer, portrait_shots
from fsth.provenance import label
from fsth.render import render_one


@pytest.fixture(autouse=True)
def torch_threads():
    """The live loop sets torch's threads for the process (fsth.live.LIVE_THREADS): give the rest of
    the session its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def single_face(samples):
    """The first 45 frames of a man talking to a webcam (640x360): mouth shut to frame 18, then open."""
    return list(read_frames(samples.fetch("single_face"), range(45)))


@pytest.fixture(scope="module")
def monalisa(samples, dlib_detector):
    return portrait_shots("monalisa", 256, dlib_detector)


def test_the_tracker_follows_a_clip_with_few_full_searches_close_to_per_frame_detection(single_face, dlib_detector):
    tracker = LandmarkTracker(dlib_detector)
    tracked = [tracker(frame) for frame in single_face]
    assert all(p is not None for p in tracked)
    assert tracker.detections <= 2 and tracker.tracked >= len(single_face) - 2 and tracker.missed == 0
    assert tracker.local_searches < len(single_face) / 4  # the window is searched now and then, not every frame
    full = [dlib_detector.detect(frame) for frame in single_face]
    errors = [np.linalg.norm(a - b, axis=1).mean() for a, b in zip(tracked, full)]
    assert np.mean(errors) < 2.0 and np.max(errors) < 4.0, (np.mean(errors), np.max(errors))


def test_the_tracker_searches_again_after_losing_the_face(samples, single_face, dlib_detector):
    tracker = LandmarkTracker(dlib_detector)
    assert tracker(single_face[0]) is not None and tracker.detections == 1
    assert tracker(np.zeros_like(single_face[1])) is None  # a covered camera: searched for, not invented
    assert tracker.missed == 1
    assert tracker(single_face[2]) is not None and tracker.detections == 3  # found by a search of the whole frame
    shifted = np.roll(single_face[3], 200, axis=1)  # the face jumps further than a box can follow
    points = tracker(shifted)
    assert np.linalg.norm(points - dlib_detector.detect(shifted), axis=1).mean() < 2.0
    # the face leaves and a scene without one stays: no face drawn on the wall for long
    found = [tracker(frame) is not None for frame in read_frames(samples.fetch("no_face"), range(40))]
    assert not any(found[-5:]) and tracker.missed >= 5, found


def _blinked(points: np.ndarray) -> np.ndarray:
    """The face with both eyes shut: upper lids (37, 38, 43, 44) onto the lower ones (41, 40, 47, 46)."""
    shut = points.copy()
    shut[[37, 38, 43, 44]] = shut[[41, 40, 47, 46]]
    return shut


def test_streaming_adaptation_starts_at_the_portrait_and_carries_blinks_over(monalisa, single_face, dlib_detector):
    _, portrait = monalisa
    driver = dlib_detector.detect(single_face[0])
    adapter = LiveAdapter(portrait[0])
    first = adapter(driver, 0.0)  # the reference: the portrait as it is (the lids set to its own mean gap)
    lids = [37, 38, 40, 41, 43, 44, 46, 47]
    assert np.abs(np.delete(first - portrait[0], lids, axis=0)).max() < 1e-3
    assert np.abs(first - portrait[0]).max() < 1.0 and np.allclose(lid_gaps(first), lid_gaps(portrait[0]), rtol=0.02)
    for i in range(1, 50):  # two seconds of open eyes
        adapter(driver, i / 25)
    open_gap = lid_gaps(adapter(driver, 50 / 25))[0]
    for i in range(51, 55):  # a blink of four frames
        shut = lid_gaps(adapter(_blinked(driver), i / 25))[0]
    assert (shut < 0.4 * open_gap).all(), (shut, open_gap)
    assert np.allclose(adapter.driver_open, lid_gaps(driver)[0], rtol=0.05)  # a blink doesn't move the estimate
    assert adapter.driver_closed == pytest.approx(lip_gaps(driver)[0], abs=1e-3)  # the running closed mouth
    adapter.set_reference(_blinked(driver))  # a reference the caller picks
    assert adapter.reference is not None and np.allclose(adapter.reference[[37, 38]], driver[[41, 40]])


def test_the_loop_follows_the_drivers_mouth_and_labels_every_frame(monalisa, single_face, dlib_detector):
    shots, points = monalisa
    renderer = live_renderer("guided-warp", shots, points)
    twin = live_renderer("guided-warp", shots, points)  # streamed alongside: the same frames, unlabelled
    loop = LiveLoop(renderer, LandmarkTracker(dlib_detector))
    driver, result, portrait = [], [], []
    for i, frame in enumerate(single_face):
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        out, timings = loop.step(jpeg.tobytes(), t=i / 25)
        assert out.shape == (256, 256, 3) and out.dtype == np.uint8
        assert set(timings) == {"decode", "track", "adapt", "render", "mark", "encode", "total"}
        unmarked = render_one(twin, loop.target)  # a stream holds its cavity from frame to frame
        assert np.abs(out.astype(int) - label(unmarked)).max() <= 1  # the visible label, as fsth.provenance draws it
        assert np.abs(out.astype(int) - unmarked).max() > 100  # and it shows
        assert cv2.imdecode(np.frombuffer(loop.jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (256, 256, 3)
        driver.append(mouth_opening(loop.driver)[0])
        result.append(mouth_opening(dlib_detector.detect(out))[0])
        portrait.append(mouth_opening(loop.target)[0])
    driver, result, portrait = map(np.array, (driver, result, portrait))
    assert driver[:15].max() < 0.05 and driver[30:].min() > 0.1  # the clip: shut, then open
    assert np.corrcoef(driver, portrait)[0, 1] > 0.8  # the landmarks asked for follow the driver
    assert np.corrcoef(driver, result)[0, 1] > 0.6, (driver.round(3), result.round(3))  # and so does the picture
    assert result[30:].mean() > result[:15].mean() + 0.03


def test_before_the_first_face_the_portrait_is_shown_labelled(monalisa, dlib_detector):
    shots, points = monalisa
    loop = LiveLoop(live_renderer("warp", shots, points), LandmarkTracker(dlib_detector), color="bgr")
    out, timings = loop.step(np.zeros((120, 160, 3), np.uint8))
    assert loop.driver is None and loop.target is None and timings["render"] < 1000
    assert np.array_equal(out, LabelStamp(256)(shots[0]))
    with pytest.raises(ValueError, match="could not be decoded"):
        loop.step(b"not a jpeg")


def test_the_label_stamp_is_the_provenance_label():
    rng = np.random.default_rng(0)
    for size in (64, 256, 512):
        frame = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        stamped = LabelStamp(size)(frame)
        assert np.abs(stamped.astype(int) - label(frame)).max() <= 1
        assert not np.array_equal(stamped, frame)


def test_the_model_renders_a_stream_as_person_render_does(monalisa):
    import torch

    from fsth.assets import SHIPPED_MODEL, pretrained_path
    from fsth.live import StreamingPerson
    from fsth.person import load_model
    from fsth.train.finetune import finetune

    shots, points = monalisa
    small = (cv2.resize(shots[0], (128, 128), interpolation=cv2.INTER_AREA)[None], (points + 0.5) / 2 - 0.5)
    person = finetune(load_model(pretrained_path(SHIPPED_MODEL)), *small, steps=0, progress=False)
    stream = StreamingPerson(person, amp="none", channels_last=False)
    targets = small[1][0] + np.random.default_rng(0).normal(0, 1.5, (3, 68, 2)).astype(np.float32)
    expected = person.render(targets, amp="none")  # the person still renders (its generator is untouched)
    assert np.abs(stream.render(targets).astype(int) - expected).max() <= 1
    assert np.abs(stream.render_one(targets[1]).astype(int) - expected[1]).max() <= 1
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in stream.generator.modules())


def test_fsth_live_benchmark_prints_its_table(samples, tmp_path, capsys):
    out = tmp_path / "live.json"
    assert main(["live", "--benchmark", "single_face", "--max-frames", "10", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    for stage in ("decode", "track", "adapt", "render", "mark", "encode", "total", "frames/s"):
        assert stage in printed, printed
    figures = json.loads(out.read_text())
    assert figures["frames"] == 10 and figures["method"] == "guided-warp" and figures["size"] == 256
    assert figures["detections"] == 1 and figures["frames_per_second"] > 0 and figures["torch_threads"] == 1
    assert set(figures["stages"]["total"]) == {"p50", "p95", "mean"}


@pytest.mark.parametrize("argv, says", [
    (["--json", "figures.json"], "--json and --max-frames go with --benchmark VIDEO"),
    (["--port", "70000"], "--port 70000: must be from 0 to 65535"),
    (["--benchmark", "nowhere.mp4"], "--benchmark nowhere.mp4: no such file, nor a sample video"),
    (["--benchmark", "single_face", "--portrait", "nowhere.png"], "--portrait nowhere.png: no such file"),
    (["--benchmark", "single_face", "--size", "0"], "--size 0: must be from 64 to 512"),
    (["--benchmark", "single_face", "--max-frames", "-1"], "--max-frames -1: must be at least 0"),
    (["--benchmark", "single_face", "--ft-steps", "-1"], "--ft-steps -1: must be at least 0"),
    (["--benchmark", "single_face", "--json", "figures.txt"], "--json figures.txt: must be a file name ending"),
])
def test_bad_live_flags_exit_2_before_any_work(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["live", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_live_method_is_argparses_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["live", "--benchmark", "single_face", "--method", "magic"])
    assert done.value.code == 2 and "invalid choice: 'magic'" in capsys.readouterr().err
