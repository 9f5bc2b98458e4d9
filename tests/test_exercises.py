"""The course's self-checks: each passes its solution, fails a typical wrong answer with a
useful message, reports (never raises) a crash in the learner's code, and raises on misuse."""
import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fsth import exercises
from teachers import solutions
from fsth.landmarks.parts import PART_COLORS, PARTS

# --- typical wrong answers ------------------------------------------------------------


def to_tensor_0_1(images):
    return torch.from_numpy(images).float().div(255).movedim(-1, -3)


def landmark_image_bgr(points, size):
    return solutions.landmark_image(points, size)[..., ::-1].copy()


def landmark_image_open_eyes(points, size):
    canvas = np.zeros((size, size, 3), np.uint8)
    fixed = np.round(points * 16).astype(np.int32)
    for part, (start, stop, closed) in PARTS.items():
        cv2.polylines(canvas, [fixed[start:stop]], closed and "eye" not in part, PART_COLORS[part],
                      max(1, round(size / 128)), cv2.LINE_AA, 4)
    return canvas


def landmark_image_one_colour(points, size):
    return np.repeat(solutions.landmark_image(points, size).max(axis=2, keepdims=True), 3, axis=2)


def episode_with_collisions(num_frames, k, seed):
    rng = np.random.default_rng(seed)
    return rng.choice(num_frames, k, replace=False), int(rng.integers(num_frames))


def episode_fixed_target(num_frames, k, seed):
    return np.arange(k), num_frames - 1


def episode_unseeded(num_frames, k, seed):
    chosen = np.random.default_rng().choice(num_frames, k + 1, replace=False)
    return chosen[:-1], int(chosen[-1])


class ResBlockDownMaxPool(solutions.ResBlockDown):
    def forward(self, x):
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        return F.max_pool2d(h, 2) + self.skip(F.max_pool2d(x, 2))


class ResBlockDownNoPreactivation(solutions.ResBlockDown):
    def forward(self, x):
        h = self.conv2(F.relu(self.conv1(x)))
        return F.avg_pool2d(h, 2) + self.skip(F.avg_pool2d(x, 2))


class ResBlockDownUnnamed(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.AvgPool2d(2))

    def forward(self, x):
        return self.layers(x)


def embed_average_of_images(embedder, frames, landmarks):
    return embedder(frames.mean(1), landmarks.mean(1))


def adain_unbiased(x, psi):
    scale, bias = psi[:, :, None, None].chunk(2, dim=1)
    return (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True) + 1e-5) * scale + bias


def adain_batch_statistics(x, psi):
    scale, bias = psi[:, :, None, None].chunk(2, dim=1)
    mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + 1e-5) * scale + bias


def hinge_with_sigmoid(real, fake):
    return F.relu(1 - torch.sigmoid(real)).mean() + F.relu(1 + torch.sigmoid(fake)).mean()


def feature_matching_l2(fake, real):
    return sum(F.mse_loss(f, r.detach()) for f, r in zip(fake, real))


def feature_matching_not_detached(fake, real):
    return sum((f - r).abs().mean() for f, r in zip(fake, real))


def embedding_match_sum(w, e):
    return (w - e).abs().sum()


def personalize_without_w0(model, e_hat):
    return model.generator.projection(e_hat[None])[0], e_hat


def adaptation_none(driving, portrait, reference=0):
    """The driving face moved onto the portrait as it is (only re-centred and rescaled)."""
    from fsth.landmarks.adapt import apply, invert, similarity

    to_norm, back = similarity(driving[reference]), invert(similarity(portrait))
    return np.stack([apply(back, apply(to_norm, p)) for p in driving])


def adaptation_in_pixels(driving, portrait, reference=0):
    return portrait + (driving - driving[reference])


def eer_one_minus_auc(labels, scores):
    from sklearn.metrics import roc_auc_score

    return 1 - roc_auc_score(labels, scores)


