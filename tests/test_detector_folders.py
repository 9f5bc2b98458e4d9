"""Bring your own data that refuses what it can't measure: FaceForensics++ and DeepfakeBench trees read
as they are (tiny ones, made here from fsth's cached sample video), checks before any work, the two
classes' processing compared and matched, and a report that is true to the data."""
import json

import cv2
import numpy as np
import pytest

from detector.folders import DataCheckError, check_folds, folder_faces, group_of, identities_of


@pytest.fixture(scope="module")
def frames(samples):
    """Six frames of the wolfgang sample (a real woman talking, 640x360), read once."""
    from fsth.io.video import read_frames

    return np.stack(list(read_frames(samples.fetch("wolfgang"), range(0, 60, 10))))


def write_mp4(path, frames, scale=1.0):
    from fsth.io.video import write_video

    if scale != 1.0:
        frames = np.stack([cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for f in frames])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, crf=23)


def faceforensics(root, frames, reals=("000", "001", "002", "003", "004", "005"),
                  fakes=("000_001", "001_000", "002_003", "004_005")):
    """FaceForensics++'s own tree: original_sequences/youtube/c23/videos/000.mp4 and
    manipulated_sequences/Deepfakes/c23/videos/000_001.mp4 (video 000 with 001's face), at half size."""
    real = root / "original_sequences" / "youtube" / "c23" / "videos"
    fake = root / "manipulated_sequences" / "Deepfakes" / "c23" / "videos"
    for n, name in enumerate(reals):
        write_mp4(real / f"{name}.mp4", np.roll(frames[:2], 5 * n, axis=2), 0.5)
    for n, name in enumerate(fakes):
        write_mp4(fake / f"{name}.mp4", np.roll(frames[2:4], 5 * n, axis=2), 0.5)
    return real, fake


def test_names_give_people_and_shared_videos_give_groups():
    assert identities_of("000") == ["000"] and identities_of("000_003") == ["000", "003"]  # FaceForensics++
    assert identities_of("id0_0003") == ["id0"] and identities_of("id0_id16_0003") == ["id0", "id16"]  # Celeb-DF
    assert identities_of("0000_fake") == ["0000_fake"] and identities_of("alice") == ["alice"]
    groups = group_of([["000"], ["003"], ["000", "003"], ["001"], ["002", "005"]])
    assert groups["000"] == groups["003"] == "000+003" and groups["001"] == "001" and groups["005"] == "002+005"


@pytest.mark.slow
def test_faceforensics_layout_is_read_as_it_is(tmp_path, frames):
    real, fake = faceforensics(tmp_path / "FF++", frames)
    faces, rows, info = folder_faces(real.parent, fake, 64, 2, tmp_path / "cache", progress=False, folds=2)
    assert info["layout"]["real"].startswith("videos/ of")  # the c23 folder given: its videos/ are read
    by_video = {r["video"].split("/")[2]: r for r in rows}
    assert set(by_video) == {"000", "001", "002", "003", "004", "005", "000_001", "001_000", "002_003", "004_005"}
    assert by_video["000_001"]["people"] == ["000", "001"]  # a fake belongs to both of its people
    assert by_video["000"]["group"] == by_video["001"]["group"] == by_video["000_001"]["group"] == "000+001"
    assert by_video["004_005"]["group"] == by_video["005"]["group"] and by_video["002_003"]["label"] == 1
    assert len(set(faces.groups)) == 3 and faces.images.shape[1:] == (64, 64, 3)
    assert info["facts"]["real"]["codecs"] == {"h264": 6} and info["facts"]["fake"]["codecs"] == {"h264": 4}
    assert info["warnings"] == []  # same codec, same size: nothing to warn about


@pytest.mark.slow
def test_deepfakebench_layout_reads_frames_and_leaves_masks_alone(tmp_path, frames):
    root = tmp_path / "DeepfakeBench" / "UADFV"
    face = frames[:, 20:340, 160:480]  # DeepfakeBench stores face crops
    for label in ("real", "fake"):
        for v in range(3):
            video = f"{v:04d}" if label == "real" else f"{v:04d}_fake"
            for i in range(2):
                for kind, image in (("frames", face[i + 2 * (label == "fake")]), ("masks", np.zeros((64, 64, 3)))):
                    (root / label / kind / video).mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(root / label / kind / video / f"{i:03d}.png"), np.roll(image, 7 * v, axis=1))
            (root / label / "landmarks" / video).mkdir(parents=True, exist_ok=True)
            np.save(root / label / "landmarks" / video / "000.npy", np.zeros((81, 2)))
    faces, rows, info = folder_faces(root / "real", root / "fake", 64, 2, tmp_path / "cache", progress=False, folds=2)
    assert info["layout"] == {"real": f"frames/ of {root / 'real'}", "fake": f"frames/ of {root / 'fake'}"}
    assert len(rows) == 6 and not any("masks" in r["video"] for r in rows)
    fake = next(r for r in rows if r["video"].endswith("0001_fake/w00"))
    assert fake["people"] == ["0001"] and fake["group"] == "0001"  # UADFV's 0000_fake joins real 0000
    assert info["facts"]["real"]["codecs"] == {"png": 3} and len(faces) >= 8  # dlib may miss a face in a crop


