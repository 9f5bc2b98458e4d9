"""The detectability study: how well do standard detectors catch fsth's fakes, and what
makes them harder to catch? (``python -m detector study``; the protocol in docs/detector/report.md)

1. Faces (:mod:`detector.sources`): SynthHeads pairs the generator never saw (checked:
   :mod:`detector.unseen`), each identity once real and once fake (self-reenacted or
   puppeteered), plus the same videos faked by the warp and mean-frame baselines; real sample
   videos and their fakes; real photos — all of them training faces (real faces are negatives
   too), each video or photo its own group. Every video is ``window`` contiguous frames, and every
   video, real or fake, takes the fakes' path: rendered (or, real, resized through the working
   size of a generator that upsamples its output), written by fsth's video writer
   (:class:`detector.data.Processing`);
   then everything is JPEG q95 once. Or your own folders (:mod:`detector.folders`).
2. Detectors (:mod:`detector.models`, :mod:`detector.backbones`) trained with the same
   augmentation of both classes (:mod:`detector.augment`), under identity-grouped k-fold CV ×
   seeds (:mod:`detector.protocol`), calibrated (bounded) and thresholded on validation identities.
3. Controls (:mod:`detector.controls`), curves and matrices (:mod:`detector.curves`), and
   whether fsth's deliberate provenance mark survives re-encoding (:mod:`detector.marks`).
4. Shipping (:func:`ship`): a detector is retrained on every group and saved only if it passes
   the no-generator control (:func:`detector.controls.passes`); then judged by its own threshold
   on real media no detector ever saw (:mod:`detector.heldout`); report.md, results.json and
   figures (:mod:`detector.report`).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import controls, curves, marks, models
from .data import FaceSet, encode
from .metrics import eer
from .protocol import ProtocolConfig, auc, cross_validate, estimate, fit_detector, mean_sd
from .sources import SourceConfig

log = logging.getLogger(__name__)
CONDITIONS = {"JPEG q95": ("jpeg", 95), "H.264 CRF 23": ("h264", 23), "H.264 CRF 40": ("h264", 40)}
PARTS = ("synth", "clips", "k_curve", "steps_curve", "photos")  # the faces of a study, each cached on its own


@dataclass(frozen=True)
class StudySettings:
    detectors: tuple[str, ...] = ("frequency", "residual", "resnet10t")  # resnet18: --detectors (2.5x resnet10t)
    sources: SourceConfig = field(default_factory=SourceConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)
    ks: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    ft_steps: tuple[int, ...] = (0, 10, 25, 50, 100, 200)
    curve_pairs: int = 6  # SynthHeads pairs (one identity each) re-faked for the K curve
    steps_pairs: int = 3  # ... and for the fine-tuning curve (one 200-step run each, ~65 s, snapshots)
    matrix_detectors: tuple[str, ...] = ("frequency", "residual")  # compression / generator matrices, controls
    matrix_folds: int = 2  # folds of each matrix row and control (one seed): 3 rows x 2 folds per detector
    generator_frames: int = 16  # frames per video a cross-generator row trains on (0: all): its baseline
    # pairs are fewer than the main set's, and a CNN needs about as many training images to learn at all
    identity: bool = True  # dlib identity score of the curve fakes
    max_real_fpr: float = 0.5  # a CNN ships only if it calls at most this share of real faces fake (see ship)


# The study `fsth detect study` runs (and ships from): fakes at the warping model's output resolution
# (256 px, texture from the full-resolution shots), the frequency detector at 128 px; 8 min 22 s from scratch on
# two AVX2 cores. The residual CNN (`--detectors frequency residual`) adds 11 minutes and, on these faces,
# still reads resampling (no-generator AUC 0.669 in docs/detector/study-256): it is not in the shipped run.
# The classes' defaults (more pairs, three detectors, longer curves) are the hours-long version.
STANDARD = StudySettings(detectors=("frequency",),
                         sources=SourceConfig(pairs=24, window=16, pool=24, k=8, baseline_pairs=6, render_size=256,
                                              detector_size=128, clip_windows=6),
                         protocol=ProtocolConfig(folds=4, seeds=(0, 1), train_frames=4, epochs=6, n_boot=300,
                                                 hard_negatives=True),
                         ks=(1, 4, 16), ft_steps=(0, 25, 100), curve_pairs=4, steps_pairs=2,
                         matrix_detectors=("frequency",), generator_frames=8)
FAST = StudySettings(detectors=("frequency",),
                     sources=SourceConfig(pairs=8, window=8, pool=16, k=4, baseline_pairs=3, render_size=256,
                                          detector_size=128, clip_windows=2),
                     protocol=ProtocolConfig(folds=3, seeds=(0,), train_frames=0, epochs=4, n_boot=100,
                                             hard_negatives=True), ks=(1, 8),
                     ft_steps=(0, 10), curve_pairs=2, steps_pairs=1, matrix_detectors=("frequency",),
                     generator_frames=0)


def make_study_faces(model, settings: StudySettings, cache: Path, trained_on: dict | None = None,
                     progress: bool = True, other=None, have: dict | None = None) -> dict:
    """Every face the study needs, {part: (FaceSet, rows)} for each of :data:`PARTS`, made once
    and cached in ``cache`` (npz + json), every video through the study's processing
    (:func:`detector.sources.processing`). ``trained_on``: what the generators were trained on
    (:func:`detector.unseen.generator_training_keys`), so no test identity is one they saw;
    ``other``: a second fsth generator whose fakes of the baseline pairs join the
    cross-generator matrix; ``have``: parts already made (:func:`load_study_faces`), kept as they are."""
    from fsth.metrics import IdentityEmbedder

    from .report import write_text
    from .sources import photo_group, processing, real_clips, real_photos, synth_faces

    cache.mkdir(parents=True, exist_ok=True)
    s = settings.sources
    process = processing(model, s)
    curves_missing = not {"k_curve", "steps_curve"} <= set(have or {})
    embedder = IdentityEmbedder() if settings.identity and curves_missing else None
    have = dict(have or {})
    makers = ("model", "warp", "mean") + (("other",) if other is not None else ())

    def photos():  # each photo along both paths: processed like a real video frame, and as `detect score` crops it
        crops, names = real_photos(process.size, process=process, scored_size=process.detector_size or process.size)
        return (FaceSet(crops, np.zeros(len(crops), int), names, names, ["photo"] * len(crops),
                        [photo_group(n) for n in names]), [{"name": n} for n in names])

    make = {
        "synth": lambda: synth_faces(model, s, makers=makers, keys=trained_on, progress=progress, other=other),
        "clips": lambda: real_clips(model, s, progress=progress),
        "k_curve": lambda: curves.quality_fakes(model, s, min(settings.curve_pairs, s.pairs),
                                                [(f"K={k}", k, 0) for k in settings.ks], embedder, progress=progress),
        "steps_curve": lambda: curves.quality_fakes(model, s, min(settings.steps_pairs, s.pairs),
                                                    [(f"{n} steps", 8, n) for n in settings.ft_steps], embedder,
                                                    progress=progress),
        "photos": photos,
    }
    parts = {}
    for part in PARTS:
        if part in have:
            parts[part] = have[part]
            continue
        parts[part] = faces, rows = make[part]()
        faces.save(cache / f"{part}.npz")
        write_text(cache / f"{part}.json", json.dumps(rows, default=float))
        if part == "photos":
            write_text(cache / "photos-made-from.json", json.dumps(photo_recipe()))
    return parts


def photo_recipe() -> dict:
    """What the cached real photos were made from: the photo list, the paths each took, the
    largest scaled side."""
    from .heldout import MAX_SIDE
    from .sources import PHOTO_SAMPLES

    return {"photos": list(PHOTO_SAMPLES), "paths": ["processed", "as scored"], "max_side": MAX_SIDE}


def load_study_faces(cache: Path) -> dict:
    """The parts :func:`make_study_faces` cached in ``cache`` that are still current ({} when
    none): a part whose files are missing is left out, and so is a photo set made from another
    list of photos or another recipe (:func:`photo_recipe`), so only that part is made again."""
    have = {}
    for part in PARTS:
        if not ((cache / f"{part}.npz").exists() and (cache / f"{part}.json").exists()):
            continue
        made_from = cache / "photos-made-from.json"
        if part == "photos" and (not made_from.exists() or json.loads(made_from.read_text()) != photo_recipe()):
            continue
        have[part] = (FaceSet.load(cache / f"{part}.npz"), json.loads((cache / f"{part}.json").read_text()))
    return have


def training_faces(everything: FaceSet, study_faces: dict) -> tuple[FaceSet, dict]:
    """The faces the detectors are cross-validated on: SynthHeads reals and fakes, plus the real
    sample videos (real windows and their fakes) and real photos, all processed alike — real
    faces are negatives in training, not only at test time. Returns them and {"clips" | "photos":
    row mask} for each real-media domain present (its out-of-fold figures are reported apart)."""
    synth = everything.subset(np.isin(everything.settings, ["real", "fake"]))
    media = [k for k in ("clips", "photos") if k in study_faces and len(study_faces[k][0])]
    if not media:
        return synth, {}
    domain = np.concatenate([np.full(len(synth), "")] + [np.full(len(study_faces[k][0]), k) for k in media])
    return FaceSet.concat([synth] + [study_faces[k][0] for k in media]), {k: domain == k for k in media}


def run_study(study_faces: dict, out: str | Path, settings: StudySettings = StudySettings(), model_name: str = "",
              extra: dict | None = None, progress: bool = True) -> dict:
    """Cross-validate every detector on ``study_faces`` ({part: (FaceSet, rows)}, see
    :func:`make_study_faces`, or ``{"synth": (faces, rows)}`` alone for your own data); write
    the report into ``out``. ``extra`` joins the results (``check``: what "unseen" was checked
    against; ``byo``: what :func:`detector.folders.folder_faces` read; ``processing``: the
    faces' processing in words; ``near_duplicates``: :func:`detector.unseen.near_duplicates`)."""
    from .report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    p = settings.protocol
    raw = study_faces["synth"][0]  # before the study's JPEG (written once by fsth's writer, as a fake file is)
    study_faces = {part: (encode(f, "jpeg", 95), rows)  # one pipeline, both classes
                   for part, (f, rows) in study_faces.items()}
    everything = study_faces["synth"][0]
    main, domains = training_faces(everything, study_faces)
    hooks = dict(controls.HOOKS)
    crf = settings.sources.quality if settings.sources.codec in ("fsth", "h264") else 18  # as the fakes are written
    hooks["no_generator"] = lambda det, split: controls.no_generator(det, split, crf)
    own = bool((extra or {}).get("byo")) or not model_name  # no fsth generator made these fakes
    results = {"settings": asdict(settings), "model": model_name, "detectors": {}, "sections": {},
               "data": "your --real/--fake folders" if own else "SynthHeads",
               "counts": {"images": int(len(main)), "videos": int(len(np.unique(main.videos))),
                          "identities": int(len(np.unique(main.identities))),
                          "groups": int(len(np.unique(main.groups))), "fake share": float(main.labels.mean()),
                          "image_size": int(main.images.shape[1]),
                          "fake video share": float(np.mean([main.labels[main.videos == v][0]
                                                             for v in np.unique(main.videos)]))},
               **(extra or {})}
    results["identities"] = {"test": results["counts"]["identities"]}  # every identity is tested once per seed
    kinds = {r["video"]: r["kind"] for r in study_faces["synth"][1] if r.get("kind")}  # self / puppet, per fake video
    cvs = {}
    for name in settings.detectors:
        t = time.perf_counter()
        cvs[name] = cross_validate(main, name, p, hooks=hooks, keep_models=True, progress=progress)
        results["detectors"][name] = summarize_cv(cvs[name], main, p, kinds, domains)
        info = detector_info(next(iter(cvs[name]["models"].values()), None))
        if info:
            results.setdefault("detector_info", {})[name] = info
        results.setdefault("timing", {})[f"CV {name}"] = time.perf_counter() - t
        log.info("%s: %.0f s", name, results["timing"][f"CV {name}"])
    results["folds_run"] = {int(seed): sum(r["seed"] == seed for r in next(iter(cvs.values()))["folds"])
                            for seed in p.seeds} if cvs else {}
    _sections(results, cvs, main, everything, raw, study_faces, settings)
    lap = time.perf_counter()
    results["shipped"], results["refused"] = ship(main, settings, results["detectors"], out, model_name,
                                                  results["data"], heldout_check=not own)
    results["timing"]["shipping"] = time.perf_counter() - lap
    results["seconds"] = time.perf_counter() - started
    write_report(results, cvs, main, out)
    return results


def detector_info(det) -> str:
    """What a timm detector is, for the report: fine-tuned or probed, its input side, its weights."""
    kind = getattr(det, "kind", "")
    if kind == "timm":
        return f"timm, fine-tuned end to end at {det.input_size} px input, from {det.weights}"
    if kind == "probe":
        return f"linear probe on frozen timm features at {det.input_size} px input, {det.weights}"
    return ""


def _sections(results: dict, cvs: dict, main: FaceSet, everything: FaceSet, raw: FaceSet, study_faces: dict,
              settings: StudySettings) -> None:
    """The study's sections beyond cross-validation, into ``results["sections"]`` with their
    seconds in ``results["timing"]``: the upsampling-only control, the K and fine-tuning curves,
    the compression and cross-generator matrices, and the provenance marks' survival."""
    sections, timing = results["sections"], results.setdefault("timing", {})
    p = settings.protocol
    lap = time.perf_counter()

    def clock(section: str) -> None:  # seconds per section, into results["timing"]
        nonlocal lap
        timing[section], lap = time.perf_counter() - lap, time.perf_counter()

    pm = replace(p, folds=min(p.folds, settings.matrix_folds))  # the controls and matrices: fewer folds
    sections["upsampling_only"] = {}
    for name in settings.matrix_detectors:
        cv = cross_validate(controls.upsampling_faces(main), name, replace(pm, seeds=p.seeds[:1]),
                            hooks={"vs": controls.scored_on(main)})
        pool = curves.pooled(cv["folds"], "vs", p.seeds[0])
        sections["upsampling_only"][name] = estimate(auc, pool["groups"], pool["labels"], pool["scores"],
                                                     n_boot=p.n_boot)
    clock("upsampling-only control")
    for key in ("k_curve", "steps_curve"):
        if key in study_faces:
            sections[key] = {n: curves.recipe_rows(cvs[n], main, *study_faces[key], n_boot=p.n_boot)
                             for n in settings.detectors}
    clock("curves")
    conditioned = {c: encode(main, codec, q) for c, (codec, q) in CONDITIONS.items()}
    sections["compression"] = {n: curves.matrix(n, conditioned, conditioned, pm) for n in settings.matrix_detectors}
    clock("compression matrix")
    makers = [m for m in ("fake", "other", "warp", "mean") if (everything.settings == m).any()]
    if len(makers) > 1:
        shared = np.unique(everything.groups[everything.settings == makers[-1]])  # the baseline pairs
        by_maker = {m: everything.subset(np.isin(everything.settings, ["real", m]) & np.isin(everything.groups, shared))
                    for m in makers}
        pg = replace(pm, train_frames=settings.generator_frames)
        sections["cross_generator"] = {n: curves.matrix(n, by_maker, by_maker, pg) for n in settings.matrix_detectors}
    clock("cross-generator matrix")
    sections["marks"] = marks.survival(raw.subset(np.isin(raw.settings, ["real", "fake"])), n_boot=p.n_boot)
    clock("provenance marks")


def summarize_cv(cv: dict, faces: FaceSet, p: ProtocolConfig, kinds: dict | None = None,
                 domains: dict | None = None) -> dict:
    """The headline numbers of one detector: pooled out-of-fold (seed ``p.seeds[0]``) with
    cluster-bootstrap intervals, and mean ± sd over folds × seeds. ``kinds`` ({fake video:
    "self" | "puppet"}) adds the AUC of each kind of fake against all reals."""
    from .metrics import ece, video_scores

    seed, folds = p.seeds[0], cv["folds"]
    scores, thr = cv["oof"][seed], cv["thresholds"][seed]
    labels, groups, n = faces.labels, faces.groups, p.n_boot
    flagged = (scores > thr).astype(float)
    row = {"auc": estimate(auc, groups, labels, scores, n_boot=n),
           "auc_folds": mean_sd([r["auc"] for r in folds]),
           "per_fold": [{"seed": r["seed"], "fold": r["fold"], "auc": r["auc"], "threshold": r["threshold"]}
                        for r in folds],
           "tpr": estimate(np.mean, groups[labels == 1], flagged[labels == 1], n_boot=n),
           "fpr": estimate(np.mean, groups[labels == 0], flagged[labels == 0], n_boot=n),
           "ece": estimate(ece, groups, labels, scores, n_boot=n),
           "auc_per_seed": mean_sd([auc(labels, cv["oof"][s]) for s in p.seeds])}
    kind_of = np.array([(kinds or {}).get(v, "") for v in faces.videos])
    row["auc_by_kind"] = {}
    for kind in ("self", "puppet"):
        if (kind_of == kind).any():
            keep = (labels == 0) | (kind_of == kind)
            row["auc_by_kind"][kind] = estimate(auc, groups[keep], labels[keep], scores[keep], n_boot=n)
    vids, vscores = video_scores(scores, faces.videos)
    first = {v: i for i, v in reversed(list(enumerate(faces.videos)))}
    vlabels = np.array([labels[first[v]] for v in vids])
    vgroups = np.array([groups[first[v]] for v in vids])
    row["video_auc"] = estimate(auc, vgroups, vlabels, vscores, n_boot=n)
    row["ap"] = estimate(average_precision, groups, labels, scores, n_boot=n)
    row["eer"] = estimate(eer_of, groups, labels, scores, n_boot=n)
    row["video_ap"] = estimate(average_precision, vgroups, vlabels, vscores, n_boot=n)
    row["video_eer"] = estimate(eer_of, vgroups, vlabels, vscores, n_boot=n)
    row["videos_per_class"] = [int((vlabels == 0).sum()), int((vlabels == 1).sum())]
    row["calibration"] = calibration_of(cv, seed)
    if "no_generator" in folds[0]:
        row["no_generator"] = no_generator_summary(folds, seed, n)
        row["ship_check"] = dict(zip(("passes", "why"), controls.passes(row)))
    row["spectrum_matched"] = _pooled_auc(folds, "spectrum", seed, n)
    row["down_up"] = _pooled_auc(folds, "down_up", seed, n)
    row["perturbed_fpr"] = {}
    for name in controls.PERTURBATIONS:
        pool = curves.pooled(folds, "perturbed", seed, name)
        flags = (pool["scores"] > np.concatenate([np.full(len(r["perturbed"][name]["scores"]),
                                                          r["perturbed"][name]["threshold"])
                                                  for r in folds if r["seed"] == seed])).astype(float)
        row["perturbed_fpr"][name] = estimate(np.mean, pool["groups"], flags, n_boot=n)
    row["memorisation"] = {part: mean_sd([r["memorisation"][part] for r in folds]) for part in ("train", "val", "test")}
    for key, mask in (domains or {}).items():
        row[key] = domain_summary(cv, faces, mask, seed, n)
    return row


def domain_summary(cv: dict, faces: FaceSet, mask: np.ndarray, seed: int, n_boot: int) -> dict:
    """Out-of-fold figures on one real-media domain of the training faces (``mask``: the real
    sample videos or the real photos), each face scored by the fold detector that never saw its
    group, at that detector's threshold: FPR and mean P(fake) on its reals (pooled, with an
    interval over groups, and mean ± sd over folds), and, where it has fakes, AUC and TPR."""
    scores, thr = cv["oof"][seed][mask], cv["thresholds"][seed][mask]
    labels, groups = faces.labels[mask], faces.groups[mask]
    flags, real = (scores > thr).astype(float), labels == 0
    fold = np.array([cv["fold_of"][seed].get(g, -1) for g in groups])
    out = {"fpr": estimate(np.mean, groups[real], flags[real], n_boot=n_boot),
           "p_fake_real": estimate(np.mean, groups[real], scores[real], n_boot=n_boot),
           "fpr_folds": mean_sd([flags[real & (fold == f)].mean() for f in np.unique(fold[real])]),
           "n": int(real.sum()), "names": sorted(set(map(str, groups)))}
    if (labels == 1).any() and real.any():
        out["auc"] = estimate(auc, groups, labels, scores, n_boot=n_boot)
        out["tpr"] = estimate(np.mean, groups[~real], flags[~real], n_boot=n_boot)
        out["p_fake_fake"] = estimate(np.mean, groups[~real], scores[~real], n_boot=n_boot)
    return out


def average_precision(labels, scores) -> float:
    """Average precision (scikit-learn's); ValueError with one class (the bootstrap skips it)."""
    from sklearn.metrics import average_precision_score

    if len(np.unique(labels)) < 2:
        raise ValueError("AP needs both classes")
    return float(average_precision_score(labels, scores))


def eer_of(labels, scores) -> float:
    """Equal error rate; ValueError with one class (the bootstrap skips it)."""
    if len(np.unique(labels)) < 2:
        raise ValueError("EER needs both classes")
    return float(eer(np.asarray(labels), np.asarray(scores)))


def calibration_of(cv: dict, seed: int) -> dict:
    """Each fold's calibration (seed ``seed``): temperatures (CNNs) or Platt slopes (frequency,
    linear probes), as {"kind", "values"}; bounded by :data:`detector.metrics.TEMPERATURE_RANGE`."""
    dets = [det for (s, _), det in sorted(cv.get("models", {}).items()) if s == seed]
    if dets and hasattr(dets[0], "platt"):
        return {"kind": "Platt slope", "values": [float(d.platt[0]) for d in dets]}
    return {"kind": "temperature", "values": [float(getattr(d, "temperature", 1.0)) for d in dets]}


def no_generator_summary(folds: list[dict], seed: int, n_boot: int) -> dict:
    """The no-generator control (:func:`detector.controls.no_generator`), pooled out of fold: AUC
    of reals vs processed reals, and the false-positive rate on each, per fold (mean ± sd) and
    pooled (with its interval)."""
    pool = curves.pooled(folds, "no_generator", seed)
    thresholds = np.concatenate([np.full(len(r["no_generator"]["scores"]), r["no_generator"]["threshold"])
                                 for r in folds if r["seed"] == seed])
    flags = (pool["scores"] > thresholds).astype(float)
    out = {"auc": estimate(auc, pool["groups"], pool["labels"], pool["scores"], n_boot=n_boot)}
    for label, key in ((0, "real"), (1, "processed")):
        rows = pool["labels"] == label
        out[f"fpr_{key}_pooled"] = estimate(np.mean, pool["groups"][rows], flags[rows], n_boot=n_boot)
        out[f"fpr_{key}"] = mean_sd([np.mean((ng["scores"] > np.broadcast_to(ng["threshold"], ng["scores"].shape))
                                             [ng["labels"] == label]) for ng in (r["no_generator"] for r in folds)])
    return out


def _pooled_auc(folds, key, seed, n_boot) -> dict:
    pool = curves.pooled(folds, key, seed)
    return {**estimate(auc, pool["groups"], pool["labels"], pool["scores"], n_boot=n_boot),
            "folds": mean_sd([auc(r[key]["labels"], r[key]["scores"]) for r in folds])}


def real_fpr(summary: dict) -> float:
    """A detector's out-of-fold false-positive rate on real media (not SynthHeads renders): the
    worse of its mean FPR on real photos and on real sample videos (nan when neither was scored).
    The held-out real media (:mod:`detector.heldout`) never enter this choice."""
    rates = [summary[k]["fpr_folds"]["mean"] for k in ("photos", "clips") if k in summary]
    return float(max(rates)) if rates else float("nan")


def choose_cnn(summaries: dict, max_real_fpr: float) -> tuple[str | None, str]:
    """The CNN to ship and why: among the CNNs (and linear probes) that pass the no-generator
    control (:func:`detector.controls.passes`, where it was run), the highest mean per-fold AUC
    among those calling at most ``max_real_fpr`` of real faces fake (:func:`real_fpr`); if none
    does, the one calling the fewest — a detector that flags most real photographs is no use,
    however well it separates SynthHeads. None when no CNN passes the control."""
    cnns = [n for n in summaries if n != "frequency"]
    if not cnns:
        return None, "no CNN in the study"
    checked = {n: summaries[n]["ship_check"] for n in cnns if "ship_check" in summaries[n]}
    failed = [n for n, c in checked.items() if not c["passes"]]
    cnns = [n for n in cnns if n not in failed]
    if not cnns:
        return None, "no CNN passes the no-generator control (" + "; ".join(
            f"{n}: {checked[n]['why']}" for n in failed) + ")"
    auc_of = {n: np.nan_to_num(summaries[n]["auc_folds"]["mean"]) for n in cnns}
    fpr_of = {n: real_fpr(summaries[n]) for n in cnns}
    if all(np.isnan(f) for f in fpr_of.values()):  # your own data: no real photos were scored
        best = max(cnns, key=auc_of.get)
        return best, f"highest mean per-fold AUC ({auc_of[best]:.3f}); no real photos scored"
    eligible = [n for n in cnns if fpr_of[n] <= max_real_fpr]
    if eligible:
        best = max(eligible, key=auc_of.get)
        return best, (f"highest mean per-fold AUC ({auc_of[best]:.3f}) among the CNNs calling at most "
                      f"{max_real_fpr:.0%} of real faces fake (its rate: {fpr_of[best]:.2f})")
    best = min(cnns, key=lambda n: (np.nan_to_num(fpr_of[n], nan=np.inf), -auc_of[n]))
    return best, (f"every CNN calls more than {max_real_fpr:.0%} of real faces fake; {best} calls the fewest "
                  f"({fpr_of[best]:.2f}) — use its scores only next to real faces of the same source")


def ship(main: FaceSet, settings: StudySettings, summaries: dict, out: Path, model_name: str,
         data: str = "SynthHeads", heldout_check: bool = False) -> tuple[dict, dict]:
    """The frequency model and the CNN of :func:`choose_cnn`, retrained on all groups (a fifth
    held out for calibration and threshold) and saved into ``out`` — each only if it passed the
    no-generator control (:func:`detector.controls.passes`). ``heldout_check``: each saved
    detector's own verdicts on real media no detector ever saw (:func:`detector.heldout.figures`)
    join what was saved — reported, never used to choose. Returns ({name: what was saved},
    {"frequency" or "CNN": why none was})."""
    from .protocol import group_folds

    p = settings.protocol
    best, why = choose_cnn(summaries, settings.max_real_fpr)
    refused = {}
    if best is None and any(n != "frequency" for n in summaries):
        refused["CNN"] = why
    if "frequency" in summaries:
        check = summaries["frequency"].get("ship_check",
                                           {"passes": False, "why": "the no-generator control was not run"})
        if not check["passes"]:
            refused["frequency"] = check["why"]
    split = group_folds(main.groups, max(2, round(1 / p.val_share)), p.seeds[0], 0.0)[0]
    train = main.subset(~np.isin(main.groups, split["test"]))
    val = main.subset(np.isin(main.groups, split["test"]))
    domain = (f"{data} {main.images.shape[1]} px reals vs fakes of {model_name} (self-reenactment and "
              f"puppeteering, K = {settings.sources.k}), both written by fsth's video writer, JPEG q95"
              if model_name else f"{data} at {main.images.shape[1]} px, JPEG q95")
    shipped = {}
    for name, file in (("frequency", models.SHIPPED["frequency"]), (best, models.SHIPPED["cnn"])):
        if name is None or name not in settings.detectors or name in refused:
            continue
        det = fit_detector(name, train, val, p, p.seeds[0])
        det.domain = domain
        det.save(out / file)
        shipped[name] = {"file": file, "threshold": det.threshold, "photo_threshold": det.photo_threshold,
                         "domain": domain,
                         "why": why if name == best else "the spectrum baseline, shipped when it passes the control",
                         "check": summaries[name]["ship_check"]["why"], "real_fpr": real_fpr(summaries[name])}
        if heldout_check:
            from . import heldout

            shipped[name]["heldout"] = heldout.figures(det, out / "heldout")
            for line in heldout.lines(name, shipped[name]["heldout"]):
                log.info("%s", line)
    return shipped, refused
