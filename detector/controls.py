"""Controls: does a detector catch *this generator*, or something cheaper?

Each control is a fold hook for :func:`detector.protocol.cross_validate` (it sees the
fitted detector and that fold's train / val / test faces) and returns plain arrays, so
the report can pool them over folds and put a cluster-bootstrap interval on them. Each
scores ``CONTROL_FRAMES`` evenly spread frames per video.

- ``spectrum``: test reals given the fakes' mean amplitude spectrum (measured on the
  training fold). If AUC falls to 0.5, the detector reads the spectrum and nothing else.
- ``down_up``: both classes halved and enlarged again (a platform's resize).
- ``perturbed``: false positives at the operating threshold on reals that were sharpened,
  noised, upsampled or re-JPEG'd: honest media that is merely processed.
- ``memorisation``: mean P(fake) of reals of training identities vs unseen ones; a gap
  means the detector learnt *who* is real.
- ``no_generator``: the detector's scores of unseen reals against the *same* reals halved and
  enlarged again and written by fsth's video writer (:func:`written_like_a_fake`): no generator
  touched them, so a detector of forgeries gives them AUC 0.5 and no more false positives than
  the reals. The study ships a detector only if this AUC is at most :data:`MAX_AUC` and its
  false-positive rate on both kinds of held-out real faces at most :data:`MAX_FPR`
  (:func:`passes`).
- :func:`upsampling_faces`: reals vs the same reals upsampled, no generator at all; a
  detector trained on that and scored on real-vs-fake tells how much of "detecting fsth"
  is detecting nearest-neighbour upsampling.
"""
from __future__ import annotations

import cv2
import numpy as np

from .data import FaceSet, jpeg, resample, written_like_fsth
from .models import row_thresholds
from .protocol import spread_frames

MAX_AUC = 0.6  # a shipped detector tells reals from resampled, re-encoded reals no better than this
MAX_FPR = 0.10  # ... and calls at most this share of held-out real faces fake, either kind


def _pool(faces: FaceSet, scores: np.ndarray, threshold: np.ndarray | None = None) -> dict:
    """Scores of ``faces`` for pooling across folds; ``threshold``: each face's own (its kind's)."""
    out = {"labels": faces.labels, "scores": scores, "groups": faces.groups}
    if threshold is not None:
        out["threshold"] = threshold
    return out


def amplitude(images: np.ndarray) -> np.ndarray:
    """Mean 2-D amplitude spectrum per colour channel: (S, S, 3)."""
    return np.abs(np.fft.fft2(images.astype(np.float64), axes=(1, 2))).mean(0)


