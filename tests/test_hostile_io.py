"""The data / I-O layer against hostile input: nothing lost, nothing overwritten, bounded memory, no wrong answers.

Every hostile input is built here, in tmp_path, on the fly.
"""
from __future__ import annotations

import email.message
import io
import os
import subprocess
import sys
import tomllib
import weakref
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image

from fsth.cli import main
from fsth.data import preprocess as preprocess_module
from fsth.io.clips import list_clips, read_meta, save_clip
from fsth.io.images import read_image, save_image, to_rgb
from fsth.data.preprocess import FAILURE_LOG, Settings, preprocess, sample_indices
from fsth.io.video import VideoReadError, frames_at, probe, read_frames, read_video, write_video
from fsth.io import atomic_path, stale_temps, sweep_stale_temps
from fsth.io.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(size=64, backend="dlib")


def _encode(path: Path, frames, fps=24, gop=None, faststart=False) -> Path:
    """H.264 mp4 via PyAV: ``gop`` frames between keyframes, the index (moov) first if ``faststart``."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", **({"g": str(gop), "keyint_min": str(gop)} if gop else {})}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _numbered_frames(count: int) -> list[np.ndarray]:
    """Small frames that say their own index (a bright bar that moves), so a wrong frame shows."""
    frames = []
    for i in range(count):
        frame = np.full((48, 64, 3), 40, np.uint8)
        frame[:, (i * 3) % 60:(i * 3) % 60 + 4] = 250
        frame[: 1 + (i // 20) % 48, :2] = 250
        frames.append(frame)
    return frames


class _CountingContainer:
    """Wraps a PyAV container and counts the frames its decoder produces."""

    decoded = 0

    def __init__(self, container):
        self._container = container

    def __enter__(self):
        self._container.__enter__()
        return self

    def __exit__(self, *exc):
        return self._container.__exit__(*exc)

    def __getattr__(self, name):
        return getattr(self._container, name)

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            _CountingContainer.decoded += 1
            yield frame


# 1. preprocess: outputs that would share a name --------------------------------------------------

@pytest.fixture
def colliding_source(tmp_path, samples):
    src = tmp_path / "src"
    (src / "person").mkdir(parents=True)
    takeo = read_image(samples.fetch("takeo"))
    Image.fromarray(takeo).save(src / "x.jpg", quality=90)
    Image.fromarray(read_image(samples.fetch("grace_hopper"))).save(src / "x.png")
    write_video(src / "person.mp4", list(read_frames(samples.fetch("single_face"), range(6))))
    for name in ("einstein", "takeo"):
        Image.open(samples.fetch(name)).save(src / "person" / f"{name}.png")
    return src


def test_sources_sharing_an_output_name_each_get_their_own_clip(colliding_source, tmp_path):
    summary = preprocess(colliding_source, tmp_path / "out", Settings(frames=4, **SMALL), progress=False)
    clips = {p.relative_to(tmp_path / "out").as_posix(): read_meta(p)["source"] for p in list_clips(tmp_path / "out")}
    assert summary["done"] == len(clips) == 4 and summary["failed"] == 0
    assert {k: Path(v).name for k, v in clips.items()} == {
        "x.jpg.npz": "x.jpg", "x.png.npz": "x.png", "person.mp4.npz": "person.mp4", "person.npz": "person"}


def test_a_clip_written_under_a_shared_name_stays_with_its_source(colliding_source, tmp_path):
    for name in ("x.jpg", "person"):  # an earlier run saw only x.png and person.mp4 ...
        (colliding_source / name).rename(tmp_path / name)
    out = tmp_path / "out"
    preprocess(colliding_source, out, Settings(frames=4, **SMALL), progress=False)
    for name in ("x.jpg", "person"):  # ... then x.jpg and the folder person/ joined them
        (tmp_path / name).rename(colliding_source / name)
    summary = preprocess(colliding_source, out, Settings(frames=4, **SMALL), progress=False)
    assert summary["skipped"] == 2 and summary["done"] == 2  # the earlier clips are kept, not redone
    clips = {p.relative_to(out).as_posix(): Path(read_meta(p)["source"]).name for p in list_clips(out)}
    assert clips == {"x.npz": "x.png", "x.jpg.npz": "x.jpg", "person.npz": "person.mp4",
                     "person.images.npz": "person"}


# 2. bounded memory and work on the video path ----------------------------------------------------

def test_sampling_a_long_video_seeks_instead_of_decoding_everything(tmp_path, monkeypatch):
    frames = _numbered_frames(2400)
    path = _encode(tmp_path / "long.mp4", frames, gop=50)
    wanted = sample_indices(probe(path).frames, 8)
    sequential = list(read_frames(path))  # reference: every frame, in order
    _CountingContainer.decoded = 0
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: _CountingContainer(real_open(*a, **k)))
    got = list(frames_at(path, wanted))
    assert [i for i, _ in got] == wanted.tolist()
    assert all(np.array_equal(frame, sequential[i]) for i, frame in got)  # frame-accurate
    assert _CountingContainer.decoded <= len(wanted) * 50  # a GOP at most per sample, not 2,400


def test_preprocess_holds_one_frame_at_a_time(tmp_path, samples, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    write_video(src / "talk.mp4", list(read_frames(samples.fetch("single_face"), range(0, 72, 3))))
    alive, peak = [], [0]
    real = preprocess_module.frames_at

    def tracked(path, indices=None, **kwargs):
        for index, frame in real(path, indices, **kwargs):
            alive.append(weakref.ref(frame))
            peak[0] = max(peak[0], sum(ref() is not None for ref in alive))
            yield index, frame

    monkeypatch.setattr(preprocess_module, "frames_at", tracked)
    summary = preprocess(src, tmp_path / "out", Settings(frames=12, **SMALL), progress=False)
    assert summary["done"] == 1 and summary["frames"] >= 10
    assert peak[0] <= 2  # not all 12 sampled frames at full resolution


def test_image_folders_honour_frames(tmp_path, samples):
    folder = tmp_path / "src" / "alice"
    folder.mkdir(parents=True)
    takeo = Image.open(samples.fetch("takeo"))
    for i in range(6):
        takeo.save(folder / f"{i}.png")
    preprocess(tmp_path / "src", tmp_path / "out", Settings(frames=3, **SMALL), progress=False)
    assert read_meta(tmp_path / "out" / "alice.npz")["frame_names"] == ["0.png", "2.png", "5.png"]


def test_frames_over_the_pixel_budget_are_refused_or_shrunk(tmp_path):
    frames = _numbered_frames(6)
    path = write_video(tmp_path / "small.gif", frames)
    shrunk = [frame for _, frame in frames_at(path, max_pixels=1000)]  # 64 x 48 = 3,072 px each
    assert len(shrunk) == 6 and all(f.shape[0] * f.shape[1] <= 1000 for f in shrunk)
    with pytest.raises(VideoReadError, match="small.gif.*too many"):
        read_video(path, max_frames=3)
    big = tmp_path / "big.gif"
    Image.new("L", (8200, 4200), 90).save(big)  # 34 Mpx: over the 33.5 Mpx a frame
    with pytest.raises(VideoReadError, match=r"big.gif: frames are 8200x4200 \(34 Mpx\)"):
        probe(big)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")
def test_preprocess_of_a_14000_pixel_gif_stays_in_bounded_memory(tmp_path):
    """A 14000 x 14000 GIF (~180 kB on disk) once took 3.4 GB to decode; now it is refused before decoding."""
    for name in ("gif", "baseline"):
        (tmp_path / name).mkdir()
    image = Image.new("L", (14000, 14000), 90)
    image.paste(200, (4000, 4000, 7000, 7000))
    image.save(tmp_path / "gif" / "huge.gif")  # ~180 kB: mostly flat
    del image
    Image.new("RGB", (64, 64)).save(tmp_path / "baseline" / "tiny.png")

    def peak_rss_mb(src: Path) -> float:  # VmHWM: this process's own peak (ru_maxrss survives exec)
        code = ("import re; from fsth.cli import main; "
                f"main(['preprocess', {str(src)!r}, {str(src) + '-out'!r}, '--backend', 'dlib']); "
                "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        return int(run.stdout.strip().splitlines()[-1]) / 1024

    gif, baseline = peak_rss_mb(tmp_path / "gif"), peak_rss_mb(tmp_path / "baseline")
    assert gif < baseline + 150 and gif < 1024, (gif, baseline)  # one frame alone would be 784 MB
    failure = (tmp_path / "gif-out" / FAILURE_LOG).read_text()
    assert "huge.gif" in failure and "14000x14000" in failure


# 3. temp files never follow a planted symlink ----------------------------------------------------

def _write_faceset(target):
    from detector.data import FaceSet

    FaceSet(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 1]), np.array(["a", "b"]), np.array(["v", "w"]),
            np.array(["s", "s"])).save(target)


def _write_sample(target, monkeypatch):
    from fsth.data import samples as samples_module

    monkeypatch.setenv("FSTH_CACHE", str(target.parent.parent))
    return samples_module.fetch("grace_hopper")


WRITERS = {
    "image": ("out.png", lambda t, mp: save_image(t, np.zeros((8, 8, 3), np.uint8))),
    "mp4": ("out.mp4", lambda t, mp: write_video(t, _numbered_frames(3))),
    "gif": ("out.gif", lambda t, mp: write_video(t, _numbered_frames(3))),
    "clip": ("out.npz", lambda t, mp: save_clip(t, np.zeros((2, 16, 16, 3), np.uint8), np.zeros((2, 68, 2)), {})),
    "checkpoint": ("step-00000001.pt", lambda t, mp: save_checkpoint(t, {"step": 1})),
    "faceset": ("faces.npz", lambda t, mp: _write_faceset(t)),
    "sample": ("grace_hopper.jpg", _write_sample),
}


@pytest.mark.parametrize("kind", WRITERS)
def test_writes_never_follow_a_symlink_planted_at_the_old_temp_name(kind, tmp_path, monkeypatch):
    name, write = WRITERS[kind]
    folder = tmp_path / "cache" / "samples" if kind == "sample" else tmp_path / "out"
    folder.mkdir(parents=True)
    target = folder / name
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    planted = [folder / f".{name}.tmp", folder / f".{name}.tmp{target.suffix}"]
    for link in planted:
        link.symlink_to(victim)
    write(target, monkeypatch)
    assert victim.read_bytes() == b"precious"
    assert target.is_file() and not target.is_symlink() and target.stat().st_size > 0
    assert sorted(p for p in folder.iterdir() if p.name.startswith(".")) == sorted(planted)  # no temp left
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("old")
    with pytest.raises(OSError, match="disk full"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError("disk full")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]


def test_stale_temps_of_killed_writes_are_found_and_swept(tmp_path):
    (tmp_path / "step-00000002.pt").write_bytes(b"ok")
    (tmp_path / ".hidden").write_text("not a temp")
    killed = [tmp_path / ".step-00000003.pt.k2x9_q7a.tmp.pt", tmp_path / ".step-00000001.pt.tmp"]
    for path in killed:
        path.write_bytes(b"half")
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / ".metrics.csv.ab12cd34.tmp.csv").symlink_to(victim)
    os.utime(killed[1], (1, 1))
    assert stale_temps(tmp_path, older_than=3600) == [killed[1]]
    found = stale_temps(tmp_path)
    assert set(found) == {*killed, tmp_path / ".metrics.csv.ab12cd34.tmp.csv"}
    assert sweep_stale_temps(tmp_path) == found
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "step-00000002.pt", "victim"]
    assert victim.read_text() == "precious"


def test_samples_export_replaces_a_dangling_symlink_instead_of_writing_through_it(tmp_path, samples):
    out = tmp_path / "export"
    out.mkdir()
    victim = tmp_path / "victim.jpg"
    (out / "grace_hopper.jpg").symlink_to(victim)  # dangling: victim doesn't exist yet
    samples.export(out)
    assert not victim.exists() and not (out / "grace_hopper.jpg").is_symlink()
    assert samples.sha256(out / "grace_hopper.jpg") == samples.SAMPLES["grace_hopper"].sha256


# 4. torch floor and FAN weights verified by hash -------------------------------------------------

def test_torch_floor_is_2_6_everywhere():
    import torch

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch>=2.6" in deps and "torchvision>=0.21" in deps
    assert "pytorch>=2.6" in (ROOT / "environment.yml").read_text()
    assert tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 6)


def test_fan_weights_that_fail_their_hash_are_refused_and_not_kept(tmp_path, monkeypatch):
    import torch.hub

    from fsth.landmarks.detect import FanDetector

    class FakeResponse(io.BytesIO):
        def info(self):
            headers = email.message.Message()
            headers["Content-Length"] = str(len(self.getvalue()))
            return headers

    requested = []
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "urlopen", lambda req, *a, **k: requested.append(req.full_url)
                        or FakeResponse(b"not the FAN weights"))
    with pytest.raises(RuntimeError, match="SHA-256"):
        FanDetector()
    assert requested and "2DFAN4" in requested[0]
    assert not list((tmp_path / "hub").rglob("*2DFAN4*"))  # nothing kept for next time


# 5. wrong answers without an error ---------------------------------------------------------------

def test_16_bit_grayscale_png_keeps_its_tones(tmp_path, samples):
    gray = np.asarray(Image.open(samples.fetch("einstein")).convert("L"))
    Image.fromarray(gray).save(tmp_path / "8bit.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "16bit.png")
    assert Image.open(tmp_path / "16bit.png").mode == "I;16"
    assert np.array_equal(read_image(tmp_path / "16bit.png"), read_image(tmp_path / "8bit.png"))
    assert to_rgb(np.array([[0, 32896, 65535]], np.uint16))[0, :, 0].tolist() == [0, 128, 255]


def test_landmarks_out_writes_exactly_the_named_file_or_refuses(tmp_path, samples, capsys):
    image = str(samples.fetch("takeo"))
    assert main(["landmarks", image, "--backend", "dlib", "--out", str(tmp_path / "p.txt")]) == 2
    assert "p.txt" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert main(["landmarks", image, "--backend", "dlib", "--out", str(tmp_path / "p.npy")]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["p.npy"] and np.load(tmp_path / "p.npy").shape == (68, 2)


def test_an_empty_folder_is_named(tmp_path, capsys):
    empty = tmp_path / "frames"
    empty.mkdir()
    with pytest.raises(VideoReadError, match="frames: folder holds no images"):
        list(read_frames(empty))
    assert main(["landmarks", str(empty), "--backend", "dlib"]) == 1
    assert f"{empty}: folder holds no images" in capsys.readouterr().err


def test_a_truncated_mp4_with_its_index_first_is_refused_naming_it(tmp_path):
    good = _encode(tmp_path / "good.mp4", _numbered_frames(48), faststart=True)
    data = good.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # the index first, as streaming sites write it
    src = tmp_path / "src"
    src.mkdir()
    (src / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(VideoReadError, match="cut.mp4: truncated: the file declares 48 frames but holds only"):
        probe(src / "cut.mp4")
    summary = preprocess(src, tmp_path / "out", Settings(**SMALL), progress=False)
    assert summary["failed"] == 1 and "truncated" in (tmp_path / "out" / FAILURE_LOG).read_text()


# 6. several faces --------------------------------------------------------------------------------

def test_the_largest_face_of_a_group_photo_wins_when_boxes_tie(samples, dlib_detector):
    group = read_image(samples.fetch("multi_face"))  # three faces get the same 112 px HOG box
    points = dlib_detector.detect(group)
    assert np.ptp(points, axis=0).max() > 108 and points[:, 0].mean() > 640  # the right-hand, largest one

    hopper = read_image(samples.fetch("grace_hopper"))
    canvas = np.full((900, 1500, 3), 120, np.uint8)
    small = cv2.resize(hopper, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    large = cv2.resize(hopper, None, fx=0.88, fy=0.88, interpolation=cv2.INTER_AREA)  # 10% larger
    canvas[20:20 + small.shape[0], 20:20 + small.shape[1]] = small
    canvas[20:20 + large.shape[0], 700:700 + large.shape[1]] = large
    assert dlib_detector.detect(canvas)[:, 0].mean() > 700
