"""Detectors that see the forgery, not the resolution: real faces take the fakes' path, both classes
get the same augmentation, and a detector is shipped only if it passes the no-generator control."""
import numpy as np
import pytest

from detector import controls
from detector.data import FaceSet, Processing, resample, written_like_fsth
from detector.protocol import ProtocolConfig


def faces_with_trace(trace: str, n_pairs: int = 12, per: int = 8, size: int = 32, seed: int = 0) -> FaceSet:
    """Smooth toy faces, two identities per group. ``trace``: "grating" (fakes carry a faint
    low-frequency pattern, which survives resizing and H.264: a forgery) or "resampled" (fakes are
    the reals halved and enlarged: processing, no forgery at all)."""
    rng = np.random.default_rng(seed)
    xx = np.indices((size, size))[1]
    grating = (np.sin(2 * np.pi * xx / 16) * 30)[..., None]
    images, labels, people, videos = [], [], [], []
    for p in range(2 * n_pairs):
        base, smooth = rng.uniform(110, 140, 3), rng.normal(0, 1, (size // 4, size // 4, 3))
        for label in (0, 1):
            for _ in range(per):
                img = base + 10 * np.kron(smooth, np.ones((4, 4, 1))) + rng.normal(0, 6, (size, size, 3))
                img = img + grating if label and trace == "grating" else img
                images.append(np.clip(img, 0, 255).astype(np.uint8))
                labels.append(label), people.append(f"p{p}"), videos.append(f"p{p}-{label}")
    images, labels = np.stack(images), np.array(labels)
    if trace == "resampled":
        images[labels == 1] = resample(images[labels == 1], size // 2, size)
    groups = [f"pair{int(p[1:]) // 2}" for p in people]
    return FaceSet(images, labels, people, videos, ["fake" if lab else "real" for lab in labels], groups)


def small_settings():
    from detector.study import FAST

    return FAST.__class__(**{**FAST.__dict__, "detectors": ("frequency",),
                             "protocol": ProtocolConfig(folds=3, seeds=(0,), n_boot=30)})


def test_real_faces_go_through_the_generators_resolution_and_the_fakes_encoder():
    from detector.data import h264

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    videos = np.zeros(5)
    process = Processing(size=64, working=32, codec="h264", quality=23)  # a bit-reproducible H.264
    real, fake = process(frames, rendered=False), process(frames, rendered=True)
    # a fake is made at the working size already: only encoded; a real crop is taken through it first
    assert np.array_equal(fake, h264(frames, videos, 23))
    assert np.array_equal(real, h264(resample(frames, 32, 64), videos, 23))
    assert np.abs(real.astype(int) - fake).mean() > 5  # noise does not survive 32 px: the real was resized
    same = Processing(size=64, working=64, codec="h264", quality=23)  # fakes rendered at the generator's size
    assert np.array_equal(same(frames, rendered=False), same(frames, rendered=True))
    assert Processing(size=64, working=32, detector_size=32)(frames, rendered=True).shape == (5, 32, 32, 3)
    fsth = Processing(size=64, working=32)  # the study's default: fsth's own writer, CRF 18
    assert "fsth's video writer" in fsth.describe() and "32 px and back to 64 px" in fsth.describe()
    written = fsth(frames, rendered=False)
    assert np.abs(written.astype(int) - written_like_fsth(resample(frames, 32, 64), videos, 18)).mean() < 1


def test_fsths_writer_settings_in_memory_give_the_files_fsth_writes(tmp_path):
    from fsth.io.video import read_frames, write_video

    rng = np.random.default_rng(1)
    smooth = np.kron(rng.integers(40, 220, (4, 5, 5, 3)), np.ones((1, 7, 7, 1)))[:, :33, :33]
    frames = np.clip(smooth + rng.normal(0, 3, smooth.shape), 0, 255).astype(np.uint8)  # odd: 33 px, padded
    out = written_like_fsth(frames, np.array(["a", "a", "b", "b"]), 18)
    assert out.shape == frames.shape
    direct = np.stack(list(read_frames(write_video(tmp_path / "a.mp4", frames[:2], crf=18))))[:, :33, :33]
    assert np.abs(out[:2].astype(int) - direct).mean() < 1.0  # fsth's own file, up to x264's run-to-run wobble


def test_the_collector_processes_real_and_fake_videos_on_one_path():
    from detector.sources import VideoCollector

    calls = []

    def process(images, rendered, video):
        calls.append((video, rendered))
        return images + 1

    out = VideoCollector(process)
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    out.add(frames, 0, "a", "a/real", "real", "g")
    out.add(frames, 1, "a", "a/fake", "fake", "g")
    assert calls == [("a/real", False), ("a/fake", True)]
    assert (out.faceset().images == 1).all()


def test_augmentation_chains_are_the_same_for_both_classes():
    from detector.augment import Augmentation, augment_images, codec_copies

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    videos = np.repeat(["a", "b"], 3)
    # the chain never sees a label: the same images and seed give the same output, whatever they are called
    a = augment_images(images, np.random.default_rng(5), codec_copies(images, videos))
    b = augment_images(images, np.random.default_rng(5), codec_copies(images, videos))
    assert np.array_equal(a, b) and not np.array_equal(a, images)
    off = dict(codec=0, resize=0, blur=0, jpeg=0, flip=0, colour=0)
    copies = codec_copies(images, videos, Augmentation(crfs=(30,)))
    only_codec = augment_images(images, rng, copies, cfg=Augmentation(**{**off, "codec": 1, "crfs": (30,)}))
    assert np.array_equal(only_codec, copies[0])  # H.264 copies, encoded once per video
    for step in ("resize", "blur", "jpeg"):
        out = augment_images(images, np.random.default_rng(2), cfg=Augmentation(**{**off, step: 1}))
        assert out.shape == images.shape and out.dtype == np.uint8 and not np.array_equal(out, images), step
    resized = augment_images(images, np.random.default_rng(3), cfg=Augmentation(**{**off, "resize": 1,
                                                                                    "scale": (0.25, 0.25)}))
    assert np.abs(resized.astype(int) - images).mean() > 20  # 8 px and back: the noise is gone


def test_temperatures_are_bounded():
    from detector.metrics import TEMPERATURE_RANGE, fit_bounded_temperature, fit_platt

    labels = np.repeat([0, 1], 50)
    separable = np.where(labels == 1, 8.0, -8.0) + np.random.default_rng(0).normal(0, 0.5, 100)
    assert fit_bounded_temperature(separable, labels) == pytest.approx(TEMPERATURE_RANGE[0], rel=1e-3)
    noise = np.random.default_rng(1).normal(0, 5, 100)
    assert fit_bounded_temperature(noise, labels) == pytest.approx(TEMPERATURE_RANGE[1], rel=1e-3)
    a, _ = fit_platt(separable / 8, labels)  # separable too: Platt's slope would grow without end
    assert a == pytest.approx(1 / TEMPERATURE_RANGE[0], rel=1e-3)
    rng = np.random.default_rng(2)
    logits = rng.normal(0, 2, 4000)
    calibrated = (rng.random(4000) < 1 / (1 + np.exp(-logits))).astype(int)
    assert fit_bounded_temperature(2 * logits, calibrated) == pytest.approx(2, rel=0.15)  # inside the bounds: free


@pytest.mark.slow
def test_a_detector_that_reads_processing_is_not_shipped(tmp_path):
    from detector.study import run_study

    results = run_study({"synth": (faces_with_trace("resampled"), [])}, tmp_path, small_settings(), progress=False)
    row = results["detectors"]["frequency"]
    assert row["auc"]["value"] > 0.9  # it separates the classes ...
    assert row["no_generator"]["auc"]["value"] > controls.MAX_AUC  # ... by resampling, as the control shows
    assert not row["ship_check"]["passes"] and "resampled, re-encoded" in row["ship_check"]["why"]
    assert results["shipped"] == {} and "frequency" in results["refused"]
    assert not (tmp_path / "frequency.json").exists()  # no detector saved, not even in the study's folder
    report = (tmp_path / "report.md").read_text()
    assert "## Not shipped" in report and "frequency: it tells reals from resampled" in report


@pytest.mark.slow
def test_a_detector_that_sees_the_forgery_is_shipped_with_ap_eer_and_a_reliability_plot(tmp_path):
    from detector.study import run_study

    results = run_study({"synth": (faces_with_trace("grating"), [])}, tmp_path, small_settings(), progress=False)
    row = results["detectors"]["frequency"]
    assert row["ship_check"]["passes"], row["ship_check"]["why"]
    assert row["no_generator"]["auc"]["value"] <= controls.MAX_AUC
    assert set(results["shipped"]) == {"frequency"} and (tmp_path / "frequency.json").exists()
    for key in ("ap", "eer", "video_ap", "video_eer"):  # AP and EER beside AUC, frame and video level
        assert 0 <= row[key]["value"] <= 1 and len(row[key]["ci"]) == 2, key
    assert row["ap"]["value"] > 0.9 and row["eer"]["value"] < 0.1
    low, high = 0.25, 4.0
    assert all(1 / high - 1e-9 <= a <= 1 / low + 1e-9 for a in row["calibration"]["values"])
    report = (tmp_path / "report.md").read_text()
    assert "| AP | EER |" in report and "video AP" in report and "reliability.png" in report
    assert (tmp_path / "reliability.png").stat().st_size > 1000


def test_shipping_is_refused_in_one_line_when_a_detector_failed(tmp_path):
    from detector.command import ship_files

    results = {"shipped": {"frequency": {"file": "frequency.json"}},
               "refused": {"CNN": "no CNN passes the no-generator control (residual: it calls 40% of ...)"}}
    with pytest.raises(ValueError, match="nothing shipped, fsth/pretrained/ left as it was: CNN: no CNN passes"):
        ship_files(results, tmp_path)


def test_the_ship_check_needs_a_detector_that_detects():
    control = {"auc": {"value": 0.5}, "fpr_real": {"mean": 0.05}, "fpr_processed": {"mean": 0.05}}
    assert controls.passes({"auc": {"value": 0.9, "ci": [0.85, 0.95]}, "no_generator": control})[0]
    ok, why = controls.passes({"auc": {"value": 0.52, "ci": [0.4, 0.6]}, "no_generator": control})
    assert not ok and "does not detect the fakes" in why
    ok, why = controls.passes({"auc": {"value": 0.9, "ci": [0.85, 0.95]}})
    assert not ok and "not run" in why


def test_study_fakes_render_at_the_shots_size_and_reals_take_the_generators_resolution():
    """--render-size: as `fsth animate` renders a 32 px generator's head at the portrait's 64 px."""
    import torch

    from detector.sources import SourceConfig, processing, synth_faces, synth_person
    from fsth.nn import create
    from tests.helpers import SMALL_MODEL

    torch.manual_seed(0)
    model = create(SMALL_MODEL, num_videos=4).eval()
    assert model.config.image_size == 32
    cfg = SourceConfig(pairs=1, window=3, pool=5, k=2, baseline_pairs=0, render_size=64, codec="none")
    assert processing(model, cfg) == Processing(size=64, working=32, codec="none", quality=18)
    faces, rows = synth_faces(model, cfg, progress=False)
    assert faces.images.shape[1:] == (64, 64, 3) and sorted(set(faces.settings)) == ["fake", "real"]
    frames, _, _ = synth_person(cfg.seed, 0, cfg.pool + cfg.window, 64)
    real = faces.images[faces.videos == f"s{cfg.seed}-0000/real"]
    assert np.array_equal(real, resample(frames[cfg.pool:], 32, 64))  # the real crop through 32 px and back


def test_resampled_reals_are_real_copies_of_each_video_shrunk_and_re_encoded():
    from detector.augment import resampled_reals

    reals = faces_with_trace("grating")
    reals = reals.subset(reals.labels == 0)
    copies = resampled_reals(reals, np.random.default_rng(0))
    assert len(copies) == len(reals) and (copies.labels == 0).all()
    assert (copies.groups == reals.groups).all() and all(v.endswith("~resampled") for v in copies.videos)

    def detail(images):  # energy left after a 3x3 box blur is subtracted: what shrinking removes
        import cv2
        f = images.astype(np.float32)
        return float(np.mean([np.abs(i - cv2.blur(i, (3, 3))).mean() for i in f]))

    assert detail(copies.images) < 0.8 * detail(reals.images)


def recording_detector(monkeypatch) -> dict:
    """``models.create`` patched to a detector that records what ``fit_detector`` gives it
    ({"train", "val", "thresholded": how many faces the threshold saw}) and scores faces
    0 → 1 in row order."""
    from detector import models

    seen = {}

    class Recorder:
        threshold = 0.5

        def fit(self, train, val, **_):
            seen["train"], seen["val"] = train, val
            return self

        def predict_proba(self, images):
            seen["thresholded"] = len(images)
            return np.linspace(0, 1, len(images))

    monkeypatch.setattr(models, "create", lambda *a, **k: Recorder())
    return seen


def test_hard_negatives_join_training_and_the_threshold_as_reals_of_the_same_groups(monkeypatch):
    """With ``hard_negatives`` a detector trains beside resampled copies of its training reals and
    its threshold is set on validation reals together with theirs (the study measures what that
    buys: its no-generator control and the held-out real video)."""
    from dataclasses import replace

    from detector import protocol

    seen = recording_detector(monkeypatch)
    faces = faces_with_trace("grating", n_pairs=4, per=4)
    train, val = faces.subset(np.isin(faces.groups, ["pair0", "pair1", "pair2"])), faces.subset(faces.groups == "pair3")
    cfg = ProtocolConfig(train_frames=0, val_frames=0)
    protocol.fit_detector("frequency", train, val, cfg, seed=0)
    assert len(seen["train"]) == len(train) and seen["thresholded"] == (val.labels == 0).sum()
    protocol.fit_detector("frequency", train, val, replace(cfg, hard_negatives=True), seed=0)
    copies = np.char.endswith(seen["train"].videos.astype(str), "~resampled")
    assert copies.sum() == (train.labels == 0).sum() and (seen["train"].labels[copies] == 0).all()
    assert set(seen["train"].groups[copies]) == set(train.groups)  # a copy never crosses a split
    assert seen["thresholded"] == (1 + cfg.val_copies) * (val.labels == 0).sum()  # the threshold sees its copies too


def test_shipping_is_refused_when_a_detector_misses_the_held_out_real_media(tmp_path):
    from detector.command import ship_files

    missed = {"photos": {"n": 24, "called_real": 0.67, "flagged": ["feat_f1 x1"]},
              "video 64 px": {"frames": 72, "called_fake": 0.86, "p_fake": 0.6},
              "video 256 px": {"frames": 72, "called_fake": 0.0, "p_fake": 0.1}, "passes": False}
    results = {"shipped": {"frequency": {"file": "frequency.json", "heldout": missed}}, "refused": {}}
    with pytest.raises(ValueError, match="nothing shipped.*frequency: misses the held-out real-media goal.*86% of 72"):
        ship_files(results, tmp_path)


def test_the_threshold_holds_on_each_kind_of_real_not_on_the_pool():
    from detector.metrics import threshold_at_fpr, threshold_by_domain
    from detector.protocol import real_domains

    rng = np.random.default_rng(0)
    frames, photos = rng.uniform(0, 0.5, 400), np.array([0.55, 0.6, 0.7, 0.72, 0.8])  # photos score higher
    scores = np.concatenate([frames, photos])
    domains = np.array(["real"] * 400 + ["photo"] * 5)
    pooled, by_domain = threshold_at_fpr(scores, 0.05), threshold_by_domain(scores, domains, 0.05)
    assert (photos > pooled).mean() > 0.5  # the pooled threshold calls most photos fake ...
    for d in ("real", "photo"):  # ... the per-domain one keeps every kind at or below 5 %
        assert (scores[domains == d] > by_domain).mean() <= 0.05
    assert threshold_by_domain(frames, ["real"] * 400, 0.05) == threshold_at_fpr(frames, 0.05)  # one kind: as before
    reals = FaceSet(np.zeros((3, 4, 4, 3), np.uint8), np.zeros(3, int), ["a", "b", "b"],
                    ["a/real", "b", "b~resampled"], ["real", "photo", "photo"])
    assert list(real_domains(reals)) == ["real", "photo", "photo~resampled"]


def test_shipping_replaces_the_shipped_set_and_removes_a_detector_this_release_did_not_retrain(tmp_path, monkeypatch):
    from detector import command

    pretrained, out = tmp_path / "pretrained", tmp_path / "study"
    pretrained.mkdir(), out.mkdir()
    (pretrained / "detector_cnn.pt").write_bytes(b"an older study's CNN")
    (out / "frequency.json").write_text("{}")
    monkeypatch.setattr(command, "PRETRAINED", pretrained)
    monkeypatch.setattr("detector.report.card", lambda results: "# card of this release")
    passed = {"photos": {"n": 30, "called_real": 0.9, "flagged": []}, "passes": True,
              "video 64 px": {"frames": 72, "called_fake": 0.0, "p_fake": 0.1},
              "video 256 px": {"frames": 72, "called_fake": 0.0, "p_fake": 0.1}}
    command.ship_files({"shipped": {"frequency": {"file": "frequency.json", "heldout": passed}}, "refused": {}}, out)
    assert sorted(p.name for p in pretrained.iterdir()) == ["DETECTOR_CARD.md", "frequency.json"]
    assert (pretrained / "DETECTOR_CARD.md").read_text() == "# card of this release"


def test_real_photos_set_the_threshold_and_train_nothing(monkeypatch):
    from detector import models, protocol

    seen = recording_detector(monkeypatch)
    faces = faces_with_trace("grating", n_pairs=4, per=4)
    photos = FaceSet(faces.images[:6], np.zeros(6, int), ["obama"] * 3 + ["biden"] * 3,
                     [f"p{i}" for i in range(6)], ["photo"] * 6, ["obama"] * 3 + ["biden"] * 3)
    train = FaceSet.concat([faces.subset(np.isin(faces.groups, ["pair0", "pair1", "pair2"])), photos])
    val = faces.subset(faces.groups == "pair3")
    det = protocol.fit_detector("frequency", train, val, ProtocolConfig(train_frames=0, val_frames=0), seed=0)
    assert "photo" not in set(seen["train"].settings) and len(seen["train"]) == len(train) - 6
    assert (seen["val"].settings == "photo").sum() == 6
    # photos get a threshold of their own (Recorder scores rise with the row: the photos come last, highest)
    reals = seen["val"].subset(seen["val"].labels == 0)
    scores, photo = np.linspace(0, 1, len(reals)), reals.settings == "photo"
    assert (scores[photo] > det.photo_threshold).mean() <= 0.05 and (scores[~photo] > det.threshold).mean() <= 0.05
    assert det.threshold < scores[photo].min() < det.photo_threshold  # frames are not held to the photos' level
    assert models.threshold_for(det, "photo") == det.photo_threshold and models.threshold_for(det) == det.threshold


def test_a_detector_file_keeps_its_photo_threshold_and_a_bad_one_is_refused(tmp_path):
    import json

    from detector import models
    from detector.scoring import summary

    faces = faces_with_trace("grating", n_pairs=4, per=4)
    det = models.create("frequency", image_size=32).fit(faces)
    det.threshold, det.photo_threshold = 0.4, 0.8
    loaded = models.load(det.save(tmp_path / "f.json"))
    assert (loaded.threshold, loaded.photo_threshold) == (0.4, 0.8)
    scores = np.array([0.5, 0.5, 0.9, 0.1])
    assert summary(loaded, scores)["flagged"] == 0.75 and summary(loaded, scores, "photo")["flagged"] == 0.25
    state = json.loads((tmp_path / "f.json").read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**state, "photo_threshold": "high"}))
    with pytest.raises(ValueError, match="bad.json: photo_threshold must be a number in"):
        models.load(tmp_path / "bad.json")
    del state["photo_threshold"]  # a file from before photos had their own threshold: the frames' one
    (tmp_path / "old.json").write_text(json.dumps(state))
    assert models.threshold_for(models.load(tmp_path / "old.json"), "photo") == 0.4
