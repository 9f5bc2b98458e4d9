"""Detection metrics for every detector: one entry point, ``summarize``.

Scores are probabilities that an image is fake; label 1 = fake. Confidence intervals
resample *groups* (identities), not frames: frames of one person are not independent.
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score, roc_curve

METRICS = ("auc", "ap", "eer", "acc", "tpr_at_1fpr", "brier", "ece")


def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: where the false-positive rate equals the false-negative rate."""
    fpr, tpr, _ = roc_curve(labels, scores)
    gap = (1 - tpr) - fpr  # falls from +1 (threshold above all) to -1
    j = int(np.argmax(gap <= 0))  # first ROC point where FNR <= FPR
    if j == 0:
        return float(fpr[0])
    t = gap[j - 1] / (gap[j - 1] - gap[j])  # linear interpolation to the crossing
    return float(fpr[j - 1] + t * (fpr[j] - fpr[j - 1]))


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, target: float = 0.01) -> float:
    """Highest true-positive rate with a false-positive rate of at most ``target``. Every ROC
    point is kept (``drop_intermediate=False``): with tied scores the dropped "collinear" points
    can be exactly the ones at the target rate."""
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return float(tpr[fpr <= target].max())


def ece(labels: np.ndarray, scores: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of P(fake): |accuracy − confidence| averaged over
    equal-width confidence bins, weighted by their share of samples."""
    labels, scores = np.asarray(labels), np.asarray(scores, np.float64)
    predicted = (scores >= 0.5).astype(int)
    confidence = np.where(predicted == 1, scores, 1 - scores)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs((predicted[mask] == labels[mask]).mean() - confidence[mask].mean())
    return float(total)


def reliability(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> dict:
    """Per-bin mean predicted P(fake) and observed fake fraction, for a reliability diagram."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    rows = [(float(scores[which == b].mean()), float(labels[which == b].mean()), int((which == b).sum()))
            for b in range(bins) if (which == b).any()]
    return {"predicted": [r[0] for r in rows], "observed": [r[1] for r in rows], "count": [r[2] for r in rows]}


def _point(labels: np.ndarray, scores: np.ndarray) -> dict:
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
        groups = np.asarray(groups)
        names = np.unique(groups)
        members = [np.flatnonzero(groups == g) for g in names]
        rng = np.random.default_rng(seed)
        draws = {k: [] for k in METRICS}
        for _ in range(n_boot):
            pick = np.concatenate([members[i] for i in rng.integers(len(members), size=len(members))])
            if len(np.unique(labels[pick])) < 2:
                continue
            for k, v in _point(labels[pick], scores[pick]).items():
                draws[k].append(v)
        low, high = (1 - level) / 2 * 100, (1 + level) / 2 * 100
        out["ci"] = {k: [float(np.percentile(v, low)), float(np.percentile(v, high))] for k, v in draws.items() if v}
        out["groups"] = int(len(names))
    return out


def video_scores(scores, videos) -> tuple[np.ndarray, np.ndarray]:
    """Video-level scores: the mean frame score per video. Returns (video ids, scores)."""
    videos, scores = np.asarray(videos), np.asarray(scores, np.float64)
    names = np.unique(videos)
    return names, np.array([scores[videos == v].mean() for v in names])


def fit_temperature(logits, labels) -> float:
    """Temperature T minimising the validation NLL of sigmoid(logit / T) (fit on validation only)."""
    from scipy.optimize import minimize_scalar

    logits, labels = np.asarray(logits, np.float64), np.asarray(labels, np.float64)

    def nll(log_t):
        z = logits / np.exp(log_t)
        return np.mean(np.logaddexp(0, z) - labels * z)

    return float(np.exp(minimize_scalar(nll, bounds=(-5, 5), method="bounded").x))


def fit_platt(logits, labels) -> tuple[float, float]:
    """Platt scaling (a, b): P(fake) = sigmoid(a·logit + b), by maximum likelihood on
    validation identities (scikit-learn's logistic regression on the one feature, no penalty)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(logits, np.float64)[:, None], np.asarray(labels))
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def threshold_at_fpr(real_scores, target: float = 0.05) -> float:
    """The operating threshold: images with P(fake) > t are called fake, and t is the
    smallest score that keeps the false-positive rate on these reals at or below ``target``."""
    return float(np.quantile(np.asarray(real_scores, np.float64), 1 - target, method="higher"))
