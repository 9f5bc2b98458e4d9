""""Unseen by the generator", checked for real: a missing training folder is an error unless waived,
near-duplicates are found by perceptual hash, both generators are checked, and nothing compared is
never reported as 0 %."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from detector.data import jpeg
from detector.unseen import (NEAR, UncheckedError, generator_training_keys, hamming_to_nearest, merge,
                             near_duplicate_share, near_duplicates, phash)


def model_trained_on(folder) -> SimpleNamespace:
    """A stand-in for a loaded fsth model: only its checkpoint's training data folder is read."""
    return SimpleNamespace(checkpoint_info={"train_config": {"data": str(folder)}})


@pytest.fixture(scope="module")
def training_data(tmp_path_factory):
    from fsth.data.synthetic import write_dataset

    folder = tmp_path_factory.mktemp("train") / "synth"
    write_dataset(folder, identities=3, clips_per_identity=1, frames=6, size=64, seed=3, progress=False)
    return folder


def test_a_missing_training_folder_is_an_error_unless_waived(tmp_path):
    model = model_trained_on(tmp_path / "gone")
    with pytest.raises(UncheckedError, match=r"--data: m.pt's training data .*gone is not here.*--unseen-unchecked"):
        generator_training_keys(model, name="m.pt")
    with pytest.raises(UncheckedError, match="--other-data"):
        generator_training_keys(model, flag="--other-data")
    with pytest.raises(UncheckedError, match="its checkpoint names none"):
        generator_training_keys(SimpleNamespace(checkpoint_info={}))
    keys = generator_training_keys(model, waive=True)
    assert keys["checked"].startswith("not checked: training data") and "--unseen-unchecked" in keys["checked"]
    assert keys["folder"] is None and len(keys["frames"]) == 0


def test_training_identities_and_frames_are_read(training_data):
    keys = generator_training_keys(model_trained_on(training_data))
    assert keys["synth"] == {(3, 0), (3, 1), (3, 2)} and len(keys["hashes"]) == 3
    assert len(keys["frames"]) == 18 and keys["folder"] == str(training_data)
    assert "3 SynthHeads identities" in keys["checked"] and "18 frames of 3 clips" in keys["checked"]


def test_near_duplicates_are_found_by_perceptual_hash(training_data):
    from fsth.io.clips import list_clips, load_clip

    from detector.sources import synth_person

    keys = generator_training_keys(model_trained_on(training_data))
    seen = np.concatenate([load_clip(p).frames for p in list_clips(training_data)])
    # the same frames after a platform's JPEG and a resize: still near-duplicates
    changed = np.stack([cv2.resize(cv2.resize(f, (128, 128)), (64, 64)) for f in jpeg(seen, 60)])
    assert near_duplicate_share(changed, keys) == 1.0
    assert (hamming_to_nearest(phash(changed), keys["frames"]) <= NEAR).all()
    strangers = np.concatenate([synth_person(1_000_003, i, 6, 64)[0] for i in range(4)])  # the study's seed
    assert near_duplicate_share(strangers, keys) == 0.0


def test_nothing_compared_is_not_checked_never_zero_percent(training_data):
    from detector.data import FaceSet
    from detector.report import seen_text, share_text

    faces = FaceSet(np.zeros((4, 32, 32, 3), np.uint8), [0, 0, 1, 1], ["a"] * 4, ["a/r", "a/r", "a/f", "a/f"],
                    ["real", "real", "fake", "fake"])
    waived = generator_training_keys(model_trained_on("/nowhere"), waive=True)
    assert near_duplicate_share(faces.images, waived) is None and near_duplicate_share(faces.images, None) is None
    near = near_duplicates({"synth": (faces, []), "clips": (faces, [])}, waived)
    assert near["synth"] == {"frames": 2, "share": None} and near["clips"]["by_video"] == {"a": None}
    text = seen_text({"near_duplicates": near})
    assert "not checked" in text and "0%" not in text and share_text(None) == "not checked"
    checked = near_duplicates({"synth": (faces, [])}, generator_training_keys(model_trained_on(training_data)))
    assert share_text(checked["synth"]["share"]) == "0%"  # compared, and none found: then 0 %


def test_both_generators_are_checked(training_data, tmp_path):
    first = generator_training_keys(model_trained_on(training_data))
    other = generator_training_keys(model_trained_on(tmp_path / "other-data"), waive=True)
    both = merge([first, other])
    assert both["synth"] == first["synth"] and len(both["frames"]) == len(first["frames"])
    assert str(training_data) in both["checked"] and "not checked" in both["checked"]


@pytest.mark.slow
def test_the_study_refuses_a_generator_whose_training_data_is_missing(tmp_path, capsys):
    """From the command line: --checkpoint's and --other's training data, each checked before any face is made."""
    from detector.__main__ import main as detector_main
    from fsth.data.synthetic import write_dataset
    from fsth.train.config import TrainConfig
    from fsth.train.meta import train
    from tests.helpers import SMALL_MODEL

    data = tmp_path / "synth"
    write_dataset(data, identities=4, clips_per_identity=1, frames=8, size=32, seed=3, progress=False)
    train(TrainConfig(data=str(data), out=str(tmp_path / "run"), model=SMALL_MODEL, k=2, batch_size=2, steps=1,
                      holdout=2, vgg19=None, image_every=0, optim={"amp": "none"}), progress=False)
    checkpoint = str(tmp_path / "run" / "step-00000001.pt")
    moved = data.rename(tmp_path / "moved")
    out = tmp_path / "study"
    assert detector_main(["study", "--checkpoint", checkpoint, "--out", str(out), "--fast"]) == 2
    err = capsys.readouterr().err
    assert "--data: step-00000001.pt's training data" in err and "is not here" in err and "--unseen-unchecked" in err
    assert detector_main(["study", "--checkpoint", checkpoint, "--data", str(moved), "--other", checkpoint,
                          "--out", str(out), "--fast"]) == 2
    assert "--other-data: step-00000001.pt's training data" in capsys.readouterr().err  # --other is checked too
    assert not (out / "report.md").exists()
