"""The evaluation protocol: identity-grouped k-fold cross-validation × seeds.

Every group (an identity, or a SynthHeads pair: a puppet and its driver) is tested exactly
once per seed, by a detector that never saw it. Inside each training part a share of the
groups is held out as *validation*: calibration (temperature for CNNs, Platt for the
frequency model) and the operating threshold (the P(fake) above which a face is called
fake, set so that at most ``target_fpr`` of *each kind* of validation real — video frames,
photos, their resampled copies — and of each validation group's faces is called fake; photos
get a threshold of their own) are
fitted there and nowhere else. Out-of-fold scores are pooled per seed; every figure gets a
cluster bootstrap interval over groups (frames of one person are not independent) and a
mean ± sd over folds × seeds.

    cv = cross_validate(faces, "residual", ProtocolConfig(folds=5, seeds=(0, 1)))
    cv["oof"][0]          # P(fake) of every image, seed 0, each from the fold that held it out
    cv["folds"]           # one record per (seed, fold): AUC, threshold, what the hooks measured
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, GroupShuffleSplit

from . import models
from .data import FaceSet, assert_identity_disjoint
from .metrics import cluster_ci, threshold_at_fpr, threshold_by_domain  # noqa: F401  (the first two: re-exported)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProtocolConfig:
    folds: int = 5
    seeds: tuple[int, ...] = (0, 1)
    val_share: float = 0.2  # of the training groups: calibration and threshold only
    train_frames: int = 4  # frames per video a detector trains on (evenly spread; all are tested)
    val_frames: int = 8  # frames per validation video for calibration and threshold (0: all)
    epochs: int = 6
    batch_size: int = 32  # ~100 optimiser steps per CNN fit at the default sizes
    target_fpr: float = 0.05  # the operating point: false positives on each kind of validation real and group
    n_boot: int = 300  # cluster-bootstrap draws per interval
    pretrained: tuple[tuple[str, str], ...] = ()  # (timm name, weights file): ImageNet weights of that backbone
    input_size: int = 0  # side a timm backbone sees (0: its own default, timm's data config)
    hard_negatives: bool = False  # train and threshold beside resampled, re-encoded copies of the reals
    calibrate_only: tuple[str, ...] = ("photo",)  # settings whose faces only set a threshold (the photos')
    val_copies: int = 3  # with hard_negatives: resampled copies of each validation real, each its own draw


def pretrained_file(name: str, cfg: ProtocolConfig) -> str | None:
    """The weights file given for detector ``name``'s backbone (``probe:resnet50`` -> resnet50's), or None."""
    backbone = name.split(":", 1)[1] if name.startswith("probe:") else name
    return dict(cfg.pretrained).get(backbone)


def group_folds(groups: np.ndarray, k: int, seed: int, val_share: float) -> list[dict[str, np.ndarray]]:
    """k folds of the unique groups, each {"train", "val", "test"} arrays of group names.

    scikit-learn's GroupKFold, shuffled by ``seed``, picks the test groups (the groups in a
    random order, cut into k near-equal parts: every group tested once, none split); its
    GroupShuffleSplit then holds ``val_share`` of the remaining groups out for validation (at
    least one, never all). Too few groups for k folds to leave each fold a training and a
    validation group (a small --fast study): folds are added rather than a part left empty.
    """
    names = np.unique(groups)
    if len(names) < 3 or k < 2:
        raise ValueError(f"cross-validation needs at least 3 groups and 2 folds; got {len(names)} groups, k = {k}")
    k = _folds_leaving_train_and_val(len(names), k)
    out = []
    for fold, (rest, test) in enumerate(GroupKFold(k, shuffle=True, random_state=seed).split(names, groups=names)):
        train, val = _hold_out_validation(names[rest], val_share, np.random.RandomState([seed, fold]))
        out.append({"train": train, "val": val, "test": names[test]})
    return out


def _folds_leaving_train_and_val(n_groups: int, k: int) -> int:
    """The fewest folds, at least ``k`` (at most one per group), whose largest test part
    (ceil(n/k) groups) leaves two groups outside it: one to train on, one to validate on."""
    k = min(k, n_groups)
    while -(-n_groups // k) > n_groups - 2:
        k += 1
    return k


def _hold_out_validation(rest: np.ndarray, val_share: float, random_state) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) group names: ``val_share`` of ``rest`` drawn for validation, rounded, at
    least 1 and at most all but one."""
    n_val = min(max(1, int(round(val_share * len(rest)))), len(rest) - 1)
    train, val = next(GroupShuffleSplit(1, test_size=n_val, random_state=random_state).split(rest, groups=rest))
    return rest[train], rest[val]


