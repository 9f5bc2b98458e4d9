"""Real faces in the detectability study: the sample videos and photos are training negatives
(scored out of fold), and held-out real media no detector ever saw judge each shipped detector
by its own threshold (detector.heldout)."""
import numpy as np
import pytest

from detector import heldout
from detector.data import FaceSet
from tests.test_detector_processing import faces_with_trace, small_settings


class ConstantDetector:
    """P(fake) = 0.5 for every face; the threshold decides every verdict."""

    image_size = 64

    def __init__(self, threshold: float):
        self.threshold = threshold

    def predict_proba(self, images):
        return np.full(len(images), 0.5)


def test_held_out_media_are_none_of_the_media_the_study_trains_on(samples):
    from detector.sources import PHOTO_SAMPLES, VIDEO_SAMPLES

    held = [n for n, s in samples.SAMPLES.items() if s.heldout]
    assert heldout.heldout_names("image") and heldout.heldout_names("video")
    trained = {samples.SAMPLES[n].sha256 for n in (*PHOTO_SAMPLES, *VIDEO_SAMPLES)}
    assert not set(held) & set(PHOTO_SAMPLES + VIDEO_SAMPLES)
    assert not {samples.SAMPLES[n].sha256 for n in held} & trained  # not the same file under another name
    assert all(samples.SAMPLES[n].test_only for n in held)  # never offered as course media


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("heldout")


def test_a_detector_is_judged_by_its_own_threshold_on_photos_and_the_video_at_64_and_256_px(samples, video_folder,
                                                                                               dlib_detector):
    from fsth.io.video import probe

    strict = heldout.figures(ConstantDetector(0.4), video_folder, dlib_detector)  # every face above: all "fake"
    assert strict["photos"]["n"] >= 15 and strict["photos"]["called_real"] == 0.0
    assert len(strict["photos"]["flagged"]) == strict["photos"]["n"]
    for size in heldout.VIDEO_SIZES:
        video = strict[f"video {size} px"]
        assert video["called_fake"] == 1.0 and video["frames"] >= 50
        info = probe(heldout.video_file(size, video_folder))
        assert (info.width, info.height) == (size, size)  # face crops at that side, written by fsth's writer
    assert strict["passes"] is False
    lenient = heldout.figures(ConstantDetector(0.6), video_folder, dlib_detector)
    assert lenient["photos"]["called_real"] == 1.0 and lenient["passes"] is True
    assert all(lenient[f"video {s} px"]["called_fake"] == 0.0 for s in heldout.VIDEO_SIZES)
    text = "\n".join(heldout.lines("d", strict))
    assert "called real 0% of" in text and "100% of" in text and "goal ≤ 20%" in text


def test_real_sample_videos_and_photos_are_training_negatives_scored_out_of_fold(tmp_path):
    from detector.study import run_study, training_faces

    synth = faces_with_trace("grating", n_pairs=9)
    clips = faces_with_trace("grating", n_pairs=3, seed=1)
    clips = FaceSet(clips.images, clips.labels, [f"clip-{i}" for i in clips.identities], [f"clip-{v}" for v in clips.videos],
                    clips.settings, [f"clip-{g}" for g in clips.groups])
    photos = faces_with_trace("grating", n_pairs=2, per=1, seed=2)
    photos = photos.subset(photos.labels == 0)
    photos = FaceSet(photos.images, photos.labels, [f"photo-{i}" for i in photos.identities],
                     [f"photo-{v}" for v in photos.videos],
                     ["photo"] * len(photos), [f"photo-{i}" for i in photos.identities])
    study = {"synth": (synth, []), "clips": (clips, []), "photos": (photos, [])}

    main, domains = training_faces(synth, study)
    assert len(main) == len(synth) + len(clips) + len(photos)
    assert domains["clips"].sum() == len(clips) and domains["photos"].sum() == len(photos)
    assert set(main.groups[domains["photos"]]) == set(photos.groups)

    results = run_study(study, tmp_path, small_settings(), progress=False)
    freq = results["detectors"]["frequency"]
    assert freq["photos"]["n"] == len(photos) and "auc" not in freq["photos"]  # reals only
    assert freq["clips"]["n"] == int((clips.labels == 0).sum()) and freq["clips"]["auc"]["value"] > 0.9
    assert results["counts"]["images"] == len(main)
    assert "Real faces: the sample videos and photos (out of fold)" in (tmp_path / "report.md").read_text()


def test_photos_of_one_person_share_a_group_and_a_longer_photo_list_remakes_only_the_photos(tmp_path):
    import json

    from detector.sources import photo_group
    from detector.study import PARTS, load_study_faces, photo_recipe

    assert photo_group("obama_speech x0.5 processed") == photo_group("obama x2 as scored") == "obama"
    assert photo_group("einstein_tongue x1") == "einstein" and photo_group("takeo x1") == "takeo"
    faces = faces_with_trace("grating", n_pairs=2, per=2)
    for part in PARTS:
        faces.save(tmp_path / f"{part}.npz")
        (tmp_path / f"{part}.json").write_text("[]")
    assert set(load_study_faces(tmp_path)) == set(PARTS) - {"photos"}  # no record of which photos: remade
    older = dict(photo_recipe(), photos=photo_recipe()["photos"][:5])  # an older, shorter list
    (tmp_path / "photos-made-from.json").write_text(json.dumps(older))
    assert "photos" not in load_study_faces(tmp_path)
    (tmp_path / "photos-made-from.json").write_text(json.dumps(photo_recipe()))
    assert set(load_study_faces(tmp_path)) == set(PARTS)
    (tmp_path / "clips.npz").unlink()
    assert set(load_study_faces(tmp_path)) == set(PARTS) - {"clips"}
