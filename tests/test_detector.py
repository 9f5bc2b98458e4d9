import numpy as np
import pytest

from detector import models
from detector.data import FaceSet, assert_identity_disjoint, encode, resize, split_by_identity


def toy_faces(n_people=9, per=12, size=32, seed=0):
    """'Fakes' carry a faint periodic checkerboard (an upsampling trace); reals don't."""
    rng = np.random.default_rng(seed)
    images, labels, people = [], [], []
    checker = (np.indices((size, size)).sum(0) % 2)[..., None] * 6.0
    for p in range(n_people):
        base = rng.uniform(60, 190, 3)
        for i in range(per):
            img = base + rng.normal(0, 12, (size, size, 3))
            fake = i % 2
            images.append(np.clip(img + fake * checker, 0, 255).astype(np.uint8))
            labels.append(fake)
            people.append(f"p{p}")
    n = len(images)
    return FaceSet(np.stack(images), labels, people, [f"{p}-{l}" for p, l in zip(people, labels)],
                   ["fake" if l else "real" for l in labels])


def test_splits_are_identity_disjoint_and_a_leak_fails():
    splits = split_by_identity(toy_faces(), seed=1)
    assert sum(len(s) for s in splits.values()) == 9 * 12
    assert all(len(np.unique(s.identities)) >= 1 for s in splits.values())
    leaky = dict(splits, test=FaceSet.concat([splits["test"], splits["train"].subset(slice(0, 1))]))
    with pytest.raises(AssertionError, match="leaks between splits"):
        assert_identity_disjoint(leaky)


def test_frequency_detector_finds_the_trace_and_round_trips(tmp_path):
    splits = split_by_identity(toy_faces(), seed=0)
    det = models.create("frequency").fit(splits["train"])
    scores = det.predict_proba(splits["test"].images)
    assert ((scores > 0.5) == splits["test"].labels).mean() > 0.9
    again = models.load(det.save(tmp_path / "freq.json"))
    assert np.array_equal(again.predict_proba(splits["test"].images), scores)


@pytest.mark.slow
def test_timm_detector_trains_and_round_trips(tmp_path):
    splits = split_by_identity(toy_faces(size=32), seed=0)
    det = models.create("resnet18", image_size=32).fit(splits["train"], splits["val"], epochs=4, batch_size=16,
                                                       progress=False)
    scores = det.predict_proba(splits["test"].images)
    assert scores.shape == (len(splits["test"]),) and ((scores >= 0) & (scores <= 1)).all()
    again = models.load(det.save(tmp_path / "r18.pt"))
    assert np.array_equal(again.predict_proba(splits["test"].images), scores)
    assert again.temperature == det.temperature > 0


def test_encoding_is_applied_to_real_and_fake_alike():
    faces = toy_faces(n_people=3, per=4)
    for codec, q in (("jpeg", 50), ("h264", 30)):
        out = encode(faces, codec, q)
        assert out.images.shape == faces.images.shape and not np.array_equal(out.images, faces.images)
    assert resize(faces, 16).images.shape == faces.images.shape
    with pytest.raises(ValueError, match="unknown codec"):
        encode(faces, "png", 1)
    with pytest.raises(ValueError, match="unknown detector"):
        models.create("not_a_model_name")


@pytest.mark.slow
def test_study_report_from_a_faceset(tmp_path):
    from detector.study import StudySettings, run_study

    settings = StudySettings(detectors=("frequency",), fakes=["fake"])
    results = run_study(toy_faces(), tmp_path, settings, progress=False)
    row = results["detectors"]["frequency"]
    assert row["overall"]["auc"] > 0.9 and "ci" in row["overall"]
    assert set(row["conditions"]) == {"jpeg95", "jpeg75", "jpeg50", "jpeg30", "h264-crf23", "h264-crf40",
                                      "resize-half"}
    # a faint high-frequency trace does not survive heavy compression
    assert row["conditions"]["jpeg30"]["auc"] < row["conditions"]["jpeg95"]["auc"]
    report = (tmp_path / "report.md").read_text()
    assert "| frequency |" in report and "jpeg30" in report
    assert (tmp_path / "roc.png").exists() and (tmp_path / "reliability.png").exists()


@pytest.mark.slow
def test_fakes_from_a_model_and_scoring_media(clip_folder, tmp_path, samples, capsys):
    import torch

    from detector.__main__ import main as detector_main
    from detector.study import StudySettings, make_faces
    from fsth.io.clips import list_clips
    from fsth.nn import create
    from tests.helpers import SMALL_MODEL

    torch.manual_seed(0)
    model = create(SMALL_MODEL, num_videos=6).eval()
    settings = StudySettings(targets=2, fakes=["ff-k1", "ft-k1", "puppet-relative"])
    faces = make_faces(model, list_clips(clip_folder), settings, progress=False)
    assert len(faces) == 6 * (10 + 2 * 3) and faces.images.shape[1:] == (32, 32, 3)  # all real frames, 2 fakes each
    assert sorted(set(faces.settings)) == ["ff-k1", "ft-k1", "puppet-relative", "real"]
    assert (faces.labels == (faces.settings != "real")).all()

    saved = models.create("frequency").fit(split_by_identity(toy_faces(size=64))["train"]).save(tmp_path / "f.json")
    assert detector_main(["score", str(samples.fetch("takeo")), "--detector", str(saved)]) == 0
    assert "P(fake) =" in capsys.readouterr().out