def test_too_few_people_is_refused_in_one_line_before_any_work(tmp_path, capsys):
    from detector.__main__ import main as detector_main

    for folder, names in (("real", ("000", "001")), ("fake", ("000_001",))):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / f"{name}.mp4").write_bytes(b"not read: refused on names alone")
    out = tmp_path / "study"
    assert detector_main(["study", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
                          "--out", str(out), "--folds", "3"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fsth detect study: error:")
    assert ("1 identity group(s) hold real videos and 1 hold fake ones; 3-fold cross-validation needs at least 3 "
            "of each") in err
    assert not list(out.glob("*.json")) and not list(out.glob("*.pt"))  # no report, no detector


def test_a_fold_without_a_class_is_refused():
    groups = np.array([f"g{i}" for i in range(6)] * 2)
    labels = np.array([0] * 6 + [1, 1, 1, 0, 0, 0])  # fakes for three people only
    with pytest.raises(DataCheckError, match=r"fold \d of \d \(seed 0\) would (train|validate|test) on real videos "
                                             "only"):
        check_folds(groups, labels, [(3, (0,), 0.2)])
    check_folds(np.array([f"g{i}" for i in range(6)] * 2), np.repeat([0, 1], 6), [(3, (0, 1), 0.2), (5, (0,), 0.0)])


@pytest.mark.slow
def test_codec_and_resolution_differences_are_warned_about_and_matched(tmp_path, frames):
    for n, person in enumerate(("ann", "bob", "cat")):
        for i in range(2):  # reals: full-size PNG frames, one sub-folder per person
            (tmp_path / "real" / person / "v0").mkdir(parents=True, exist_ok=True)
            image = np.roll(frames[i], 9 * n, axis=1)[..., ::-1]  # RGB -> BGR for OpenCV
            cv2.imwrite(str(tmp_path / "real" / person / "v0" / f"{i}.png"), image)
        write_mp4(tmp_path / "fake" / person / "v0.mp4", np.roll(frames[2:4], 9 * n, axis=2), 0.25)  # small H.264
    args = (tmp_path / "real", tmp_path / "fake", 128, 2, tmp_path / "cache")  # crops larger than the fakes' faces
    faces, _, info = folder_faces(*args, progress=False, folds=2)
    assert any("codecs differ: real png, fake h264" in w for w in info["warnings"])
    assert any(w.startswith("faces differ in size") for w in info["warnings"])
    assert info["matched"] is None
    matched, _, minfo = folder_faces(*args, progress=False, folds=2, match=True)
    assert "resized to the fakes' face resolution" in minfo["matched"] and "H.264 CRF 23" in minfo["matched"]
    real = faces.labels == 0
    assert np.array_equal(matched.images[~real], faces.images[~real])  # the fakes are left as they are
    sharpness = [np.abs(np.diff(x.images[real].astype(float), axis=2)).mean() for x in (faces, matched)]
    assert sharpness[1] < 0.8 * sharpness[0]  # the reals now carry the fakes' lower resolution


@pytest.mark.slow
def test_the_report_on_your_own_data_says_what_it_measured(tmp_path, frames):
    from detector.protocol import ProtocolConfig
    from detector.study import FAST, run_study

    real, fake = faceforensics(tmp_path / "FF++", frames)
    faces, rows, info = folder_faces(real, fake, 64, 2, tmp_path / "cache", progress=False, folds=2)
    settings = FAST.__class__(**{**FAST.__dict__, "detectors": ("frequency",),
                                 "protocol": ProtocolConfig(folds=2, seeds=(0,), n_boot=20)})
    results = run_study({"synth": (faces, rows)}, tmp_path / "study", settings, progress=False,
                        extra={"byo": info, "check": "your own data"})
    report = (tmp_path / "study" / "report.md").read_text()
    assert "SynthHeads" not in report and "## Headline: your --real/--fake folders" in report
    assert "40% fake (prevalence 40%" in report  # 6 real videos, 4 fake: the true prevalence
    assert "3-fold cross-validation × 1 seed(s) (3 folds where 2 were asked for" in report  # the folds that ran
    assert "## Your data" in report and "000+001" not in report.split("## Headline")[0].split("## Your data")[0]
    assert json.loads((tmp_path / "study" / "results.json").read_text())["folds_run"] == {"0": 3}
    assert results["data"] == "your --real/--fake folders"
