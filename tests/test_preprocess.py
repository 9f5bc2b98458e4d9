import numpy as np
import pytest
from PIL import Image

from fsth.cli import main
from fsth.io.clips import list_clips, load_clip
from fsth.io.images import read_image, save_image
from fsth.data.preprocess import FAILURE_LOG, Settings, discover, preprocess, sample_indices
from fsth.io.video import read_frames, write_video


@pytest.fixture(scope="module")
def messy_source(tmp_path_factory, samples):
    """Good and bad inputs side by side, as a user's folder might hold them."""
    src = tmp_path_factory.mktemp("src")
    frames = list(read_frames(samples.fetch("single_face"), range(10)))
    good = write_video(src / "good.mp4", frames)
    (src / "truncated.mp4").write_bytes(good.read_bytes()[:3000])
    (src / "empty.mp4").write_bytes(b"")
    (src / "notes.mp4").write_text("a text file with a video's name\n")
    save_image(src / "noface.png", np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8))
    takeo = read_image(samples.fetch("takeo"))
    Image.fromarray(takeo.mean(axis=2).astype(np.uint8), "L").save(src / "gray.png")
    rgba = np.concatenate([takeo, np.full(takeo.shape[:2] + (1,), 200, np.uint8)], axis=2)
    Image.fromarray(rgba, "RGBA").save(src / "rgba.png")
    hopper = np.asarray(Image.open(samples.fetch("grace_hopper")).resize((10_000, 10_000)))
    Image.fromarray(hopper).save(src / "huge.jpg", quality=80)
    (src / "person").mkdir()
    for name in ("einstein", "takeo"):
        Image.open(samples.fetch(name)).save(src / "person" / f"{name}.png")
    return src


def test_bad_inputs_are_logged_and_the_rest_completes(messy_source, tmp_path, capsys):
    out = tmp_path / "out"
    settings = ["--size", "64", "--frames", "6", "--backend", "dlib"]
    assert main(["preprocess", str(messy_source), str(out), *settings]) == 0
    printed = capsys.readouterr().out
    assert "4 failed" in printed and "5 written" in printed
    failures = dict(line.split("\t") for line in (out / FAILURE_LOG).read_text().splitlines())
    names = {k.rsplit("/", 1)[-1]: v for k, v in failures.items()}
    assert set(names) == {"truncated.mp4", "empty.mp4", "notes.mp4", "noface.png"}
    assert "no face" in names["noface.png"]
    assert all(reason.strip() for reason in names.values())
    clips = {p.relative_to(out).as_posix(): p for p in list_clips(out)}
    assert set(clips) == {"good.npz", "gray.npz", "rgba.npz", "huge.npz", "person.npz"}
    assert not [p for p in out.rglob(".*")]  # no half-written files
    good = load_clip(clips["good.npz"])
    assert good.frames.shape == (6, 64, 64, 3) and good.landmarks.shape == (6, 68, 2)
    assert good.meta["frame_indices"] == [0, 2, 4, 5, 7, 9]
    assert load_clip(clips["person.npz"]).meta["frame_names"] == ["einstein.png", "takeo.png"]
    assert load_clip(clips["huge.npz"]).frames.shape == (1, 64, 64, 3)

    # a second run skips what is done, retries what failed, and still exits 0
    assert main(["preprocess", str(messy_source), str(out), *settings]) == 0
    assert "5 already done, 4 failed" in capsys.readouterr().out


