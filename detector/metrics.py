"""Detection metrics for every detector: one entry point, ``summarize``.

Scores are probabilities that an image is fake; label 1 = fake. Confidence intervals
resample *groups* (identities), not frames: frames of one person are not independent.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

from fsth.metrics import eer, fit_temperature  # noqa: F401  (the course checks learners against these too)

METRICS = ("auc", "ap", "eer", "acc", "tpr_at_1fpr", "brier", "ece")


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, target: float = 0.01) -> float:
    """Highest true-positive rate with a false-positive rate of at most ``target``. Every ROC
    point is kept (``drop_intermediate=False``): with tied scores the dropped "collinear" points
    can be exactly the ones at the target rate."""
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(tpr[fpr <= target].max())


def _calibration_bins(outcomes: np.ndarray, probabilities: np.ndarray, bins: int) -> tuple:
    """scikit-learn's ``calibration_curve`` (``bins`` equal-width bins of [0, 1]): per non-empty
    bin the observed rate of ``outcomes``, the mean probability and the number of samples.
    The counts bin as ``calibration_curve`` does (a value on an inner edge joins the lower bin)."""
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(outcomes, probabilities, n_bins=bins, strategy="uniform")
    which = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], probabilities)
    counts = np.bincount(which, minlength=bins)
    return observed, predicted, counts[counts > 0]


def ece(labels: np.ndarray, scores: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of P(fake): |accuracy − confidence| averaged over ``bins``
    equal-width confidence bins of [0.5, 1], weighted by their share of samples."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    predicted = (scores >= 0.5).astype(int)
    confidence = np.where(predicted == 1, scores, 1 - scores)  # >= 0.5: the upper half of 2·bins bins
    accuracy, mean_confidence, counts = _calibration_bins((predicted == labels).astype(int), confidence, 2 * bins)
    return float(np.sum(counts / len(scores) * np.abs(accuracy - mean_confidence)))


def reliability(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict:
    """Per-bin mean predicted P(fake), observed fake fraction and count (non-empty bins of
    ``bins`` equal-width ones), for a reliability diagram; plain floats, ready for JSON."""
    observed, predicted, counts = _calibration_bins(np.asarray(labels), np.asarray(scores, np.float64), bins)
    return {"predicted": predicted.tolist(), "observed": observed.tolist(), "count": counts.tolist()}


def _point(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Every metric of :data:`METRICS` at once; ValueError with one class (see :func:`cluster_ci`)."""
    if len(np.unique(labels)) < 2:
        raise ValueError("the metrics need both classes")
    return {"auc": float(roc_auc_score(labels, scores)), "ap": float(average_precision_score(labels, scores)),
            "eer": eer(labels, scores), "acc": float(((scores >= 0.5) == labels).mean()),
            "tpr_at_1fpr": tpr_at_fpr(labels, scores, 0.01), "brier": float(brier_score_loss(labels, scores)),
            "ece": ece(labels, scores)}


def summarize(labels, scores, groups=None, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """AUC, AP, EER, accuracy at 0.5, TPR at 1 % FPR, Brier score and ECE of P(fake) scores.

    groups: one id per sample (e.g. the identity): adds ``ci`` with bootstrap confidence
    intervals that resample whole groups.
    """
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, np.float64)
    if labels.shape != scores.shape or labels.ndim != 1:
        raise ValueError(f"labels and scores must be equal-length vectors, got {labels.shape} and {scores.shape}")
    if set(np.unique(labels)) != {0, 1}:
        raise ValueError("labels must contain both classes, 0 (real) and 1 (fake)")
    if scores.min() < 0 or scores.max() > 1:
        raise ValueError("scores must be probabilities of 'fake' in [0, 1]")
    out = _point(labels, scores)
    out["n"] = int(len(labels))
    if groups is not None:
        out["ci"] = cluster_ci(_point, groups, labels, scores, n_boot=n_boot, seed=seed, level=level)
        out["groups"] = int(len(np.unique(groups)))
    return out


def cluster_ci(stat, groups, *arrays, n_boot: int = 300, seed: int = 0, level: float = 0.95):
    """Percentile interval of ``stat(*arrays)`` over ``n_boot`` bootstrap resamples of whole
    groups (frames of one person are not independent, so people are resampled, not frames).

    ``stat`` returns a number: [low, high]; or a dict of numbers: {key: [low, high]} (keys with
    no finite draw left out). Resamples where it raises ValueError (e.g. one class only) and
    non-finite values are skipped; [nan, nan] when nothing is left."""
    draws = _group_bootstrap(stat, groups, arrays, n_boot, seed)
    bounds = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)
    if draws and isinstance(draws[0], dict):
        by_key = {k: [d[k] for d in draws if np.isfinite(d[k])] for k in draws[0]}
        return {k: [float(b) for b in np.percentile(v, bounds)] for k, v in by_key.items() if v}
    finite = [d for d in draws if np.isfinite(d)]
    return [float(b) for b in np.percentile(finite, bounds)] if finite else [float("nan"), float("nan")]


