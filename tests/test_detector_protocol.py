"""The study's protocol, controls, sources and report, on tiny data (each test well under a minute)."""
import numpy as np
import pytest

from detector import controls
from detector.data import FaceSet
from detector.protocol import ProtocolConfig, cluster_ci, cross_validate, fit_detector, group_folds
from tests.test_detector import toy_faces


def paired_toy(n_pairs=8, per=8, size=32, seed=0) -> FaceSet:
    """toy_faces with two identities per group (like a puppet and its driver)."""
    faces = toy_faces(n_people=2 * n_pairs, per=per, size=size, seed=seed)
    groups = np.array([f"pair{int(p[1:]) // 2}" for p in faces.identities])
    return FaceSet(faces.images, faces.labels, faces.identities, faces.videos, faces.settings, groups)


def test_group_folds_test_every_group_once_and_never_train_on_it():
    groups = np.repeat([f"g{i}" for i in range(11)], 3)
    folds = group_folds(groups, 4, seed=0, val_share=0.25)
    tested = np.concatenate([f["test"] for f in folds])
    assert sorted(tested) == sorted(np.unique(groups))  # each group tested exactly once
    for f in folds:
        parts = [set(f[k]) for k in ("train", "val", "test")]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert len(f["val"]) >= 1 and set().union(*parts) == set(groups)
    with pytest.raises(ValueError, match="at least 3 groups"):
        group_folds(np.array(["a", "b"]), 2, 0, 0.2)


@pytest.mark.parametrize("n, k", [(3, 2), (4, 2), (5, 5), (7, 3)])
def test_every_fold_keeps_a_training_and_a_validation_group(n, k):
    """Few groups and few folds (a small --fast study): folds are added rather than a part left empty."""
    folds = group_folds(np.array([f"g{i}" for i in range(n)]), k, 0, 0.2)
    assert len(folds) >= k and all(len(f["train"]) and len(f["val"]) and len(f["test"]) for f in folds)
    assert sorted(np.concatenate([f["test"] for f in folds])) == sorted(f"g{i}" for i in range(n))


def test_cross_validation_scores_every_image_out_of_fold_with_a_validation_threshold():
    faces = paired_toy()
    seen = []

    def spy(det, split):
        seen.append((set(split["train"].groups), set(split["val"].groups), set(split["test"].groups)))
        return float(det.threshold)

    cv = cross_validate(faces, "frequency", ProtocolConfig(folds=4, seeds=(0, 1), target_fpr=0.1),
                        hooks={"spy": spy})
    assert len(cv["folds"]) == 8 and all(np.isfinite(cv["oof"][s]).all() for s in (0, 1))
    for train, val, test in seen:  # puppets stay with their drivers: groups, not identities, are split
        assert not (train & test) and not (val & test) and not (train & val)
    assert all(r["auc"] > 0.9 and r["spy"] == r["threshold"] for r in cv["folds"])
    # the threshold keeps the false-positive rate on validation reals at or below the target
    split = group_folds(faces.groups, 4, 0, 0.2)[0]
    train, val = (faces.subset(np.isin(faces.groups, split[k])) for k in ("train", "val"))
    det = fit_detector("frequency", train, val, ProtocolConfig(target_fpr=0.1), seed=0)
    assert (det.predict_proba(val.images[val.labels == 0]) > det.threshold).mean() <= 0.1


def test_cluster_bootstrap_resamples_groups_not_frames():
    rng = np.random.default_rng(0)
    group_effect = np.repeat(rng.normal(0, 1, 10), 50)  # 10 groups of 50 correlated values
    values = group_effect + rng.normal(0, 0.1, 500)
    by_group = cluster_ci(np.mean, np.repeat(np.arange(10), 50), values, n_boot=400)
    by_frame = cluster_ci(np.mean, np.arange(500), values, n_boot=400)
    assert by_group[1] - by_group[0] > 3 * (by_frame[1] - by_frame[0])  # frames are not independent