class ResBlockUpSwappedPsi(solutions.ResBlockUp):
    def forward(self, x, psi):
        cout = self.conv1.out_channels
        p2, p1 = psi[:, : 2 * cout], psi[:, 2 * cout:]
        h = F.interpolate(F.relu(solutions.adain(x, p1)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(solutions.adain(self.conv1(h), p2)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResBlockUpLate(solutions.ResBlockUp):
    def forward(self, x, psi):
        p1, p2 = psi[:, : 2 * x.shape[1]], psi[:, 2 * x.shape[1]:]
        h = self.conv2(F.relu(solutions.adain(self.conv1(F.relu(solutions.adain(x, p1))), p2)))
        return F.interpolate(h, scale_factor=2, mode="nearest") + self.skip(F.interpolate(x, scale_factor=2))


def score_without_w0(v, w_rows, w0, b):
    return (v * w_rows).sum(1) + b


def generator_loss_plus_d(D, fake, target, target_landmarks, video, w_rows, e_hat, weights):
    losses = solutions.generator_loss(D, fake, target, target_landmarks, video, w_rows, e_hat, weights)
    return {**losses, "adversarial": -losses["adversarial"]}


def discriminator_loss_fake_attached(D, target, fake, target_landmarks, video, e_hat, weights):
    real_score, _ = D(target, target_landmarks, video)
    fake_score, _ = D(fake, target_landmarks, video)
    return {"d_hinge": solutions.hinge_loss(real_score, fake_score),
            "d_embedding_match": weights.embedding_match * solutions.embedding_match(D.W(video), e_hat.detach())}


def meta_step_without_w(model, batch, opt_g, opt_d, opt_w, weights):
    class NoW:
        def zero_grad(self):
            pass

        def step(self):
            pass
    return solutions.meta_step(model, batch, opt_g, opt_d, NoW(), weights)


def meta_step_d_learns_from_g(model, batch, opt_g, opt_d, opt_w, weights):
    """D left unfrozen in G's step, and its gradients never zeroed: G's loss leaks into D's update."""
    E, G, D = model.embedder, model.generator, model.discriminator
    e_hat = solutions.embed_average(E, batch["shots"], batch["shot_landmarks"])
    fake = G(batch["target_landmarks"], e_hat)
    g_losses = solutions.generator_loss(D, fake, batch["target"], batch["target_landmarks"], batch["video"],
                                        D.W(batch["video"]), e_hat, weights)
    opt_g.zero_grad()
    sum(g_losses.values()).backward()
    opt_g.step()
    d_losses = solutions.discriminator_loss(D, batch["target"], fake, batch["target_landmarks"], batch["video"],
                                            e_hat, weights)
    sum(d_losses.values()).backward()
    opt_d.step()
    opt_w.step()
    return {**g_losses, **d_losses}


def finetune_step_without_d(make_fake, D, target, target_landmarks, opt_g, opt_d, weights):
    class Frozen:
        def zero_grad(self):
            opt_d.zero_grad()

        def step(self):
            pass
    return solutions.finetune_step(make_fake, D, target, target_landmarks, opt_g, Frozen(), weights)


def temperature_inverted(log_odds, labels):
    return 1 / solutions.temperature(log_odds, labels)


CASES = [
    # (check, solution, typical wrong answer, words the message must contain)
    (exercises.check_to_tensor, solutions.to_tensor, to_tensor_0_1, "[-1, 1]"),
    (exercises.check_landmark_image, solutions.landmark_image, landmark_image_bgr, "BGR"),
    (exercises.check_landmark_image, solutions.landmark_image, landmark_image_open_eyes, "not closed"),
    (exercises.check_landmark_image, solutions.landmark_image, landmark_image_one_colour, "colour"),
    (exercises.check_episode, solutions.episode, episode_with_collisions, "also one of the shots"),
    (exercises.check_episode, solutions.episode, episode_fixed_target, "spread"),
    (exercises.check_episode, solutions.episode, episode_unseeded, "same seed"),
    (exercises.check_resblock_down, solutions.ResBlockDown, ResBlockDownMaxPool, "max-pool"),
    (exercises.check_resblock_down, solutions.ResBlockDown, ResBlockDownNoPreactivation, "pre-activation"),
    (exercises.check_resblock_down, solutions.ResBlockDown, ResBlockDownUnnamed, "conv1"),
    (exercises.check_embedder_average, solutions.embed_average, embed_average_of_images, "averaging the images"),
    (exercises.check_adain, solutions.adain, adain_unbiased, "unbiased"),
    (exercises.check_adain, solutions.adain, adain_batch_statistics, "batch norm"),
    (exercises.check_hinge_loss, solutions.hinge_loss, hinge_with_sigmoid, "sigmoid"),
    (exercises.check_feature_matching, solutions.feature_matching, feature_matching_l2, "L1"),
    (exercises.check_feature_matching, solutions.feature_matching, feature_matching_not_detached, "detach"),
    (exercises.check_embedding_match, solutions.embedding_match, embedding_match_sum, "mean"),
    (exercises.check_personalize, solutions.personalize, personalize_without_w0, "w₀"),
    (exercises.check_relative_adaptation, solutions.relative_adaptation, adaptation_none, "mode 'none'"),
    (exercises.check_relative_adaptation, solutions.relative_adaptation, adaptation_in_pixels, "normalised frame"),
    (exercises.check_eer, solutions.eer, eer_one_minus_auc, "1 − AUC"),
    (exercises.check_resblock_up, solutions.ResBlockUp, ResBlockUpSwappedPsi, "the order the AdaINs are met"),
    (exercises.check_resblock_up, solutions.ResBlockUp, ResBlockUpLate, "upsample before the convolutions"),
    (exercises.check_realism_score, solutions.realism_score, score_without_w0, "w₀ is missing"),
    (exercises.check_generator_loss, solutions.generator_loss, generator_loss_plus_d, "wants D's score *high*"),
    (exercises.check_discriminator_loss, solutions.discriminator_loss, discriminator_loss_fake_attached, "detach x̂"),
    (exercises.check_meta_step, solutions.meta_step, meta_step_without_w, "opt_w.step()"),
    (exercises.check_meta_step, solutions.meta_step, meta_step_d_learns_from_g, "freeze it"),
    (exercises.check_finetune_step, solutions.finetune_step, finetune_step_without_d, "D′ never moved"),
    (exercises.check_temperature, solutions.temperature, temperature_inverted, "its inverse"),
]


@pytest.mark.parametrize("check, solution, wrong, words", CASES,
                         ids=[f"{c[0].__name__}-{c[2].__name__}" for c in CASES])
def test_check_passes_the_solution_and_fails_a_typical_mistake(check, solution, wrong, words, capsys):
    assert check(solution) is True
    passed = capsys.readouterr().out
    assert passed.startswith("✓"), passed
    assert check(wrong) is False
    failed = capsys.readouterr().out
    assert failed.startswith("✗") and words in failed, failed


def test_handing_in_fsths_own_implementation_is_noticed(capsys):
    """A check that compares fsth with itself proves nothing: it says so, even through a wrapper."""
    from detector.metrics import eer
    from fsth.losses import embedding_match_loss, feature_matching_loss, hinge_d_loss
    from fsth.nn import AdaIN, ResBlockDown
    from fsth.io.tensors import to_tensor
    from fsth.warp import source_positions

    handed_in = [(exercises.check_adain, AdaIN), (exercises.check_adain, AdaIN(4)),
                 (exercises.check_resblock_down, ResBlockDown), (exercises.check_hinge_loss, hinge_d_loss),
                 (exercises.check_hinge_loss, lambda r, f: hinge_d_loss(r, f)),
                 (exercises.check_feature_matching, feature_matching_loss),
                 (exercises.check_embedding_match, embedding_match_loss), (exercises.check_eer, eer),
                 (exercises.check_to_tensor, to_tensor), (exercises.check_piecewise_warp, source_positions)]
    from fsth.losses import generator_terms
    from fsth.nn import ResBlockUp
    from detector.metrics import fit_temperature
    from fsth.train.step import MetaStep, OptimConfig

    def fsth_meta_step(model, batch, opt_g, opt_d, opt_w, weights):
        return MetaStep(model, None, weights, OptimConfig(amp="none", channels_last=False))(batch)

    handed_in += [(exercises.check_resblock_up, ResBlockUp), (exercises.check_temperature, fit_temperature),
                  (exercises.check_generator_loss,
                   lambda D, f, t, y, v, w, e, weights: generator_terms(D, f, t, y, weights, video=v, w_rows=w, e_hat=e)),
                  (exercises.check_meta_step, fsth_meta_step)]
    for check, own in handed_in:
        assert check(own) is False, check.__name__
        out = capsys.readouterr().out
        assert out.startswith("✗") and "compare fsth with fsth" in out, out


# the wrong answers below turn a tensor that needs a gradient into a float, which torch warns about: that is the point
@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
def test_a_loss_must_be_a_differentiable_tensor_with_the_right_gradient(capsys):
    import torch.nn.functional as F

    assert not exercises.check_hinge_loss(lambda r, f: float(F.relu(1 - r).mean() + F.relu(1 + f).mean()))
    assert "gradients flow through; got a float" in capsys.readouterr().out
    assert not exercises.check_hinge_loss(lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f.detach()).mean())
    assert "right value, wrong gradient" in capsys.readouterr().out
    assert not exercises.check_feature_matching(
        lambda fake, real: sum(float((a - b).abs().mean()) for a, b in zip(fake, real)))
    assert "gradients flow through" in capsys.readouterr().out
    assert not exercises.check_hinge_loss(lambda r, f: -(F.relu(1 - r).mean() + F.relu(1 + f).mean()))
    assert "no minus sign" in capsys.readouterr().out
    assert not exercises.check_adain(lambda x, psi: F.instance_norm(x))
    assert "ψ is ignored" in capsys.readouterr().out

    def generator_loss_as_floats(*args):
        return {k: float(v) for k, v in solutions.generator_loss(*args).items()}

    assert not exercises.check_generator_loss(generator_loss_as_floats)
    assert "must be a tensor that gradients flow through; got a float" in capsys.readouterr().out
    assert not exercises.check_realism_score(lambda v, w, w0, b: ((v * (w + w0)).sum(1) + b).detach())
    assert "gradients flow through" in capsys.readouterr().out


def test_hints_explain_the_idea_without_pasting_the_solution(capsys):
    """A negated hinge, an AdaIN that ignores ψ, an average over the wrong axis: each gets its own hint,
    and no hint hands over the code."""
    def embed_sum_over_videos(embedder, frames, landmarks):
        b, k = frames.shape[:2]
        return embedder(frames.flatten(0, 1), landmarks.flatten(0, 1)).view(b, k, -1).mean(0)

    assert not exercises.check_embedder_average(embed_sum_over_videos)
    out = capsys.readouterr().out
    assert "not over the videos" in out and ".view(" not in out and "mean(dim" not in out
    assert not exercises.check_adain(lambda x, psi: x * 2)
    out = capsys.readouterr().out
    assert "hint:" in out and "chunk(" not in out and "sqrt(" not in out


def test_eer_accepts_the_nearest_roc_point_and_rejects_a_fixed_threshold(capsys):
    from sklearn.metrics import roc_curve

    def nearest_point(labels, scores):
        fpr, tpr, _ = roc_curve(labels, scores)
        return float(fpr[np.argmin(np.abs((1 - tpr) - fpr))])

    def error_at_half(labels, scores):
        return (((scores >= 0.5) & (labels == 0)).sum() / (labels == 0).sum()
                + ((scores < 0.5) & (labels == 1)).sum() / (labels == 1).sum()) / 2

    assert exercises.check_eer(nearest_point)
    assert not exercises.check_eer(error_at_half)
    assert "fixed threshold 0.5" in capsys.readouterr().out


def test_a_crash_in_the_learners_code_is_reported_not_raised(capsys):
    def broken(x, psi):
        scale, bias = psi.chunk(2)  # wrong dim: shapes won't broadcast
        return x * scale + bias

    def unfinished(real, fake):
        raise NotImplementedError

    assert exercises.check_adain(broken) is False
    out = capsys.readouterr().out
    assert "✗ adain" in out and "RuntimeError" in out and "x * scale + bias" in out  # names the failing line
    assert exercises.check_hinge_loss(unfinished) is False
    assert "not implemented yet" in capsys.readouterr().out
    assert exercises.check_hinge_loss(lambda r, f: None) is False
    assert "forget to return" in capsys.readouterr().out


def test_misuse_raises():
    with pytest.raises(TypeError, match="expected your function"):
        exercises.check_adain(torch.zeros(3))
    with pytest.raises(TypeError):
        exercises.check_eer("eer")


def test_compare_says_exact_approximate_or_how_far(capsys):
    a = torch.arange(6.0).view(2, 3)
    assert exercises.compare("same", a, a.clone())
    assert "✓ same: exact" in capsys.readouterr().out
    assert exercises.compare("close", a + 1e-7, a)
    assert "approximate" in capsys.readouterr().out
    b = a.clone()
    b[1, 2] += 0.5
    assert not exercises.compare("off", b, a, hint="look at the last column")
    out = capsys.readouterr().out
    assert "max difference 0.5 at [1, 2]" in out and "1 of 6 values" in out and "hint: look at the last column" in out
    assert not exercises.compare("shape", a.T, a)
    assert "shape (3, 2), but fsth gives (2, 3)" in capsys.readouterr().out
    assert not exercises.compare("dtype", a.byte(), a)
    assert "dtype torch uint8" in capsys.readouterr().out
    assert not exercises.compare("none", None, a)
    assert "forget to return" in capsys.readouterr().out


def test_course_model_trains_when_missing_and_reuses_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    config = exercises.course_train_config("tiny", fast=True, device="cpu", minutes=0.02)
    assert config.holdout == 4 and config.out.startswith(str(tmp_path))
    model, info = exercises.course_model("tiny", fast=True, device="cpu", minutes=0.02)
    assert info["checkpoint"].exists() and len(info["holdout"]) == 4 and model.config.image_size == 64
    again, info2 = exercises.course_model("tiny", fast=True, device="cpu", minutes=0.02)
    assert info2["checkpoint"] == info["checkpoint"] and info2["step"] == info["step"]  # reused, not retrained


def test_the_label_stamp_check_names_the_usual_mistakes(capsys):
    """Notebook 11: the label as a multiply-add, from the label drawn over black and over white."""
    from fsth.provenance import label

    assert exercises.check_label_stamp(solutions.label_stamp) is True
    assert capsys.readouterr().out.startswith("✓ label_stamp")
    wrong = [(lambda f, k, w: (f * (w - k) // 255 + k).astype(np.uint8), "wrapped around"),
             (lambda f, k, w: np.clip(f * (w.astype(float) - k) + k, 0, 255).astype(np.uint8), "out of 255"),
             (lambda f, k, w: np.clip(f * (k.astype(float) - w) / 255 + w, 0, 255).astype(np.uint8), "swapped"),
             (lambda f, k, w: np.clip(f * (w.astype(float) - k) / 255 + k, 0, 255), "dtype float64"),
             (lambda f, k, w: label(f), "compare fsth with fsth")]
    for answer, says in wrong:
        assert exercises.check_label_stamp(answer) is False
        out = capsys.readouterr().out
        assert out.startswith("✗ label_stamp") and says in out, out