def test_crop_landmarks_map_back_onto_the_face(samples, dlib_detector, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    image = read_image(samples.fetch("grace_hopper"))
    save_image(src / "hopper.png", image)
    preprocess(src, tmp_path / "out", Settings(size=128, backend="dlib"), progress=False)
    clip = load_clip(tmp_path / "out" / "hopper.npz")
    x0, y0, side = clip.meta["boxes"][0]
    back = (clip.landmarks[0] + 0.5) * side / 128 - 0.5 + [x0, y0]
    direct = dlib_detector.detect(image)
    assert np.abs(back - direct).max() < 0.01
    # and in the crop the face fills the middle, not a corner
    assert 20 < clip.landmarks[0][:, 0].mean() < 108 and 20 < clip.landmarks[0][:, 1].mean() < 108


def test_no_input_succeeds_exits_nonzero(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.mp4").write_bytes(b"")
    assert main(["preprocess", str(tmp_path / "src"), str(tmp_path / "out"), "--backend", "dlib"]) == 1


def test_a_crash_while_writing_leaves_no_clip(samples, tmp_path, monkeypatch):
    import fsth.io.clips as clips_module

    src = tmp_path / "src"
    src.mkdir()
    save_image(src / "takeo.png", read_image(samples.fetch("takeo")))

    def broken_savez(f, **arrays):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(clips_module.np, "savez", broken_savez)
    summary = preprocess(src, tmp_path / "out", Settings(size=64, backend="dlib"), progress=False)
    assert summary["failed"] == 1 and "disk full" in summary["failures"][0][1]
    assert list((tmp_path / "out").glob("*.npz")) == [] and not list((tmp_path / "out").glob(".*"))


def test_voxceleb_layout_and_image_folders(tmp_path):
    for rel in ["id001/vidA/00001.mp4", "id001/vidA/00002.mp4", "id002/vidB/00001.mp4",
                "solo.mp4", "alice/a.jpg", "alice/b.jpg", "portrait.png", "readme.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    jobs = {j.out: (j.kind, j.identity, j.video) for j in discover(tmp_path)}
    assert jobs == {
        "id001/vidA/00001.npz": ("video", "id001", "vidA"),
        "id001/vidA/00002.npz": ("video", "id001", "vidA"),
        "id002/vidB/00001.npz": ("video", "id002", "vidB"),
        "solo.npz": ("video", "solo", "solo"),
        "alice.npz": ("images", "alice", "alice"),
        "portrait.npz": ("image", "portrait", "portrait"),
    }
    with pytest.raises(FileNotFoundError, match="missing"):
        discover(tmp_path / "missing")


def test_sample_indices_spread_evenly():
    assert sample_indices(100, 5).tolist() == [0, 25, 50, 74, 99]
    assert sample_indices(3, 10).tolist() == [0, 1, 2]
    assert len(sample_indices(472, 0)) == 472


def test_parallel_workers_give_the_same_clips(samples, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in ("takeo", "grace_hopper", "astronaut"):
        save_image(src / f"{name}.png", read_image(samples.fetch(name)))
    one = preprocess(src, tmp_path / "one", Settings(size=64, backend="dlib"), workers=1, progress=False)
    two = preprocess(src, tmp_path / "two", Settings(size=64, backend="dlib"), workers=2, progress=False)
    assert one["done"] == two["done"] == 3
    for path in list_clips(tmp_path / "one"):
        other = tmp_path / "two" / path.name
        assert np.array_equal(load_clip(path).landmarks, load_clip(other).landmarks)


def test_an_interrupted_run_still_lists_the_failures_it_met(tmp_path, monkeypatch):
    """The failure log is written once, atomically, even when the run stops halfway."""
    import fsth.landmarks
    from fsth.data import preprocess as preprocess_module

    src = tmp_path / "src"
    for name in ("a", "b", "c"):
        save_image(src / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / FAILURE_LOG).write_text("stale\tfrom an earlier run\n")

    def run(job, out_root, settings, detector):
        if job.source.endswith("c.png"):
            raise KeyboardInterrupt
        return job, None, f"no   face in\n{job.source}"

    monkeypatch.setattr(fsth.landmarks, "create_detector", lambda backend: None)
    monkeypatch.setattr(preprocess_module, "_run", run)
    with pytest.raises(KeyboardInterrupt):
        preprocess(src, tmp_path / "out", progress=False)
    failures = [line.split("\t") for line in (tmp_path / "out" / FAILURE_LOG).read_text().splitlines()]
    assert [source.rsplit("/", 1)[-1] for source, _ in failures] == ["a.png", "b.png"]  # the stale line is gone
    assert all(error == f"no face in {source}" for source, error in failures)  # one line per failure
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [FAILURE_LOG]  # no temp left
