"""Hostile files and slips against training, evaluation and both command lines:
nothing lost, nothing overwritten, no tracebacks. Every hostile file is built here in tmp_path."""
import csv
import json
import logging
import os
import shutil
import time
import zipfile

import numpy as np
import pytest
import torch

from fsth.cli import main
from fsth.io.clips import ClipError, load_clip, read_meta, save_clip
from fsth.io.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from fsth.train.config import ConfigError, TrainConfig
from fsth.train.episodes import EpisodeDataset
from fsth.train.meta import train
from tests.helpers import SMALL_MODEL, run_cli


def config(data, out, **overrides):
    base = dict(data=str(data), out=str(out), model=SMALL_MODEL, k=3, batch_size=2, steps=4, vgg19=None,
                log_every=1, image_every=0, checkpoint_every=2, optim={"amp": "none"})
    return TrainConfig(**{**base, **overrides})


# ---- corrupt clips: one of each kind the probe found --------------------------------------

def _rewrite(path, **change):
    """Write the clip at ``path`` again with some of its arrays changed (a hand-made bad file)."""
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta.update(change.pop("meta", {}))
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    arrays.update(change)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def bad_jpeg(path):
    with np.load(path) as data:
        jpeg, offsets = data["jpeg"].copy(), data["offsets"]
    jpeg[offsets[2]:] = 7  # frames 2 onwards: same lengths, not JPEG any more (every episode meets one)
    _rewrite(path, jpeg=jpeg)


def bad_offsets(path):
    with np.load(path) as data:
        offsets = data["offsets"].copy()
    offsets[1:] += 5000  # points past the end of the frame bytes
    _rewrite(path, offsets=offsets)


def short_t(path):  # says 10 frames, holds 3
    with np.load(path) as data:
        offsets, landmarks = data["offsets"][:4], data["landmarks"][:3]
    _rewrite(path, offsets=offsets, landmarks=landmarks)


def truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def nan_landmarks(path):
    with np.load(path) as data:
        landmarks = data["landmarks"].copy()
    landmarks[4, 7] = [np.nan, np.inf]
    _rewrite(path, landmarks=landmarks)


CORRUPTIONS = {"bad_jpeg": bad_jpeg, "bad_offsets": bad_offsets, "short_t": short_t, "truncated": truncated,
               "nan_landmarks": nan_landmarks}


@pytest.fixture
def hostile_data(clip_folder, tmp_path):
    """The six good clips plus one clip of each corrupt kind (identity 'bad')."""
    data = tmp_path / "data"
    shutil.copytree(clip_folder, data)
    for name, corrupt in CORRUPTIONS.items():
        path = data / "bad" / f"{name}.npz"
        path.parent.mkdir(exist_ok=True)
        shutil.copy(clip_folder / "id0" / "clip0.npz", path)
        _rewrite(path, meta={"identity": "bad", "video": name})
        corrupt(path)
    return data


def test_save_clip_refuses_what_a_reader_would_choke_on(tmp_path):
    frames, points = np.zeros((4, 16, 16, 3), np.uint8), np.full((4, 68, 2), 8, np.float32)
    points[2, 3, 0] = np.nan
    with pytest.raises(ClipError, match=r"nan\.npz.*frame\(s\) 2.*NaN"):
        save_clip(tmp_path / "nan.npz", frames, points, {})
    with pytest.raises(ClipError, match=r"shape\.npz.*\(4, 68, 2\)"):
        save_clip(tmp_path / "shape.npz", frames, points[:3], {})
    with pytest.raises(ClipError, match="empty.npz"):
        save_clip(tmp_path / "empty.npz", frames[:0], points[:0], {})
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_load_clip_names_the_file_and_the_fault(hostile_data, kind):
    path = hostile_data / "bad" / f"{kind}.npz"
    expected = {"bad_jpeg": "frame 2 is damaged", "bad_offsets": "offsets end at byte", "short_t": "need 11",
                "truncated": "not a readable fsth clip", "nan_landmarks": r"frame\(s\) 4 are NaN"}[kind]
    with pytest.raises(ClipError, match=f"{kind}.npz: .*{expected}"):
        load_clip(path)
    assert isinstance(ClipError("x"), ValueError)