def test_bootstrap_auc_is_scikit_learns_with_ties_and_refuses_one_class():
    from sklearn.metrics import roc_auc_score

    from detector.protocol import auc

    rng = np.random.default_rng(3)
    for trial in range(50):
        labels = rng.integers(0, 2, 40)
        labels[:2] = (0, 1)
        scores = rng.integers(0, 4, 40) / 3 if trial % 2 else rng.random(40)  # half the trials heavily tied
        assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert auc([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(0.875)  # 3.5 of 4 pairs ordered
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1, 1], [0.1, 0.2, 0.3])


def test_controls_match_spectra_and_build_the_generator_free_task():
    faces = toy_faces(n_people=4, per=6, size=32)
    real, fake = faces.images[faces.labels == 0], faces.images[faces.labels == 1]
    matched = controls.match_spectrum(real, controls.amplitude(real), controls.amplitude(fake))
    before = np.abs(controls.amplitude(real) - controls.amplitude(fake)).mean()
    after = np.abs(controls.amplitude(matched) - controls.amplitude(fake)).mean()
    assert after < 0.3 * before  # the checkerboard's spectral peak is given to the reals
    task = controls.upsampling_faces(faces)
    assert (task.labels == 1).sum() == (faces.labels == 0).sum() and set(task.settings) == {"real", "upsampled-real"}
    assert set(task.groups[task.labels == 1]) == set(faces.groups[faces.labels == 0])
    for name, fn in controls.PERTURBATIONS.items():
        out = fn(real)
        assert out.shape == real.shape and out.dtype == np.uint8 and not np.array_equal(out, real), name


def test_study_report_from_a_faceset(tmp_path):
    from detector.study import FAST, run_study

    settings = FAST.__class__(**{**FAST.__dict__, "detectors": ("frequency",),
                                 "protocol": ProtocolConfig(folds=3, seeds=(0,), n_boot=50)})
    faces = paired_toy()
    kinds = [{"video": v, "kind": "self" if int(v[1:].split("-")[0]) % 2 else "puppet"}
             for v in np.unique(faces.videos[faces.labels == 1])]
    results = run_study({"synth": (faces, kinds)}, tmp_path, settings, progress=False)
    row = results["detectors"]["frequency"]
    assert set(row["auc_by_kind"]) == {"self", "puppet"}
    for kind in ("self", "puppet"):  # each kind's fakes against all reals: one image in three is fake
        assert 0.5 < row["auc_by_kind"][kind]["value"] <= 1 and row["auc_by_kind"][kind]["groups"] == 8
    assert row["auc"]["value"] > 0.9 and row["auc"]["ci"][0] <= row["auc"]["value"] <= row["auc"]["ci"][1]
    assert len(row["per_fold"]) == 3 and set(row["perturbed_fpr"]) == set(controls.PERTURBATIONS)
    assert row["memorisation"]["train"]["n"] == 3
    comp = results["sections"]["compression"]["frequency"]
    assert set(comp) == {"JPEG q95", "H.264 CRF 23", "H.264 CRF 40"}
    report = (tmp_path / "report.md").read_text()
    assert "AUC, self-reenactment fakes" in report
    for heading in ("## Headline", "## Controls", "## Train × test compression", "## Closing note"):
        assert heading in report
    assert (tmp_path / "roc.png").exists() and (tmp_path / "reliability.png").exists()
    # the toy trace is a 1-pixel checkerboard: halving and re-encoding reals moves the spectrum too, so
    # the no-generator control decides whether the detector is saved, and the report says which way
    assert (tmp_path / "frequency.json").exists() == row["ship_check"]["passes"]
    assert ("## Not shipped" in report) == (not row["ship_check"]["passes"])