def spread_frames(faces: FaceSet, per_video: int) -> FaceSet:
    """``per_video`` frames of each video, evenly spread (0: all)."""
    if per_video <= 0:
        return faces
    keep = []
    for video in np.unique(faces.videos):
        rows = np.flatnonzero(faces.videos == video)
        keep.append(rows[np.unique(np.linspace(0, len(rows) - 1, per_video).round().astype(int))])
    return faces.subset(np.sort(np.concatenate(keep)))


def fit_detector(name: str, train: FaceSet, val: FaceSet, cfg: ProtocolConfig, seed: int, progress: bool = False):
    """A detector trained on ``train``, calibrated and thresholded on ``val`` (``cfg.val_frames``
    spread frames per video: neighbouring frames of one video add little but time). With
    ``cfg.hard_negatives`` both sets gain resampled, re-encoded copies of their reals, labelled
    real (:func:`detector.augment.resampled_reals`). Faces whose setting is in
    ``cfg.calibrate_only`` (the real photos) move from ``train`` to ``val``: they set the
    threshold for photos, ``det.photo_threshold``, and train nothing; ``det.threshold`` is the
    video frames' (both by :func:`detector.metrics.threshold_by_domain`, on each kind of real and
    each group)."""
    det = models.create(name, image_size=train.images.shape[1], input_size=cfg.input_size,
                        pretrained_file=pretrained_file(name, cfg))
    val = spread_frames(val, cfg.val_frames)
    aside = np.isin(train.settings, cfg.calibrate_only)
    if aside.any():  # a few real photos teach a detector little but its threshold needs them all
        train, val = train.subset(~aside), FaceSet.concat([val, train.subset(aside)])
    if cfg.hard_negatives:
        from .augment import resampled_reals

        rng = np.random.default_rng(seed)
        train = FaceSet.concat([train, resampled_reals(train.subset(train.labels == 0), rng)])
        reals = val.subset(val.labels == 0)  # the threshold must hold over the chains, not over one draw of them
        val = FaceSet.concat([val] + [resampled_reals(reals, rng) for _ in range(cfg.val_copies)])
    det.fit(spread_frames(train, cfg.train_frames), val, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed,
            progress=progress)
    reals = val.subset(val.labels == 0)
    scores, domains = det.predict_proba(reals.images), real_domains(reals)
    photo = np.isin([d.split("~")[0] for d in domains], cfg.calibrate_only)  # real photos and their copies
    video = ~photo if (~photo).any() else photo
    groups = reals.groups.astype(str)
    det.threshold = threshold_by_domain(scores[video], domains[video], cfg.target_fpr, groups[video])
    det.photo_threshold = (threshold_by_domain(scores[photo], domains[photo], cfg.target_fpr, groups[photo])
                           if photo.any() else None)
    return det


def real_domains(reals: FaceSet) -> np.ndarray:
    """Each real face's kind, for :func:`detector.metrics.threshold_by_domain`: its setting
    ("real" video frames, "photo") and whether it is a resampled copy ("photo~resampled")."""
    resampled = np.char.endswith(reals.videos.astype(str), "~resampled")
    return np.array([f"{s}~resampled" if r else str(s) for s, r in zip(reals.settings, resampled)])