def test_a_corrupt_clip_is_replaced_by_the_next_one_deterministically(hostile_data):
    dataset = EpisodeDataset(hostile_data, k=3, size=32)
    assert len(dataset) == 8 and len(dataset.skipped) == 3  # short T, truncated, NaN: left out when listed
    bad = [i for i, p in enumerate(dataset.paths) if p.parent.name == "bad"]
    item = dataset[(bad[0], 123)]
    assert int(item["skipped"]) == 2 and int(item["clip"]) == bad[0] + 2  # bad_jpeg, bad_offsets, next good one
    again = EpisodeDataset(hostile_data, k=3, size=32)[(bad[0], 123)]  # a fresh process decides the same
    assert torch.equal(item["target"], again["target"]) and torch.equal(item["shots"], again["shots"])
    dataset.note_skipped({k: v[None] for k, v in item.items()})
    assert len(dataset.skipped) == 5 and "is damaged (not a JPEG" in dataset.skipped.reasons[str(dataset.paths[bad[0]])]


@pytest.mark.parametrize("workers", [0, 1])
def test_training_skips_and_counts_corrupt_clips(hostile_data, tmp_path, caplog, workers):
    caplog.set_level(logging.WARNING)
    summary = train(config(hostile_data, tmp_path / "run", workers=workers), progress=False)
    assert summary["step"] == 4 and summary["clips"] == 8  # 4 steps x 2 episodes: every clip once
    assert summary["corrupt_clips"] == 5 and {os.path.basename(p) for p in summary["corrupt"]} == \
        {f"{k}.npz" for k in CORRUPTIONS}
    for kind in CORRUPTIONS:  # one warning per file, naming it
        assert sum(f"{kind}.npz" in r.getMessage() and "skipping" in r.getMessage() for r in caplog.records) == 1
    assert "5 corrupt clip(s) skipped" in caplog.text