def test_the_shipped_cnn_must_not_call_most_real_faces_fake():
    """The best SynthHeads AUC loses to a detector that leaves real photographs alone."""
    from detector.study import choose_cnn

    def summary(auc, photo_fpr, clip_fpr):
        return {"auc_folds": {"mean": auc}, "photos": {"fpr_folds": {"mean": photo_fpr}},
                "clips": {"fpr_folds": {"mean": clip_fpr}}}

    summaries = {"frequency": summary(0.99, 0.0, 0.0), "residual": summary(0.999, 0.88, 0.99),
                 "resnet10t": summary(0.89, 0.42, 0.0), "resnet18": summary(0.85, 0.1, 0.2)}
    best, why = choose_cnn(summaries, max_real_fpr=0.5)
    assert best == "resnet10t" and "0.42" in why  # the frequency model is shipped anyway, never as "the CNN"
    assert choose_cnn(summaries, max_real_fpr=0.3)[0] == "resnet18"
    best, why = choose_cnn(summaries, max_real_fpr=0.05)
    assert best == "resnet18" and "calls the fewest" in why
    no_photos = {n: {"auc_folds": s["auc_folds"]} for n, s in summaries.items()}  # --real/--fake studies
    assert choose_cnn(no_photos, 0.5)[0] == "residual"
    assert choose_cnn({"frequency": summaries["frequency"]}, 0.5)[0] is None


@pytest.mark.slow
def test_synthheads_pairs_from_a_model_are_unseen_balanced_and_grouped():
    import torch

    from detector.sources import SourceConfig, synth_faces
    from fsth.nn import create
    from tests.helpers import SMALL_MODEL

    torch.manual_seed(0)
    model = create(SMALL_MODEL, num_videos=4).eval()
    cfg = SourceConfig(pairs=2, window=4, pool=6, k=2, baseline_pairs=1)
    other = create(SMALL_MODEL, num_videos=4).eval()  # a second generator, other weights
    faces, rows = synth_faces(model, cfg, makers=("model", "warp", "mean", "other"), progress=False, other=other)
    main = faces.subset(np.isin(faces.settings, ["real", "fake"]))
    assert len(main) == 2 * 2 * 2 * 4 and main.labels.mean() == 0.5  # 2 pairs x 2 people x (real, fake) x 4
    assert sorted(set(faces.settings)) == ["fake", "mean", "other", "real", "warp"]
    assert (faces.settings == "warp").sum() == (faces.settings == "other").sum() == 2 * 4  # first pair only
    first = faces.videos == f"s{cfg.seed}-0000/fake"
    assert (faces.images[first] != faces.images[faces.videos == f"s{cfg.seed}-0000/other"]).any()
    puppet = next(r for r in rows if r.get("kind") == "puppet")
    driver = next(r for r in rows if r["identity"] == puppet["driver"])
    assert puppet["group"] == driver["group"]  # a puppet and its driver share a group
    with pytest.raises(AssertionError, match="training data"):
        synth_faces(model, cfg, keys={"synth": {(cfg.seed, 1)}, "hashes": set()}, progress=False)


def test_curve_fakes_snapshot_one_fine_tuning_run():
    """quality_fakes renders every (K, steps) recipe like make_head() would, from one run per K."""
    import torch

    from detector.curves import quality_fakes
    from detector.sources import SourceConfig, make_head, synth_person
    from fsth.nn import create
    from tests.helpers import SMALL_MODEL

    torch.manual_seed(0)
    model = create(SMALL_MODEL, num_videos=4).eval()
    cfg = SourceConfig(pairs=1, window=4, pool=6, k=2, codec="none")  # the renders themselves, unencoded
    recipes = [("0 steps", 2, 0), ("2 steps", 2, 2), ("K=1", 1, 0)]
    faces, rows = quality_fakes(model, cfg, 1, recipes, progress=False)
    assert [r["setting"] for r in rows] == ["0 steps", "2 steps", "K=1"]  # one identity per pair
    assert {r["identity"] for r in rows} == {f"s{cfg.seed}-0000"}
    frames, landmarks, _ = synth_person(cfg.seed, 0, cfg.pool + cfg.window, 32)
    for label, k, steps in recipes:
        alone = make_head("model", model, frames[:cfg.pool], landmarks[:cfg.pool], k, steps, 0).render(
            landmarks[cfg.pool:])
        mine = faces.images[(faces.videos == f"s{cfg.seed}-0000/{label}")]
        assert np.abs(mine.astype(int) - alone).max() <= 1, label


