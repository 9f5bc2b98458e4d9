"""The live page's kernel side, without a browser: the widget's message handler answers a camera
JPEG with a labelled JPEG, the record button writes a marked mp4, bad messages get one sentence
back (never a traceback), an uploaded photo is personalised in the background (or refused, saying
why), the recorder keeps real time and bounded memory; and ``fsth live``'s server speaks the same
protocol over a websocket and says where it serves.

The real browser (camera, JupyterLab, frames/s) is tests/test_live_browser.py's."""
from __future__ import annotations

import asyncio
import json
import time

import cv2
import numpy as np
import pytest

from fsth.io.video import probe, read_frames, read_metadata
from fsth.live import LabelStamp

SIZE = 256


@pytest.fixture(autouse=True)
def torch_threads():
    """The live loop sets torch's threads for the process: give the rest of the session its own back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def camera(samples):
    """JPEG camera frames: a man talking to a webcam (640x360)."""
    frames = read_frames(samples.fetch("single_face"), range(12))
    return [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR))[1].tobytes() for f in frames]


@pytest.fixture
def widget(tmp_path, dlib_detector):
    from fsth.live.widget import LiveWidget

    widget = LiveWidget(out=tmp_path / "recordings", keep=4, detector=dlib_detector)
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, list(buffers or [])))
    widget.sent = sent
    yield widget
    widget.close()


def page_sends(widget, content, buffers=()):
    """What the page's model.send does: a custom message, as ipywidgets hands it to the widget."""
    widget._handle_custom_msg(content, list(buffers))
    return widget.sent.pop() if widget.sent else None


def decode(jpeg: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def carries_label(frame: np.ndarray) -> bool:
    return LabelStamp(frame.shape[0]).visible_in(frame)


def test_a_camera_jpeg_is_answered_with_a_labelled_jpeg(widget, camera):
    content, buffers = page_sends(widget, {"type": "frame"}, [camera[0]])
    assert content["type"] == "frame" and content["face"] is True and content["frames"] == 1
    assert set(content["timings"]) == {"decode", "track", "adapt", "render", "mark", "encode", "total"}
    out = decode(buffers[0])
    assert out.shape == (SIZE, SIZE, 3) and carries_label(out)
    loop = widget.session.loop
    unlabelled = loop.renderer.render(loop.target[None])[0]
    assert not carries_label(unlabelled)
    assert np.abs(out.astype(int) - loop.stamp(unlabelled)).mean() < 8  # the rendered frame, labelled (JPEG q80)
    jpeg, driver, answer = widget.session.history[-1]
    assert jpeg == camera[0] and driver.shape == (68, 2) and answer == buffers[0]


def test_bad_messages_get_one_sentence_back_not_a_traceback(widget, camera):
    for content, buffers, says in [
            ({"type": "frame"}, [b"\x00not a jpeg"], "could not be decoded (not a JPEG or PNG image?)"),
            ({"type": "frame"}, [], "a frame message carries one JPEG buffer, got 0"),
            ({"type": "dance"}, [], "unknown message type 'dance'"),
            ({"type": "portrait", "name": "me.jpg"}, [b"\x00not a photo"], "me.jpg: not an image fsth can read"),
            ({"type": "set", "values": {"size": 64}}, [], "the page can set method, portrait and recording")]:
        reply, answer = page_sends(widget, content, buffers)
        assert reply["type"] == "error" and says in reply["message"] and answer == [], reply
        assert "Traceback" not in reply["message"]
    widget.method = "magic"  # the page's chooser can only send METHODS; a wrong one is said, not raised
    assert "unknown live method 'magic'" in widget.error
    content, buffers = page_sends(widget, {"type": "frame"}, [camera[1]])  # and the loop goes on
    assert content["type"] == "frame" and carries_label(decode(buffers[0]))


def test_the_record_button_writes_a_marked_mp4(widget, camera, tmp_path):
    widget.recording = True  # as the page's button sets it
    assert widget.session.recorder is not None and widget.status.startswith("recording to")
    for jpeg in camera:
        page_sends(widget, {"type": "frame"}, [jpeg])
        time.sleep(0.02)  # the recorder keeps the frames' own pace
    widget.recording = False
    path = tmp_path / "recordings" / widget.record_path.split("/")[-1]
    assert widget.record_path and path.is_file() and widget.status.startswith("wrote ")
    assert "synthetic" in read_metadata(path).get("comment", "").lower()
    info = probe(path)
    assert (info.width, info.height) == (SIZE, SIZE) and info.frames >= 3
    assert all(carries_label(frame) for frame in read_frames(path))
    widget.recording = True  # nothing recorded: said, no empty file
    widget.recording = False
    assert "nothing was recorded" in widget.error and len(list(path.parent.iterdir())) == 1


def test_an_uploaded_photo_is_personalised_in_the_background(widget, samples, camera):
    photo = samples.fetch("grace_hopper").read_bytes()
    assert page_sends(widget, {"type": "portrait", "name": "me.jpg"}, [photo]) is None
    deadline = time.monotonic() + 60
    while widget.status != "me.jpg ready (guided-warp)":
        assert time.monotonic() < deadline and not widget.error, (widget.status, widget.error)
        time.sleep(0.1)
    assert widget.portrait == "me.jpg" and widget.progress == 1.0
    content, buffers = page_sends(widget, {"type": "frame"}, [camera[0]])
    assert content["type"] == "frame" and carries_label(decode(buffers[0]))
    blank = cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))[1].tobytes()
    page_sends(widget, {"type": "portrait", "name": "wall.png"}, [blank])
    deadline = time.monotonic() + 60
    while not widget.error:
        assert time.monotonic() < deadline, widget.status
        time.sleep(0.1)
    assert widget.error == "no face found in wall.png"
    assert widget.portrait == "me.jpg"  # the chooser shows what still renders


