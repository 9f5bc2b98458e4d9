import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

import fsth.nn as fnn


def batch(config, b=2, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = config.image_size
    rand = lambda *shape: torch.rand(*shape, generator=g) * 2 - 1  # noqa: E731
    return rand(b, k, 3, s, s), rand(b, k, 3, s, s), rand(b, 3, s, s), rand(b, 3, s, s)


@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_output_shapes(preset):
    model = fnn.create(preset, num_videos=5).eval()
    cfg = model.config
    shots, shot_lms, target, target_lm = batch(cfg, b=1, k=2)
    with torch.no_grad():
        e_hat = model.embedder.embed(shots, shot_lms)
        fake = model.generator(target_lm, e_hat)
        score, feats = model.discriminator(fake, target_lm, torch.tensor([4]))
    assert e_hat.shape == (1, cfg.embed_dim) and (e_hat >= 0).all()
    assert fake.shape == target.shape and fake.abs().max() <= 1
    assert score.shape == (1,) and len(feats) == cfg.downs + 1 + (cfg.attention_size > 0)
    assert feats[-1].shape[-2:] == (4, 4)


@pytest.mark.slow
def test_paper_preset_matches_the_paper_sizes():
    counts = fnn.create("paper").parameter_counts()
    for name, paper in {"embedder": 15e6, "generator": 38e6, "discriminator": 20e6}.items():
        assert abs(counts[name] - paper) <= 0.25 * paper, (name, counts[name])


def test_one_meta_learning_step_reaches_every_parameter():
    torch.manual_seed(0)
    model = fnn.create("tiny", num_videos=4).train()
    shots, shot_lms, target, target_lm = batch(model.config)
    video = torch.tensor([1, 3])
    E, G, D = model.embedder, model.generator, model.discriminator

    e_hat = E.embed(shots, shot_lms)
    fake = G(target_lm, e_hat)
    fake_score, fake_feats = D(fake, target_lm, video)
    with torch.no_grad():
        _, real_feats = D(target, target_lm, video)
    loss_g = (F.l1_loss(fake, target) - fake_score.mean()
              + sum(F.l1_loss(a, b) for a, b in zip(fake_feats, real_feats))
              + (D.W(video) - e_hat).abs().mean())  # L_MCH pulls W_i towards ê_i
    loss_g.backward()
    for name, p in list(E.named_parameters()) + list(G.named_parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    dense = lambda g: g.coalesce().values() if g.is_sparse else g  # noqa: E731
    from_g_step = {n: dense(p.grad).abs().sum() for n, p in D.named_parameters() if p.grad is not None}

    D.zero_grad()
    real_score, _ = D(target, target_lm, video)
    fake_score, _ = D(fake.detach(), target_lm, video)
    loss_d = F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()
    loss_d.backward()
    for name, p in D.named_parameters():
        grad = dense(p.grad)
        assert torch.isfinite(grad).all(), name
        # b's hinge gradient cancels while every score is inside the margin (at init); the
        # generator's adversarial term reaches it in the same step
        assert grad.abs().sum() > 0 or (name == "b" and from_g_step["b"] > 0), name
    # the sparse W gradient touches only the videos in the batch
    assert sorted(D.W.weight.grad.coalesce().indices()[0].unique().tolist()) == [1, 3]


def test_spectral_norm_on_every_conv_and_linear():
    model = fnn.create("tiny")
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) > 20
    for layer in layers:
        assert parametrize.is_parametrized(layer, "weight")
        assert "SpectralNorm" in type(layer.parametrizations.weight[0]).__name__


@pytest.mark.parametrize("preset", ["tiny", "paper"])
def test_adain_parameters_all_come_from_the_projection(preset):
    G = fnn.create(preset).generator
    adains = [m for m in G.modules() if isinstance(m, fnn.AdaIN)]
    assert sum(a.num_params for a in adains) == G.num_adain_params == G.projection.out_features


def test_personalize_reproduces_the_meta_learned_output_exactly():
    torch.manual_seed(1)
    model = fnn.create("tiny", num_videos=3).eval()
    shots, shot_lms, target, target_lm = batch(model.config, b=1, k=4)
    with torch.no_grad():
        e_hat = model.embedder.embed(shots, shot_lms)
        before = model.generator(target_lm, e_hat)
        model.generator.personalize(e_hat)
        after = model.generator(target_lm)
        v, _ = model.discriminator.features(target, target_lm)
        model.discriminator.personalize(e_hat)
        score, _ = model.discriminator(target, target_lm)
    assert torch.equal(before, after)
    assert isinstance(model.generator.psi, nn.Parameter) and model.generator.psi.requires_grad
    expected = (v * (model.discriminator.w0 + e_hat)).sum(1) + model.discriminator.b
    assert torch.allclose(score, expected)
    with pytest.raises(ValueError, match="personalis"):
        fnn.create("tiny").generator(target_lm)


def test_state_dict_round_trip_with_safe_loading():
    torch.manual_seed(2)
    model = fnn.create("tiny", num_videos=7).eval()
    buffer = io.BytesIO()
    torch.save({"config": model.config.to_dict(), "model": model.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    clone = fnn.create(saved["config"]).eval()
    clone.load_state_dict(saved["model"])
    shots, shot_lms, target, target_lm = batch(model.config, b=1)
    with torch.no_grad():
        assert torch.equal(model.reenact(shots[0], shot_lms[0], target_lm),
                           clone.reenact(shots[0], shot_lms[0], target_lm))
    assert clone.discriminator.num_videos == 7


def test_growing_w_keeps_existing_columns():
    model = fnn.create("tiny", num_videos=3)
    old = model.discriminator.W.weight.detach().clone()
    model.grow(10)
    assert model.config.num_videos == 10 and model.discriminator.num_videos == 10
    assert torch.equal(model.discriminator.W.weight[:3], old)
    with pytest.raises(ValueError, match="shrink"):
        model.grow(2)
    with pytest.raises(IndexError, match="10 videos"):
        model.discriminator(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64), torch.tensor([10]))


def test_bfloat16_autocast_and_channels_last():
    model = fnn.create("tiny").eval().to(memory_format=torch.channels_last)
    shots, shot_lms, target, target_lm = batch(model.config, b=2, k=2)
    cl = dict(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        e_hat = model.embedder.embed(shots, shot_lms)
        fake = model.generator(target_lm.contiguous(**cl), e_hat)
    with torch.no_grad():
        reference = model.generator(target_lm, model.embedder.embed(shots, shot_lms))
    assert fake.dtype == torch.bfloat16 and torch.isfinite(fake.float()).all()
    assert (fake.float() - reference).abs().mean() < 0.05


def test_config_validation_and_overrides():
    assert fnn.get_config("tiny", num_videos=9).num_videos == 9
    with pytest.raises(ValueError, match="unknown preset"):
        fnn.create("huge")
    with pytest.raises(ValueError, match="power of two"):
        fnn.get_config("tiny", image_size=100)
    with pytest.raises(ValueError, match="unknown model config keys"):
        fnn.ModelConfig.from_dict({"image_size": 64, "colour": 1})