def test_resume_with_corrupt_clips_is_bit_identical(hostile_data, tmp_path):
    whole = train(config(hostile_data, tmp_path / "whole"), progress=False)
    train(config(hostile_data, tmp_path / "split", steps=2), progress=False)
    resumed = train(config(hostile_data, tmp_path / "split"), progress=False)
    assert resumed["losses"] == whole["losses"]
    a = load_checkpoint(tmp_path / "whole" / "step-00000004.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "step-00000004.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_inspect_draws_the_sheet_without_the_corrupt_clips(hostile_data, tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert main(["inspect", str(hostile_data), "--out", str(sheet), "--max-clips", "20"]) == 0
    out = capsys.readouterr().out
    assert "8 clip(s)" in out and "5 corrupt clip(s) skipped" in out and "bad_jpeg.npz" in out
    assert sheet.stat().st_size > 1000


class _StubScorer:
    """Stands in for the metrics (what is tested here is which clips are read)."""

    def embedder(self, frames, landmarks):
        return np.zeros((len(frames), 4))

    def __call__(self, fake, real, landmarks, identity_reference=None):
        return {"l1": np.abs(fake.astype(float) - real).mean(axis=(1, 2, 3)), "csim": np.zeros(len(fake))}


def test_evaluation_skips_corrupt_clips(hostile_data):
    from fsth.io.clips import SkippedClips
    from fsth.evaluate import EvalSettings, cross_identity, self_reenactment
    from fsth.nn import create

    model = create({**SMALL_MODEL, "num_videos": 1}).eval()
    clips = [hostile_data / "id0" / "clip0.npz", hostile_data / "bad" / "bad_jpeg.npz",
             hostile_data / "id1" / "clip0.npz", hostile_data / "bad" / "bad_offsets.npz"]
    skipped = SkippedClips()
    settings = EvalSettings(ks=(1,), targets=2)
    rows = self_reenactment(model, clips, settings, _StubScorer(), variants=("ff",), progress=False, skipped=skipped)
    assert {r["method"] for r in rows} == {"ff", "mean frame", "warp"} and len(skipped) == 2
    cross = cross_identity(model, clips, settings, _StubScorer(), k=1, progress=False, skipped=skipped)
    assert len(cross) == 2 and len(skipped) == 2


# ---- one error path in both command lines ---------------------------------------------------

@pytest.fixture
def unwritable(tmp_path):
    """A folder nobody may write to (as root, chmod doesn't stop us: use /sys)."""
    if os.geteuid() == 0:
        return "/sys"
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    return str(folder)



@pytest.fixture
def checkpoint(tmp_path):
    from fsth.nn import create

    model = create({**SMALL_MODEL, "num_videos": 1})
    return save_checkpoint(tmp_path / "model.pt", {"model": model.state_dict(), "model_config": model.config.to_dict()})


def test_output_paths_are_checked_before_any_work(tmp_path, capsys, unwritable, hostile_data, checkpoint):
    folder, a_file = tmp_path / "folder", tmp_path / "a_file"
    folder.mkdir()
    a_file.write_text("mine")
    person = ["--checkpoint", str(checkpoint), "--clip", str(hostile_data / "id0" / "clip0.npz"), "--ft-steps", "0"]
    cases = [  # argv, exit code, what the one line must say
        (["preprocess", str(tmp_path), str(a_file)], 2, f"OUT {a_file} is a file, not a folder"),
        (["preprocess", str(tmp_path), f"{unwritable}/out"], 1, f"{unwritable}"),
        (["animate", "--person", "p.pt", "--driving", "v.mp4", "--out", str(folder)], 2, f"--out {folder} is a folder"),
        (["animate", "--person", "p.pt", "--driving", "v.mp4", "--out", f"{unwritable}/a.mp4"], 1, unwritable),
        (["finetune", *person, "--out", f"{unwritable}/p.pt"], 1, f"{unwritable}: "),
        (["finetune", *person, "--out", f"{a_file}/p.pt"], 2, f"--out {a_file}/p.pt: {a_file} is a file, not a folder"),
        (["train", "--data", str(hostile_data), "--out", str(a_file)], 2, f"--out {a_file} is a file"),
        (["inspect", str(hostile_data), "--out", str(folder)], 2, f"--out {folder} is a folder"),
    ]
    for argv, code, says in cases:
        got, line = run_cli(capsys, argv)
        assert (got, says in line) == (code, True), (argv, line)
        assert line.startswith(f"fsth {argv[0]}: error: ")
    assert a_file.read_text() == "mine" and not list(folder.iterdir())


def test_finetune_from_a_corrupt_clip_is_one_line(hostile_data, checkpoint, tmp_path, capsys):
    bad = hostile_data / "bad" / "bad_jpeg.npz"
    code, line = run_cli(capsys, ["finetune", "--checkpoint", str(checkpoint), "--clip", str(bad),
                                  "--out", str(tmp_path / "p.pt")])
    assert code == 1 and f"{bad}: frame 2 is damaged" in line and not (tmp_path / "p.pt").exists()
    assert main(["finetune", "--checkpoint", str(checkpoint), "--clip", str(hostile_data / "id0" / "clip0.npz"),
                 "--k", "2", "--ft-steps", "0", "--out", str(tmp_path / "new" / "p.pt")]) == 0  # missing folders made


def test_landmarks_output_errors_are_one_line(samples, tmp_path, capsys, unwritable):
    image = str(samples.fetch("monalisa"))
    code, line = run_cli(capsys, ["landmarks", image, "--backend", "dlib", "--out", f"{unwritable}/points.npy"])
    assert code == 1 and f"{unwritable}: permission denied" in line, line
    assert main(["landmarks", image, "--backend", "dlib", "--out", str(tmp_path / "new" / "points.npy")]) == 0
    assert np.load(tmp_path / "new" / "points.npy").shape == (68, 2)  # a missing folder is made


@pytest.mark.parametrize("text, key", [
    ("checkpoint_every: 0", "checkpoint_every must be >= 1, not 0"), ("log_every: 0", "log_every must be >= 1"),
    ("k: 2.5", "k must be an integer, not 2.5"), ("steps: [1, 2]", "steps must be an integer, not [1, 2]"),
    ("- data: x\n- steps: 3", "a config is a mapping"), ("optim: adam", "optim must be a mapping"),
    ("max_minutes: -1", "max_minutes must be >= 0"), ("steps: true", "steps must be an integer, not true"),
    ("optim: {amp: int8}", "optim.amp must be one of"), ("loss: {pixel: -1}", "loss.pixel must be >= 0"),
    ("model: {chanels: 8}", "unknown model keys: ['chanels']"), ("preset: huge", "preset must be one of"),
    ("steps: [", "not valid YAML"),
])
def test_bad_configs_are_one_line_naming_the_key(tmp_path, capsys, text, key):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    code, line = run_cli(capsys, ["train", "--config", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "r")])
    assert code == 2 and f"fsth train: error: {path}: {key}" in line
    assert not (tmp_path / "r").exists()


def test_configs_in_python_are_checked_too():
    with pytest.raises(ConfigError, match="checkpoint_every"):
        TrainConfig(checkpoint_every=0)
    with pytest.raises(ConfigError, match="steps must be an integer, not true"):
        TrainConfig(steps=True)
    assert TrainConfig(k=3.0, max_minutes=1, optim={"lr_g": "5e-5"}).k == 3  # what YAML hands over still works


def test_verbose_shows_the_traceback(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("k: 0")
    assert main(["train", "--verbose", "--config", str(tmp_path / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "k must be >= 1" in err


def _evil(path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    torch.save({"kind": "timm", "format": "fsth-checkpoint-1", "x": Evil()}, path)
    return path


def test_pickles_are_refused_without_torchs_hint(tmp_path, capsys):
    from detector.__main__ import main as detector_main

    evil = _evil(tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(evil)
    message = str(caught.value)
    assert "evil.pt: not a safe fsth checkpoint" in message and "weights_only" not in message
    assert "likely succeed" not in message and caught.value.__cause__ is None
    code, line = run_cli(capsys, ["score", str(tmp_path / "x.png"), "--detector", str(evil)], detector_main)
    assert code == 1 and "evil.pt: not a safe fsth detector file" in line and "weights_only" not in line


def test_a_failing_loss_curve_never_buries_the_real_error(clip_folder, tmp_path, monkeypatch, caplog):
    run = tmp_path / "run"
    (run / "loss_curve.png").mkdir(parents=True)  # can't be written: the picture fails
    assert train(config(clip_folder, run, steps=1), progress=False)["step"] == 1
    assert "could not draw" in caplog.text

    from fsth.train import step

    def boom(self, batch):
        raise RuntimeError("the real error")

    monkeypatch.setattr(step.MetaStep, "__call__", boom)
    with pytest.raises(RuntimeError, match="the real error"):
        train(config(clip_folder, run, steps=3), progress=False)


# ---- detector files (item 7) ------------------------------------------------------------------

def _frequency(tmp_path, **change):
    state = json.loads(open(os.path.join(os.path.dirname(__file__), "..", "fsth", "pretrained", "frequency.json")).read())
    state.update(change)
    path = tmp_path / "freq.json"
    path.write_text(json.dumps(state))  # json writes NaN as NaN, as a careless tool would
    return path


def test_frequency_detector_files_are_checked(tmp_path, capsys):
    from detector import models
    from detector.__main__ import main as detector_main

    good = json.loads((_frequency(tmp_path)).read_text())
    for change, says in [({"coef": [[float("nan")] + good["coef"][0][1:]]}, "coef must be 1 x 32 finite numbers"),
                         ({"bins": 10 ** 9}, "bins must be an integer from 1 to 4096"),
                         ({"bins": True}, "bins must be an integer"), ({"kind": "timm"}, "not a saved fsth frequency")]:
        with pytest.raises(ValueError, match=says):
            models.load(_frequency(tmp_path, **change))
    path = _frequency(tmp_path)
    state = json.loads(path.read_text())
    del state["mean"]
    path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="freq.json: incomplete frequency detector, missing mean"):
        models.load(path)
    image = tmp_path / "x.png"
    code, line = run_cli(capsys, ["score", str(image), "--detector", str(_frequency(tmp_path, intercept=[float("nan")]))],
                         detector_main)
    assert code == 1 and "freq.json: intercept" in line
    assert models.load(_frequency(tmp_path)).bins == 32


# ---- resume (item 8) ------------------------------------------------------------------------------

def test_resume_falls_back_past_a_truncated_checkpoint_and_keeps_it(clip_folder, tmp_path, caplog):
    run = tmp_path / "run"
    train(config(clip_folder, run, steps=2, checkpoint_every=1), progress=False)
    newest = run / "step-00000002.pt"
    torn = newest.read_bytes()[:5000]
    newest.write_bytes(torn)
    summary = train(config(clip_folder, run, steps=3, checkpoint_every=1), progress=False)
    assert summary["step"] == 3
    assert "step-00000002.pt" in caplog.text and "resuming from step-00000001.pt" in caplog.text
    assert (run / "step-00000002.pt.corrupt").read_bytes() == torn  # kept, never deleted
    assert [p.name for p in list_checkpoints(run)] == ["step-00000001.pt", "step-00000002.pt", "step-00000003.pt"]
    for p in list_checkpoints(run):
        p.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="no checkpoint in .* loads"):
        train(config(clip_folder, run, steps=4), progress=False)
    assert not list(run.glob("step-00000003.pt.corrupt*"))  # nothing renamed when there is nowhere to go


def test_resume_sweeps_temp_files_of_killed_writes(clip_folder, tmp_path):
    run = tmp_path / "run"
    train(config(clip_folder, run, steps=2), progress=False)
    stale = [run / ".step-00000004.pt.k3x9q2ab.tmp.pt", run / "samples" / ".step-00000004.png.abcdefgh.tmp.png"]
    fresh = run / ".step-00000004.pt.zzzzzzzz.tmp.pt"  # a write that may still be running
    for path in [*stale, fresh]:
        path.write_bytes(b"\0" * 1000)
    for path in stale:
        os.utime(path, (time.time() - 3600,) * 2)
    train(config(clip_folder, run, steps=3), progress=False)
    assert not any(p.exists() for p in stale) and fresh.exists()


@pytest.mark.parametrize("cut", ["2,0.5,0.0", "2", "garbage,with,commas\n"])
def test_a_cut_off_metrics_row_is_not_glued_to_the_next(clip_folder, tmp_path, cut):
    run = tmp_path / "run"
    train(config(clip_folder, run, steps=2), progress=False)
    with open(run / "metrics.csv", "a") as f:
        f.write(cut)  # killed mid-row
    train(config(clip_folder, run, steps=4), progress=False)
    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3, 4] and {len(r) for r in rows} == {len(rows[0])}


def test_read_meta_refuses_a_zip_that_is_no_clip(tmp_path):
    with zipfile.ZipFile(tmp_path / "x.npz", "w") as z:
        z.writestr("other.npy", b"")
    with pytest.raises(ClipError, match="x.npz"):
        read_meta(tmp_path / "x.npz")


# ---- provenance in the pixels (item 10) -------------------------------------------------------

def _natural(size=128, seed=0):
    """A smooth, textured stand-in for a face crop (what JPEG treats gently, like real photos)."""
    import cv2

    noise = np.random.default_rng(seed).uniform(0, 255, (size // 4, size // 4, 3)).astype(np.float32)
    return cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def _jpeg(frame, quality):
    import cv2

    ok, buf = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def test_invisible_watermark_survives_jpeg_75():
    from fsth import provenance

    frame = _natural()
    marked = provenance.embed(frame)
    psnr = 10 * np.log10(255 ** 2 / np.mean((marked.astype(float) - frame) ** 2))
    assert psnr > 40  # invisible
    bits, confidence = provenance.detect(_jpeg(marked, 75))
    assert np.array_equal(bits, provenance.payload_bits(b"fsth")) and confidence > 0.6
    assert provenance.is_marked(_jpeg(marked, 75)) and not provenance.is_marked(_jpeg(frame, 75))
    assert provenance.detect(_jpeg(frame, 75))[1] < provenance.MARKED
    other = provenance.embed(frame, provenance.payload_bits(b"cafe"))
    assert np.array_equal(provenance.detect(_jpeg(other, 75))[0], provenance.payload_bits(b"cafe"))


def test_visible_label_sits_in_the_corner():
    from fsth import provenance

    frames = np.full((2, 64, 192, 3), 200, np.uint8)
    labelled = provenance.label(frames)
    changed = (labelled != frames).any(axis=(0, 3))
    rows, cols = np.nonzero(changed)
    assert rows.min() > 40 and cols.max() < 120 and cols.min() == 0  # bottom-left, small
    assert labelled[:, -3, 1].mean() < 100  # dark box under white text


def test_animate_watermark_marks_every_written_frame(tmp_path):
    from fsth.animation import animate
    from fsth.io.video import read_frames, write_video
    from fsth.nn import create
    from fsth.provenance import is_marked
    from fsth.train.finetune import finetune
    from tests.helpers import face_points

    class FixedFace:  # stands in for a landmark detector: the same face in every frame
        def detect_frames(self, frames, source="", on_missing="skip", **_):
            return [face_points(f.shape[0]) for f in frames]

    torch.manual_seed(0)  # the mark's strength depends on the content: the same model every run, whatever ran before
    model = create({**SMALL_MODEL, "num_videos": 1}).eval()
    person = finetune(model, np.stack([_natural(32, 1)] * 2), np.stack([face_points(32)] * 2), steps=0,
                      progress=False, amp="none")
    driving = write_video(tmp_path / "driving.mp4", [_natural(96, s) for s in range(12)], fps=10)
    for watermark in (True, False):
        out = tmp_path / f"out-{watermark}.mp4"
        animate(person, driving, out, FixedFace(), side_by_side=True, watermark=watermark)
        frames = np.stack(list(read_frames(out)))  # after H.264
        assert is_marked(frames) == watermark
        assert (frames[:, -4:, :20].mean() < 90) == watermark  # the label's dark box, bottom-left


def test_written_mp4s_keep_the_encoder_tag(tmp_path):
    from fsth.io.video import read_metadata, write_video

    path = write_video(tmp_path / "x.mp4", [np.zeros((32, 32, 3), np.uint8)] * 2, synthetic=True)
    tags = read_metadata(path)
    assert tags["encoder"] == "fsth" and "SYNTHETIC" in tags["comment"]  # the muxer used to write "Lavf..."