def _group_bootstrap(stat, groups, arrays: tuple, n_boot: int, seed: int) -> list:
    """``stat`` of each of ``n_boot`` resamples (whole groups drawn with replacement, as many as
    there are groups); resamples where it raises ValueError are left out."""
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(len(names))]
    arrays = [np.asarray(a) for a in arrays]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        pick = np.concatenate([members[i] for i in rng.integers(len(members), size=len(members))])
        try:
            draws.append(stat(*(a[pick] for a in arrays)))
        except ValueError:
            continue
    return draws


def video_scores(scores, videos) -> tuple[np.ndarray, np.ndarray]:
    """Video-level scores: the mean frame score per video. Returns (video ids, scores)."""
    videos, scores = np.asarray(videos), np.asarray(scores, np.float64)
    names = np.unique(videos)
    return names, np.array([scores[videos == v].mean() for v in names])


TEMPERATURE_RANGE = (0.25, 4.0)  # calibration may soften or sharpen a detector's scores this much, no more


def fit_bounded_temperature(logits, labels, bounds: tuple[float, float] = TEMPERATURE_RANGE) -> float:
    """The temperature T in ``bounds`` minimising the validation NLL of sigmoid(logit / T).

    Unbounded, a few separable validation identities drive T towards 0 (the shipped CNN of
    the first study had T = 0.07 and an operating threshold of 3e-5): every score becomes 0 or
    1, and the threshold, the ECE and the reliability plot say nothing. The bound keeps the
    scores graded; the ranking (AUC, AP) is unchanged either way."""
    from scipy.optimize import minimize_scalar

    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def nll(log_t):
        z = logits / np.exp(log_t)
        return np.mean(np.logaddexp(0, z) - labels * z)

    low, high = np.log(bounds[0]), np.log(bounds[1])
    return float(np.exp(minimize_scalar(nll, bounds=(low, high), method="bounded").x))


def fit_platt(logits, labels, slope: tuple[float, float] = (1 / TEMPERATURE_RANGE[1], 1 / TEMPERATURE_RANGE[0])
              ) -> tuple[float, float]:
    """Platt scaling (a, b): P(fake) = sigmoid(a·logit + b), by maximum likelihood on validation
    identities, the slope ``a`` kept in ``slope`` (a = 1 / temperature: the same bound as
    :func:`fit_bounded_temperature`, for the same reason)."""
    from scipy.optimize import minimize
    from scipy.special import expit

    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def nll(ab):
        t = ab[0] * z + ab[1]
        return np.mean(np.logaddexp(0, t) - y * t)

    def grad(ab):
        residual = expit(ab[0] * z + ab[1]) - y
        return np.array([np.mean(residual * z), np.mean(residual)])

    fit = minimize(nll, np.array([1.0, 0.0]), jac=grad, method="L-BFGS-B", bounds=[slope, (None, None)],
                   options={"gtol": 1e-12, "ftol": 1e-15})
    return float(fit.x[0]), float(fit.x[1])


def threshold_at_fpr(real_scores, target: float = 0.05) -> float:
    """The operating threshold: images with P(fake) > t are called fake, and t is the
    smallest score that keeps the false-positive rate on these reals at or below ``target``."""
    return float(np.quantile(np.asarray(real_scores, np.float64), 1 - target, method="higher"))


def threshold_by_domain(real_scores, domains, target: float = 0.05, groups=None) -> float:
    """:func:`threshold_at_fpr` that holds on every kind of real face at once: the highest of the
    per-domain thresholds (``domains``: one label per score, e.g. "real", "photo",
    "photo~resampled"). A pooled threshold lets a small domain — a handful of real photos among
    hundreds of video frames — be called fake at any rate; this one keeps each at or below ``target``.
    With ``groups`` (the identity or photo of each score) it holds for every group of every domain:
    frames of one person are alike, so a rate met on the pool of a few validation people is
    missed on new people (out of fold, 5 % on validation frames came out as 6–11 %)."""
    real_scores, domains = np.asarray(real_scores, np.float64), np.asarray(domains)
    cells = domains if groups is None else np.char.add(np.char.add(domains.astype(str), "|"),
                                                       np.asarray(groups).astype(str))
    return max(threshold_at_fpr(real_scores[cells == c], target) for c in np.unique(cells))
