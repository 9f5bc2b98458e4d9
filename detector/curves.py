"""Curves: what makes fakes harder to catch, next to how good they are.

- :func:`quality_fakes` re-makes the fakes of some SynthHeads pairs with other recipes
  (K shots, fine-tuning steps), every identity self-reenacted so each fake has its real
  twin: SSIM to the real window and dlib's same-person verdict (fsth.metrics.verified), both
  measured on the rendered frames; the faces kept go through the study's processing.
- :func:`score_out_of_fold` scores any faces of the study's groups with the detector of the
  fold that held that group out (seed 0): no detector ever scores a person it trained on.
- :func:`recipe_rows`: per recipe, AUC (reals of those groups vs its fakes), SSIM and
  identity score, each with a cluster-bootstrap interval.
- :func:`matrix`: train on one condition / generator, test on each other one (grouped CV).
"""
from __future__ import annotations

import numpy as np

from .data import FaceSet
from .controls import CONTROL_FRAMES
from .protocol import ProtocolConfig, auc, cross_validate, estimate, spread_frames
from .sources import SourceConfig, VideoCollector, processing, synth_person


def quality_fakes(model, cfg: SourceConfig, pairs: int, recipes: list[tuple[str, int, int]], embedder=None,
                  id_frames: int = 4, progress: bool = True) -> tuple[FaceSet, list[dict]]:
    """Self-reenacted fakes of the first identity of each of the first ``pairs`` pairs, for
    each (label, K, steps) recipe: one identity per pair, so every fine-tuning run adds a
    group (an independent unit of the bootstrap). Rows carry ``ssim`` (mean over the window)
    and ``verified`` (share of ``id_frames`` frames dlib calls the same person as the real
    frame; None without an embedder)."""
    from tqdm.auto import tqdm

    from fsth.metrics import ssim, verified
    from fsth import fine_tuned_heads

    process = processing(model, cfg)
    size = process.size
    out = VideoCollector(process)
    for j in tqdm(range(pairs), desc="curve fakes", disable=not progress):
        index = 2 * j  # the pair's first identity (self-reenacted in the main set too)
        frames, landmarks, _ = synth_person(cfg.seed, index, cfg.pool + cfg.window, size)
        real, points = frames[cfg.pool:], landmarks[cfg.pool:]
        pick = np.linspace(0, len(real) - 1, id_frames).round().astype(int)
        real_id = embedder(real[pick], points[pick]) if embedder is not None else None
        name = f"s{cfg.seed}-{index:04d}"
        renders = {}  # {(K, steps): the fake window}
        for k in dict.fromkeys(k for _, k, _ in recipes):  # one fine-tuning run per K, a snapshot per recipe
            wanted = tuple(sorted({steps for _, kk, steps in recipes if kk == k}))
            fine_tuned_heads(model, frames[:cfg.pool], landmarks[:cfg.pool], k, wanted, j,
                             lambda steps, head, k=k: renders.update({(k, steps): head.render(points)}))
        for label, k, steps in recipes:
            fake = renders[(k, steps)]
            same = float(verified(embedder(fake[pick], points[pick]), real_id).mean()) if embedder is not None else None
            out.add(fake, 1, name, f"{name}/{label}", label, f"pair{j:03d}", ssim=float(ssim(fake, real).mean()),
                    verified=same, k=k, steps=steps)
    return out.faceset(), out.rows


def score_out_of_fold(cv: dict, faces: FaceSet, seed: int = 0) -> np.ndarray:
    """P(fake) of every image, by the seed-``seed`` detector whose test fold held its group."""
    scores = np.full(len(faces), np.nan)
    fold_of = cv["fold_of"][seed]
    for group in np.unique(faces.groups):
        rows = faces.groups == group
        scores[rows] = cv["models"][(seed, fold_of[group])].predict_proba(faces.images[rows])
    return scores


def recipe_rows(cv: dict, reals: FaceSet, fakes: FaceSet, rows: list[dict], n_boot: int) -> dict:
    """Per recipe label: AUC of these groups' reals vs its fakes, mean SSIM and identity score."""
    groups = np.unique(fakes.groups)
    reals = reals.subset(np.isin(reals.groups, groups) & (reals.labels == 0))
    real_scores = score_out_of_fold(cv, reals)
    fake_scores = score_out_of_fold(cv, fakes)
    out = {}
    for label in dict.fromkeys(fakes.settings):
        m = fakes.settings == label
        labels = np.r_[np.zeros(len(reals)), np.ones(m.sum())]
        scores = np.r_[real_scores, fake_scores[m]]
        group = np.r_[reals.groups, fakes.groups[m]]
        facts = [r for r in rows if r["setting"] == label]
        vid_groups = np.array([r["group"] for r in facts])
        out[label] = {"auc": estimate(auc, group, labels, scores, n_boot=n_boot),
                      "ssim": estimate(np.mean, vid_groups, np.array([r["ssim"] for r in facts]), n_boot=n_boot)}
        if facts and facts[0]["verified"] is not None:
            out[label]["verified"] = estimate(np.mean, vid_groups, np.array([r["verified"] for r in facts]),
                                              n_boot=n_boot)
    return out


def pooled(records: list[dict], key: str, seed: int = 0, sub: str | None = None) -> dict:
    """Concatenate a hook's {"labels", "scores", "groups"} over the folds of one seed."""
    parts = [r[key] if sub is None else r[key][sub] for r in records if r["seed"] == seed]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("labels", "scores", "groups")}


def matrix(name: str, train_sets: dict[str, FaceSet], test_sets: dict[str, FaceSet], cfg: ProtocolConfig,
           test_frames: int = CONTROL_FRAMES, progress: bool = False) -> dict:
    """AUC[trained on][tested on] under grouped CV (seed cfg.seeds[0]): each row trains on
    ``train_sets[row]``; each fold's detector scores the same test groups in every
    ``test_sets[col]`` (rows aligned with the training set's groups), ``test_frames`` evenly
    spread frames per video (0: all)."""
    table = {}
    for row, faces in train_sets.items():
        def hook(det, split, _sets=test_sets):
            groups = np.unique(split["test"].groups)
            out = {}
            for col, test in _sets.items():
                t = spread_frames(test.subset(np.isin(test.groups, groups)), test_frames)
                out[col] = {"labels": t.labels, "scores": det.predict_proba(t.images), "groups": t.groups}
            return out

        cv = cross_validate(faces, name, ProtocolConfig(**{**cfg.__dict__, "seeds": cfg.seeds[:1]}),
                            hooks={"m": hook}, progress=progress)
        table[row] = {}
        for col in test_sets:
            p = pooled(cv["folds"], "m", cfg.seeds[0], col)
            per_fold = [auc(r["m"][col]["labels"], r["m"][col]["scores"]) for r in cv["folds"]]
            table[row][col] = {**estimate(auc, p["groups"], p["labels"], p["scores"], n_boot=cfg.n_boot),
                               "folds": per_fold}
    return table