def match_spectrum(images: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Give ``images`` the amplitude spectrum ``target`` in place of ``source`` (phases kept):
    every frequency is scaled by target / source. uint8 (N, S, S, 3) in and out."""
    gain = target / np.maximum(source, 1e-6)
    spectrum = np.fft.fft2(images.astype(np.float64), axes=(1, 2)) * gain[None]
    return np.clip(np.fft.ifft2(spectrum, axes=(1, 2)).real, 0, 255).round().astype(np.uint8)


def down_up(images: np.ndarray, factor: int = 2, up=cv2.INTER_LINEAR) -> np.ndarray:
    """Halve (area) and enlarge back (``up`` interpolation): uint8 (N, S, S, 3) in and out."""
    s = images.shape[1]
    return np.stack([cv2.resize(cv2.resize(i, (s // factor, s // factor), interpolation=cv2.INTER_AREA), (s, s),
                                interpolation=up) for i in images])


def sharpen(images: np.ndarray) -> np.ndarray:
    """Unsharp mask (amount 1, sigma 1)."""
    f = images.astype(np.float32)
    blur = np.stack([cv2.GaussianBlur(i, (0, 0), 1.0) for i in f])
    return np.clip(2 * f - blur, 0, 255).round().astype(np.uint8)


def noise(images: np.ndarray, sigma: float = 4.0, seed: int = 0) -> np.ndarray:
    """Additive Gaussian sensor-like noise (sigma in grey levels)."""
    rng = np.random.default_rng(seed)
    return np.clip(images + rng.normal(0, sigma, images.shape), 0, 255).round().astype(np.uint8)


PERTURBATIONS = {
    "sharpened": sharpen,
    "noised σ=4": noise,
    "upsampled ×2 (bicubic)": lambda x: down_up(x, 2, cv2.INTER_CUBIC),
    "JPEG q50": lambda x: jpeg(x, 50),
}


CONTROL_FRAMES = 4  # frames per video every control scores, evenly spread (neighbouring frames add little)
MEMORISATION_FRAMES = 2  # ... and the memorisation check (a mean P(fake) per part, over every real video)


def _sample(faces: FaceSet, per_video: int = CONTROL_FRAMES) -> FaceSet:
    return spread_frames(faces, per_video)


def spectrum(det, split: dict) -> dict:
    train, test = split["train"], _sample(split["test"])
    real, fake = train.images[train.labels == 0], train.images[train.labels == 1]
    matched = test.images.copy()
    rows = test.labels == 0
    matched[rows] = match_spectrum(test.images[rows], amplitude(real), amplitude(fake))
    return _pool(test, det.predict_proba(matched))


def down_up_hook(det, split: dict) -> dict:
    test = _sample(split["test"])
    return _pool(test, det.predict_proba(down_up(test.images)))


def perturbed(det, split: dict) -> dict:
    reals = _sample(split["test"].subset(split["test"].labels == 0))
    return {name: _pool(reals, det.predict_proba(fn(reals.images)), row_thresholds(det, reals.settings))
            for name, fn in PERTURBATIONS.items()}


def memorisation(det, split: dict) -> dict:
    """Mean P(fake) of the reals of each part: training identities, validation, unseen (test)."""
    return {part: float(det.predict_proba(_sample(faces.subset(faces.labels == 0), MEMORISATION_FRAMES).images).mean())
            for part, faces in split.items()}


def written_like_a_fake(faces: FaceSet, crf: int = 18) -> np.ndarray:
    """Real faces processed the way fsth's fakes are, with no generator: each image halved and
    enlarged back (area down, bicubic up: a generator's working resolution and its upsampling),
    each video written as H.264 at ``crf`` by fsth's video writer, then the study's JPEG q95."""
    side = faces.images.shape[1]
    return jpeg(written_like_fsth(resample(faces.images, max(4, side // 2), side), faces.videos, crf), 95)


NO_GENERATOR = ("unseen reals vs the same reals halved and enlarged (bicubic), written as H.264 CRF 18 by fsth's "
                "video writer and JPEG q95 again")


def no_generator(det, split: dict, crf: int = 18) -> dict:
    """The test reals (label 0) and the same reals :func:`written_like_a_fake` (label 1), scored
    by the fold's detector, with its threshold."""
    reals = split["test"].subset(split["test"].labels == 0)
    processed = reals.with_images(written_like_a_fake(reals, crf))
    reals, processed = _sample(reals), _sample(processed)
    both = FaceSet.concat([reals, FaceSet(processed.images, np.ones(len(processed), int), processed.identities,
                                          processed.videos, processed.settings, processed.groups)])
    return _pool(both, det.predict_proba(both.images), row_thresholds(det, both.settings))


def passes(summary: dict) -> tuple[bool, str]:
    """Whether a detector may be shipped, and why (not): its no-generator control AUC (pooled out
    of fold) at most :data:`MAX_AUC` and its false-positive rate (mean over folds) on held-out
    reals and on the processed reals each at most :data:`MAX_FPR` — and, so that a detector
    which sees nothing at all (and so passes the control) is not shipped either, an out-of-fold
    AUC whose interval lies above 0.5."""
    control = summary.get("no_generator")
    if not control:
        return False, "the no-generator control was not run"
    value, fprs = control["auc"]["value"], {k: control[k]["mean"] for k in ("fpr_real", "fpr_processed")}
    problems = []
    low = summary.get("auc", {}).get("ci", [float("nan")])[0]
    if not low > 0.5:
        problems.append(f"it does not detect the fakes (out-of-fold AUC {summary['auc']['value']:.2f}, interval "
                        f"down to {low:.2f})")
    if not value <= MAX_AUC:
        problems.append(f"it tells reals from resampled, re-encoded reals (no-generator AUC {value:.2f} > {MAX_AUC})")
    for key, what in (("fpr_real", "held-out reals"), ("fpr_processed", "resampled, re-encoded held-out reals")):
        if not fprs[key] <= MAX_FPR:
            problems.append(f"it calls {fprs[key]:.0%} of {what} fake (> {MAX_FPR:.0%})")
    if problems:
        return False, "; ".join(problems)
    return True, (f"no-generator AUC {value:.2f} <= {MAX_AUC}, false positives {fprs['fpr_real']:.0%} on held-out "
                  "reals "
                  f"and {fprs['fpr_processed']:.0%} on resampled, re-encoded ones (<= {MAX_FPR:.0%})")


HOOKS = {"spectrum": spectrum, "down_up": down_up_hook, "perturbed": perturbed, "memorisation": memorisation,
         "no_generator": no_generator}


def upsampling_faces(faces: FaceSet) -> FaceSet:
    """The generator-free task: every real video (label 0) and the same video halved and
    enlarged by nearest neighbour (label 1, setting "upsampled-real"), in the same group."""
    reals = faces.subset(faces.labels == 0)
    fake = FaceSet(down_up(reals.images, 2, cv2.INTER_NEAREST), np.ones(len(reals), int), reals.identities,
                   np.char.add(reals.videos.astype(str), "/upsampled"), np.full(len(reals), "upsampled-real"),
                   reals.groups)
    return FaceSet.concat([reals, fake])


def scored_on(faces: FaceSet):
    """A hook scoring the *real-vs-fake* faces of the fold's test groups (for detectors that
    were trained on some other task, as in :func:`upsampling_faces`)."""

    def hook(det, split: dict) -> dict:
        test = faces.subset(np.isin(faces.groups, np.unique(split["test"].groups)))
        return _pool(test, det.predict_proba(test.images))

    return hook