def cross_validate(faces: FaceSet, name: str, cfg: ProtocolConfig, hooks: dict | None = None,
                   keep_models: bool = False, progress: bool = False) -> dict:
    """Grouped k-fold CV × seeds of detector ``name`` on ``faces``.

    hooks: {key: f(det, split) -> value}, called after each fold with the fitted detector and
    its {"train", "val", "test"} FaceSets; values land in that fold's record under ``key``.
    Returns {"oof": {seed: (N,) P(fake)}, "thresholds": {seed: (N,) threshold of the fold that
    scored each image}, "folds": [records], "models": {(seed, fold): detector} if keep_models,
    "fold_of": {seed: {group: fold}}}.
    """
    hooks = hooks or {}
    out = {"oof": {}, "thresholds": {}, "folds": [], "models": {}, "fold_of": {}}
    for seed in cfg.seeds:
        oof, thresholds = np.full(len(faces), np.nan), np.full(len(faces), np.nan)
        out["fold_of"][seed] = {}
        for f, groups in enumerate(group_folds(faces.groups, cfg.folds, seed, cfg.val_share)):
            split = {part: faces.subset(np.isin(faces.groups, g)) for part, g in groups.items()}
            assert_identity_disjoint(split)
            assert not set(np.unique(split["test"].groups)) & set(np.unique(split["train"].groups))
            det = fit_detector(name, split["train"], split["val"], cfg, seed, progress)
            rows = np.isin(faces.groups, groups["test"])
            oof[rows] = det.predict_proba(faces.images[rows])
            thresholds[rows] = models.row_thresholds(det, faces.settings[rows])  # each face at its kind's
            test = split["test"]
            record = {"seed": seed, "fold": f, "threshold": det.threshold, "test_groups": len(groups["test"]),
                      "auc": float(roc_auc_score(test.labels, oof[rows])) if len(np.unique(test.labels)) == 2
                      else float("nan")}
            record.update({key: hook(det, split) for key, hook in hooks.items()})
            out["folds"].append(record)
            out["fold_of"][seed].update({g: f for g in groups["test"]})
            if keep_models:
                out["models"][(seed, f)] = det
            log.info("%s seed %d fold %d: test AUC %.3f", name, seed, f, record["auc"])
        out["oof"][seed], out["thresholds"][seed] = oof, thresholds
    return out


def auc(labels, scores) -> float:
    """ROC AUC as the Mann-Whitney statistic: the chance a fake outscores a real, ties counting
    half (equal to sklearn's ``roc_auc_score``, ~4x faster: the bootstrap calls it thousands of
    times). ValueError with one class (so :func:`cluster_ci` skips that resample)."""
    labels = np.asarray(labels) == 1
    n_fake = int(labels.sum())
    n_real = len(labels) - n_fake
    if n_fake == 0 or n_real == 0:
        raise ValueError("AUC needs both classes")
    ranks = rankdata(np.asarray(scores, np.float64))  # ties get their average rank
    return float((ranks[labels].sum() - n_fake * (n_fake + 1) / 2) / (n_fake * n_real))


def estimate(stat, groups, *arrays, n_boot: int = 300) -> dict:
    """{"value", "ci", "groups"}: a statistic with its cluster-bootstrap interval."""
    try:
        value = float(stat(*arrays))
    except ValueError:
        value = float("nan")
    return {"value": value, "ci": cluster_ci(stat, groups, *arrays, n_boot=n_boot),
            "groups": int(len(np.unique(groups)))}


def mean_sd(values) -> dict:
    """{"mean", "sd", "n"} of the finite values (sd with n - 1)."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    return {"mean": float(values.mean()) if len(values) else float("nan"),
            "sd": float(values.std(ddof=1)) if len(values) > 1 else float("nan"), "n": int(len(values))}