def test_the_server_answers_a_jpeg_over_its_websocket(camera, dlib_detector, tmp_path):
    from tornado.websocket import websocket_connect

    from fsth.live.server import LiveServer

    server = LiveServer(port=0, detector=dlib_detector, out=tmp_path)
    url = server.start()
    try:
        import urllib.request

        with urllib.request.urlopen(url, timeout=30) as response:
            assert b'src="static/page.js"' in response.read()
        with urllib.request.urlopen(url + "static/widget.js", timeout=30) as response:
            assert b"export default { render }" in response.read()

        async def talk():
            socket = await websocket_connect(url.replace("http", "ws") + "socket")
            state = json.loads(await socket.read_message())
            assert state["type"] == "state" and state["values"]["method"] == "guided-warp"
            assert "monalisa" in state["values"]["portraits"] and state["values"]["size"] == SIZE
            await socket.write_message(json.dumps({"type": "frame", "buffers": 1}))
            await socket.write_message(camera[0], binary=True)
            reply = json.loads(await socket.read_message())
            jpeg = await socket.read_message()
            await socket.write_message(json.dumps({"type": "frame", "buffers": 1}))
            await socket.write_message(b"not a jpeg", binary=True)
            error = json.loads(await socket.read_message())
            socket.close()
            return reply, jpeg, error

        reply, jpeg, error = asyncio.run(asyncio.wait_for(talk(), 120))
    finally:
        server.stop()
    assert reply["type"] == "frame" and reply["buffers"] == 1 and reply["face"] is True
    assert isinstance(jpeg, bytes) and decode(jpeg).shape == (SIZE, SIZE, 3) and carries_label(decode(jpeg))
    assert error["type"] == "error" and "could not be decoded" in error["message"] and error["buffers"] == 0


def test_fsth_live_serves_the_page_on_localhost_and_says_where(tmp_path):
    import socket
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "fsth", "live", "--port", "0", "--out", str(tmp_path / "rec")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = ""
        while not line.startswith("fsth live: open") and proc.poll() is None:
            line = proc.stdout.readline()  # the first line it prints, unless something warned first
        assert line.startswith("fsth live: open http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        url = line.split()[3]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"fsth live" in response.read()
    finally:
        proc.terminate()
        proc.wait(30)
    assert not (tmp_path / "rec").exists()  # nothing written until something is recorded
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "fsth", "live", "--port", str(port)], capture_output=True,
                              text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and f"--port {port}:" in done.stderr and "in use" in done.stderr, done.stderr


def test_the_recorder_keeps_real_time_and_bounded_memory(monkeypatch, tmp_path):
    """Frames are placed on the video's frame grid at their arrival times (the recording plays at the
    speed it was made); when the encoder falls behind, frames are dropped and counted, never piled up."""
    import threading

    import fsth.io.video
    from fsth.live.recorder import Recorder

    release, written = threading.Event(), []

    def slow_writer(path, frames, fps, synthetic):
        assert synthetic
        release.wait(30)
        written.extend(int(f[0, 0, 0]) for f in frames)
        return path

    monkeypatch.setattr(fsth.io.video, "write_video", slow_writer)
    recorder = Recorder(tmp_path / "take.mp4", fps=10, queue_frames=3)
    frame = np.zeros((8, 8, 3), np.uint8)
    added = [recorder.add(frame + i, t) for i, t in enumerate([0.0, 0.25, 0.42, 0.5, 0.6, 0.7])]
    assert added == [True] * 3 + [False] * 3 and (recorder.frames, recorder.dropped) == (3, 3)
    release.set()
    assert recorder.close() == tmp_path / "take.mp4"
    assert written == [0, 0, 0, 1, 1, 2]  # ticks of 0.1 s: frame 0 at 0-0.2 s, frame 1 at 0.3-0.4, the last once
