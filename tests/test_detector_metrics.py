import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, average_precision_score, brier_score_loss

from detector.metrics import ece, eer, fit_temperature, summarize, tpr_at_fpr, video_scores


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    scores = np.clip(np.where(labels == 1, rng.normal(0.7, 0.15, 400), rng.normal(0.35, 0.15, 400)), 0, 1)
    return labels, scores, np.repeat(np.arange(40), 10)


def test_summary_matches_scikit_learn(data):
    labels, scores, _ = data
    s = summarize(labels, scores)
    assert set(s) >= {"auc", "ap", "eer", "acc", "tpr_at_1fpr", "brier", "ece"}
    assert s["auc"] == pytest.approx(roc_auc_score(labels, scores))
    assert s["ap"] == pytest.approx(average_precision_score(labels, scores))
    assert s["brier"] == pytest.approx(brier_score_loss(labels, scores))
    assert s["acc"] == pytest.approx(((scores >= 0.5) == labels).mean())


def test_hand_computed_cases():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    perfect = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    assert eer(labels, perfect) == 0 and tpr_at_fpr(labels, perfect) == 1
    # one real scored above every fake: at FPR 0 nothing is caught; EER 1/4
    swapped = np.array([0.1, 0.2, 0.3, 0.95, 0.6, 0.7, 0.8, 0.9])
    assert tpr_at_fpr(labels, swapped, 0.01) == 0
    assert eer(labels, swapped) == pytest.approx(0.25)
    # calibrated-by-construction: confidence 0.75 right 3 times in 4 -> ECE 0
    assert ece(np.array([1, 1, 1, 0]), np.full(4, 0.75)) == pytest.approx(0)
    assert ece(np.array([1, 1, 1, 1]), np.full(4, 0.75)) == pytest.approx(0.25)


def test_bootstrap_intervals_resample_groups(data):
    labels, scores, groups = data
    s = summarize(labels, scores, groups=groups, n_boot=200)
    assert s["groups"] == 40
    low, high = s["ci"]["auc"]
    assert low < s["auc"] < high and high - low < 0.2


def test_bad_inputs():
    with pytest.raises(ValueError, match="both classes"):
        summarize([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="probabilities"):
        summarize([0, 1], [-2.0, 3.0])


def test_video_level_and_temperature():
    ids, vs = video_scores([0.2, 0.4, 0.9, 0.7], ["a", "a", "b", "b"])
    assert ids.tolist() == ["a", "b"] and vs.tolist() == pytest.approx([0.3, 0.8])
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, 5000)  # calibrated: P(fake) = sigmoid(logit)
    labels = (rng.random(5000) < 1 / (1 + np.exp(-logits))).astype(int)
    assert fit_temperature(logits * 3, labels) == pytest.approx(3, rel=0.15)  # overconfident x3


def test_reliability_bins_are_plain_floats():
    import json

    from detector.metrics import reliability

    r = reliability(np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.7, 0.3], np.float32))
    json.dumps(r)  # float32 scores (timm detectors) must still serialise
    assert r["count"] == [1, 1, 1, 1] and r["observed"] == [0.0, 0.0, 1.0, 1.0]


def test_tpr_at_fpr_keeps_every_roc_point_with_tied_scores():
    """Scores rounded to 0.1 (many ties): compare with a sweep over every threshold."""
    rng = np.random.default_rng(37)
    labels = np.r_[np.zeros(100), np.ones(57)].astype(int)
    scores = np.round(rng.normal(labels * 1.0, 1.0), 1)

    def by_sweep(target):
        rates = [((scores[labels == 0] >= t).mean(), (scores[labels == 1] >= t).mean()) for t in np.unique(scores)]
        return max([tpr for fpr, tpr in rates if fpr <= target], default=0.0)

    for target in (0.01, 0.05, 0.1):
        assert tpr_at_fpr(labels, scores, target) == pytest.approx(by_sweep(target))
    assert tpr_at_fpr(labels, scores, 0.01) == pytest.approx(6 / 57)  # drop_intermediate=True gave 5/57
