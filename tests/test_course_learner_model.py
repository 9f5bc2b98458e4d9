"""The course's model is the learner's: assembled from their blocks (fsth.nn.create's ``blocks`` hook),
most of its parameters in classes they wrote, trained by their step, loadable with fsth's weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import fsth.nn
from fsth.course import course_config, pieces
from teachers import solutions

ROLES = dict(ResBlockDown=solutions.ResBlockDown, adain=solutions.adain, ResBlock=solutions.ResBlock,
             ResBlockUp=solutions.ResBlockUp, realism_score=solutions.realism_score,
             generator_loss=solutions.generator_loss, discriminator_loss=solutions.discriminator_loss,
             meta_step=solutions.meta_step, personalize=solutions.personalize, finetune_step=solutions.finetune_step)


@pytest.fixture
def kept(tmp_path, monkeypatch):
    """Every reference solution kept and loaded back as a learner's notebook has them."""
    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    pieces.keep(**ROLES)
    mine = pieces.mine(verbose=False)
    assert set(mine) == set(ROLES)
    return mine


def test_fsths_default_networks_are_unchanged_by_the_blocks_hook():
    torch.manual_seed(0)
    plain = fsth.nn.create("tiny", num_videos=3)
    torch.manual_seed(0)
    hooked = fsth.nn.create("tiny", blocks={}, num_videos=3)
    assert list(plain.state_dict()) == list(hooked.state_dict())
    for a, b in zip(plain.state_dict().values(), hooked.state_dict().values()):
        assert torch.equal(a, b)
    G = plain.generator  # ψ's layout, from fsth's blocks as before the hook
    assert G.adain_sizes == [b.adain_params for b in G.bottleneck] + [
        b.adain_params for b in G.up if isinstance(b, fsth.nn.ResBlockUp)] + [G.out_norm.num_params]
    with pytest.raises(ValueError, match="unknown block role"):
        fsth.nn.create("tiny", blocks={"Attention": object})


def test_a_model_from_the_reference_solutions_is_mostly_the_learners_and_trains(kept):
    from fsth.course import course_data

    torch.manual_seed(0)
    model = pieces.build_model(course_config("tiny"), kept, num_videos=1)
    share = pieces.parameter_share(model)
    assert share["share"] >= 0.6, pieces.describe_share(model)
    assert all(yours > 0 for yours, _ in share["networks"].values())
    assert type(model.generator.bottleneck[0]).__module__.startswith("__your_")
    assert type(model.generator.up[0]).__module__.startswith("__your_")
    assert type(model.embedder.trunk.layers[1]).__module__.startswith("__your_")
    assert type(model.discriminator.trunk.layers[1]).__module__.startswith("__your_")
    assert type(model.generator.out_norm).__name__ == "YourAdaIN"
    # fsth's model of the same config holds none of it
    assert pieces.parameter_share(fsth.nn.create(course_config("tiny"), num_videos=1))["yours"] == 0

    learners = {name: p.detach().clone() for name, p in model.named_parameters()
                if any(name.startswith(prefix) for prefix in ("generator.bottleneck.", "generator.up.0.",
                                                               "embedder.trunk.layers.1.", "discriminator.trunk.layers.1."))}
    run = pieces.train_mine(model, course_data("tiny", True), kept["meta_step"], steps=2, k=2, batch_size=2)
    assert run["steps"] == 2 and len(run["samples"]) == 2
    assert all(np.isfinite(v).all() for v in run["losses"].values()) and "d_embedding_match" in run["losses"]
    after = dict(model.named_parameters())
    moved = [name for name, before in learners.items() if not torch.equal(before, after[name])]
    assert len(moved) == len(learners), f"unchanged: {sorted(set(learners) - set(moved))[:5]}"


def test_the_learners_blocks_take_fsths_weights_and_compute_the_same(kept):
    """Their blocks name their layers as fsth's do: a checkpoint of fsth's architecture (the precomputed
    course model) loads into the learner's, and both paint the same picture."""
    torch.manual_seed(0)
    reference = fsth.nn.create(course_config("tiny"), num_videos=2).eval()
    model = pieces.build_model(course_config("tiny"), kept, num_videos=2).eval()
    model.load_state_dict(reference.state_dict())
    rng = torch.Generator().manual_seed(0)
    shots, drawn, targets = (torch.rand(n, 3, 64, 64, generator=rng) * 2 - 1 for n in (2, 2, 3))
    with torch.no_grad():
        assert torch.allclose(model.reenact(shots, drawn, targets), reference.reenact(shots, drawn, targets), atol=1e-4)
        images = torch.rand(2, 3, 64, 64, generator=rng)
        video = torch.tensor([0, 1])
        assert torch.allclose(model.discriminator(images, drawn, video)[0],
                              reference.discriminator(images, drawn, video)[0], atol=1e-4)


def test_the_precomputed_course_model_loads_into_the_learners_blocks(kept):
    from fsth.assets import COURSE_MODEL, pretrained_path
    from fsth.person import load_model

    path = pretrained_path(COURSE_MODEL)
    assert path.stat().st_size <= 10 * 2 ** 20
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["model_config"]["embed_dim"] == course_config("tiny").embed_dim
    fsths = load_model(path)  # fsth's checkpoint loader, fsth's blocks
    model = pieces.load_mine(pretrained=True)
    assert pieces.parameter_share(model)["share"] >= 0.6
    for (name, a), b in zip(model.state_dict().items(), fsths.state_dict().values()):
        assert torch.equal(a.float(), b.float()), name


def test_the_learners_personalize_starts_fine_tuning_as_fsths_does(kept):
    from fsth.data.synthetic import random_identity, render_clip
    from fsth.train.finetune import personalize

    torch.manual_seed(0)
    model = pieces.build_model(course_config("tiny"), kept, num_videos=2).eval()
    frames, points, _ = render_clip(random_identity(np.random.default_rng(0)), frames=4, size=64, seed=0)
    theirs, e_theirs = pieces.personalize_mine(model, frames, points, kept["personalize"])
    fsths, e_fsth = personalize(model, frames, points)
    assert torch.allclose(e_theirs, e_fsth)
    assert torch.allclose(theirs.generator.psi, fsths.generator.psi, atol=1e-5)
    assert torch.allclose(theirs.discriminator.w_personal, fsths.discriminator.w_personal, atol=1e-5)
    person = pieces.finetune_mine(model, frames, points, kept["finetune_step"], steps=2, personalize=kept["personalize"])
    assert person.render(points[:2]).shape == (2, 64, 64, 3)


class ResBlockWithoutSkip(solutions.ResBlock):
    def forward(self, x, psi):
        return super().forward(x, psi) - x


class ResBlockSwappedPsi(solutions.ResBlock):
    def forward(self, x, psi):
        first, second = psi.chunk(2, dim=1)
        return super().forward(x, torch.cat([second, first], dim=1))


class ResBlockDetachedPsi(solutions.ResBlock):
    def forward(self, x, psi):
        return super().forward(x, psi.detach())


@pytest.mark.parametrize("wrong, hint", [(ResBlockWithoutSkip, "x + h"), (ResBlockSwappedPsi, "the order the AdaINs"),
                                         (ResBlockDetachedPsi, "wrong gradient for ψ")])
def test_the_bottleneck_block_check_names_the_mistake(wrong, hint, capsys):
    from fsth.exercises import check_resblock

    assert check_resblock(solutions.ResBlock)
    assert "✓ ResBlock" in capsys.readouterr().out
    assert not check_resblock(wrong)
    out = capsys.readouterr().out
    assert "✗ ResBlock" in out and hint in out, out