def test_the_studys_baselines_are_fsths_renderers():
    from detector.sources import make_head
    from fsth import Renderer
    from fsth.warp import warp_portrait
    from tests.helpers import face_points

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    points = np.repeat(face_points(64)[None], 6, axis=0)
    targets = points[:3] + rng.normal(0, 1.5, (3, 68, 2)).astype(np.float32)
    warp = make_head("warp", None, frames, points, k=2, steps=0, seed=0)
    mean = make_head("mean", None, frames, points, k=2, steps=0, seed=0)
    assert isinstance(warp, Renderer) and isinstance(mean, Renderer)
    assert np.array_equal(warp.render(targets), warp_portrait(warp.shots[0], warp.landmarks[0], targets))
    assert np.array_equal(mean.render(targets)[2], warp.shots.mean(0).round().astype(np.uint8))
    with pytest.raises(ValueError, match="unknown baseline 'blur'"):
        make_head("blur", None, frames, points, k=2, steps=0, seed=0)


def test_bring_your_own_data_errors_name_the_folder(tmp_path, capsys):
    from detector.__main__ import main as detector_main

    (tmp_path / "real").mkdir()
    (tmp_path / "fake" / "someone").mkdir(parents=True)
    (tmp_path / "fake" / "someone" / "notes.txt").write_text("not media")
    for real, fake, says in ((tmp_path / "nowhere", tmp_path / "fake", "nowhere: no such folder"),
                             (tmp_path / "real", tmp_path / "fake", "real: no video or image files")):
        assert detector_main(["study", "--real", str(real), "--fake", str(fake), "--out", str(tmp_path / "o")]) == 1
        assert says in capsys.readouterr().err
    assert detector_main(["study", "--real", str(tmp_path / "real"), "--out", str(tmp_path / "o")]) == 2


@pytest.mark.slow
def test_bring_your_own_data_gets_the_same_report(tmp_path, samples):
    import cv2

    from detector.sources import folder_faces
    from detector.study import FAST, run_study

    for name in ("grace_hopper", "astronaut", "takeo", "einstein"):
        image = cv2.imread(str(samples.fetch(name)))
        for label, folder in ((0, "real"), (1, "fake")):
            for v in range(2):
                shot = image if not label else cv2.resize(cv2.resize(image, None, fx=0.5, fy=0.5), image.shape[1::-1],
                                                          interpolation=cv2.INTER_NEAREST)
                (tmp_path / folder / name).mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(tmp_path / folder / name / f"v{v}.png"), np.roll(shot, 3 * v, axis=1))
    faces, rows = folder_faces(tmp_path / "real", tmp_path / "fake", 64, 4, tmp_path / "cache", progress=False)
    assert len(faces) == 16 and faces.labels.mean() == 0.5 and len(set(faces.groups)) == 4
    settings = FAST.__class__(**{**FAST.__dict__, "detectors": ("frequency",),
                                 "protocol": ProtocolConfig(folds=2, seeds=(0,), n_boot=20)})
    results = run_study({"synth": (faces, rows)}, tmp_path / "study", settings, progress=False)
    assert np.isfinite(results["detectors"]["frequency"]["auc"]["value"])
    assert "## Controls" in (tmp_path / "study" / "report.md").read_text()


def test_provenance_marks_read_on_marked_fakes_only():
    from detector import marks

    faces = toy_faces(n_people=4, per=16, size=64, seed=2)  # 8 videos of 8 frames, 64 px
    out = marks.survival(faces, n_boot=20)
    assert list(out) == list(marks.CONDITIONS)
    for name in ("lossless", "JPEG q95"):
        assert out[name]["fakes_read"]["value"] == 1.0, name  # light re-encoding keeps the mark
    for name, row in out.items():
        assert row["videos"] == [4, 4]
        assert row["reals_read"]["value"] == 0.0, name  # an unmarked video never reads as marked


def test_printed_intervals_contain_their_value():
    from detector.report import fmt

    assert fmt({"value": 0.998, "ci": [0.9954, 1.0]}) == "0.998 [0.99, 1.00]"  # not [1.00, 1.00]
    assert fmt({"value": 0.01, "ci": [0.0, 0.04]}, 2) == "0.01 [0.00, 0.04]"
    assert fmt({"value": 0.0, "ci": [0.0, 0.0]}) == "0.000 [0.00, 0.00]"  # never "-0.00"
    assert fmt({"mean": 0.5, "sd": 0.1, "n": 3}) == "0.500 ± 0.100"
