"""The warping generator: starts from the landmark-warp baseline, learns flow, mask and paint."""
import numpy as np
import pytest
import torch

from fsth.nn import get_config
from fsth.nn.warp_generator import SYNTH_PRIOR, WarpGenerator
from fsth.warp import sampling_grids, warp_portrait
from tests.helpers import SMALL_MODEL, face_points


@pytest.fixture
def generator():
    torch.manual_seed(0)
    return WarpGenerator(get_config(SMALL_MODEL)).eval()


def test_it_starts_as_the_baseline_warp_blended_with_synthesis(generator):
    size = 32
    points = face_points(size)
    moved = points + np.array([1.5, -1.0])
    shot = torch.rand(1, 1, 3, size, size) * 2 - 1
    grids = sampling_grids(points, moved, size)  # (1, 1, S, S, 2)
    assert grids.shape == (1, 1, size, size, 2)
    with torch.no_grad():
        parts = generator(torch.zeros(1, 3, size, size), torch.randn(1, 32), shot[:, :, :], grids, return_parts=True)
    baseline = warp_portrait(((shot[0, 0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy(), points, moved[None])
    warped = ((parts["warped"][0, 0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    assert np.abs(warped.astype(int) - baseline).max() <= 1  # Δ = 0 at the start: exactly the baseline
    trust = 1 / (1 + np.exp(SYNTH_PRIOR))  # softmax of (0, SYNTH_PRIOR)
    assert torch.allclose(parts["mask"][:, 0], torch.full_like(parts["mask"][:, 0], trust))
    blended = trust * parts["warped"][:, 0] + (1 - trust) * parts["synth"]
    assert torch.allclose(parts["image"], blended, atol=1e-5)


def test_every_parameter_learns_and_personalization_works(generator):
    b, k, size = 2, 3, 32
    points = face_points(size)
    grids = torch.stack([sampling_grids(points + np.random.default_rng(i).normal(0, 1, (k, 68, 2)), points, size)[0]
                         for i in range(b)])
    shots = torch.rand(b, k, 3, size, size) * 2 - 1
    generator.train()
    landmarks, e_hat = torch.rand(b, 3, size, size) * 2 - 1, torch.randn(b, 32)
    optimizer = torch.optim.SGD(generator.parameters(), lr=0.1)
    for _ in range(2):  # the zero-initialised heads pass gradients on once they have moved
        optimizer.zero_grad()
        out = generator(landmarks, e_hat, shots, grids)
        assert out.shape == (b, 3, size, size) and out.abs().max() <= 1
        out.square().mean().backward()
        optimizer.step()
    silent = [n for n, p in generator.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not silent, silent
    generator.personalize(torch.randn(32))
    assert generator.psi is generator.synth.psi and generator.psi.requires_grad
    assert generator(torch.zeros(1, 3, size, size), None, shots[:1], grids[:1]).shape == (1, 3, size, size)
    with pytest.raises(ValueError, match="shots"):
        generator(torch.zeros(1, 3, size, size), torch.randn(1, 32))


def test_chosen_in_the_model_config():
    from fsth.nn import create

    model = create(SMALL_MODEL, generator="warp", num_videos=2).eval()
    assert isinstance(model.generator, WarpGenerator) and model.generator.conditioning == ("shots", "grids")
    assert create(SMALL_MODEL).generator.conditioning == ()  # the paper's pure-synthesis G stays the default
    size, points = 32, face_points(32)
    shots = torch.rand(2, 3, size, size) * 2 - 1
    drawn = torch.zeros(2, 3, size, size)
    frames = model.reenact(shots, drawn, torch.zeros(4, 3, size, size),
                           grids=sampling_grids(np.stack([points, points + 1]), np.stack([points] * 4), size))
    assert frames.shape == (4, 3, size, size)
    with pytest.raises(ValueError, match="unknown generator 'gan'; registered: .*synth.*warp"):
        create(SMALL_MODEL, generator="gan")


@pytest.mark.parametrize("k", [1, 3])
def test_a_warping_person_fine_tunes_renders_and_round_trips(k, tmp_path):
    from fsth.nn import create
    from fsth.person import load_person, save_person
    from fsth.train.finetune import finetune, source_shots

    torch.manual_seed(0)
    model = create(SMALL_MODEL, generator="warp", num_videos=2).eval()
    rng = np.random.default_rng(k)
    shots = rng.integers(0, 255, (k, 32, 32, 3), dtype=np.uint8)
    points = np.stack([face_points(32) + rng.normal(0, 0.5, (68, 2)) for _ in range(k)]).astype(np.float32)
    sources, source_points = source_shots(shots, points)
    assert sources.shape[:2] == (k, k - 1 if k > 1 else 4) and source_points.shape[:2] == sources.shape[:2]
    if k > 1:  # every shot is rebuilt from the others, never from itself
        assert all(not any(np.array_equal(s, shots[i]) for s in sources[i]) for i in range(k))
    person = finetune(model, shots, points, steps=2, batch_size=2, progress=False, amp="none")
    assert isinstance(person.generator, WarpGenerator) and person.generator.psi.shape[0] == 1
    targets = points[:1] + rng.normal(0, 1, (5, 68, 2)).astype(np.float32)
    frames = person.render(targets, amp="none")
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    again = load_person(save_person(tmp_path / "p.pt", person))
    assert isinstance(again.generator, WarpGenerator) and np.array_equal(again.render(targets, amp="none"), frames)


def test_meta_learning_trains_and_resumes_a_warping_generator(clip_folder, tmp_path):
    from fsth.train.config import TrainConfig
    from fsth.train.meta import train

    config = TrainConfig(data=str(clip_folder), out=str(tmp_path), model={**SMALL_MODEL, "generator": "warp"}, k=2,
                         batch_size=2, steps=2, vgg19=None, image_every=1, checkpoint_every=1,
                         optim={"amp": "none"})
    summary = train(config, progress=False)
    assert summary["step"] == 2 and all(np.isfinite(v) for v in summary["losses"].values())
    assert (tmp_path / "samples" / "step-00000002.png").exists()
    from dataclasses import replace

    assert train(replace(config, steps=3), progress=False)["step"] == 3  # resumes from step 2


def test_the_identity_term_trains_with_meta_learning_and_fine_tuning(clip_folder, tmp_path):
    from fsth.nn import create
    from fsth.train.config import TrainConfig
    from fsth.train.finetune import finetune
    from fsth.train.meta import train

    config = TrainConfig(data=str(clip_folder), out=str(tmp_path), model=SMALL_MODEL, k=2, batch_size=2, steps=1,
                         vgg19=None, image_every=0, loss={"identity": 1.0}, optim={"amp": "none"})
    losses = train(config, progress=False)["losses"]
    assert "identity" in losses and np.isfinite(losses["identity"]) and losses["identity"] > 0
    model = create(SMALL_MODEL, num_videos=2).eval()
    shots = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    from fsth.losses import LossWeights

    person = finetune(model, shots, np.stack([face_points(32)] * 2).astype(np.float32), steps=1, batch_size=2,
                      weights=LossWeights(identity=1.0), progress=False, amp="none")
    assert person.steps == 1


def test_fine_tuning_keeps_the_loss_weights_the_model_was_trained_with(clip_folder, tmp_path):
    from fsth.losses import LossWeights
    from fsth.person import load_model
    from fsth.train.config import TrainConfig
    from fsth.train.finetune import trained_loss_weights
    from fsth.train.meta import train

    config = TrainConfig(data=str(clip_folder), out=str(tmp_path), model=SMALL_MODEL, k=2, batch_size=2, steps=1,
                         vgg19=None, image_every=0, loss={"identity": 0.5, "pixel": 3.0}, optim={"amp": "none"})
    train(config, progress=False)
    model = load_model(next(tmp_path.glob("step-*.pt")))
    weights = trained_loss_weights(model)
    assert (weights.identity, weights.pixel) == (0.5, 3.0)
    del model.checkpoint_info  # a model built in code: the paper's defaults
    assert trained_loss_weights(model) == LossWeights()
