"""A new generator is one class plus a registry line: a toy one, conditioned on the target's
landmark *points* (an input no built-in generator uses), goes through every path — meta-learning,
checkpoints, fine-tuning, rendering, person files, fakes and animation — without any of them
knowing its kind."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fsth
from fsth.nn.base import GENERATORS, TalkingHeadGenerator, register_generator
from fsth.nn.blocks import sn_conv, sn_linear
from tests.helpers import SMALL_MODEL, face_points


@register_generator("toy_points")
class ToyPointsGenerator(TalkingHeadGenerator):
    """Paints a blob at each target landmark, coloured by ψ: small, but personalised like the paper's G."""

    conditioning = ("target_points",)

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.conv = sn_conv(4, 3)
        self.num_adain_params = 6
        self.projection = sn_linear(config.embed_dim, self.num_adain_params)
        self.psi = None
        self.seen = []  # what forward() was given, for the test

    def personalize(self, e_hat):
        with torch.no_grad():
            self.psi = nn.Parameter(self.projection(e_hat.reshape(1, -1).float()).clone())

    def forward(self, landmarks, e_hat=None, target_points=None):
        self.seen.append(target_points.shape)
        psi = self.psi.expand(len(landmarks), -1) if e_hat is None else self.projection(e_hat.float())
        size = landmarks.shape[-1]
        ramp = torch.arange(size, dtype=torch.float32, device=landmarks.device)
        d2 = ((ramp[None, None, None, :] - target_points[..., 0, None, None]) ** 2
              + (ramp[None, None, :, None] - target_points[..., 1, None, None]) ** 2)  # (B, 68, S, S)
        blobs = torch.exp(-d2 / 4).amax(1, keepdim=True)
        scale, bias = psi[:, :3, None, None], psi[:, 3:, None, None]
        return torch.tanh(self.conv(torch.cat([landmarks, blobs], 1)) * (1 + scale) + bias)


@pytest.fixture
def toy_model():
    torch.manual_seed(0)
    return fsth.create_model(SMALL_MODEL, generator="toy_points", num_videos=6)


def test_the_registry_names_the_toy_and_builds_it(toy_model):
    assert GENERATORS["toy_points"] is ToyPointsGenerator
    assert isinstance(toy_model.generator, ToyPointsGenerator)
    with pytest.raises(ValueError, match="already registered"):
        register_generator("toy_points")(type("Other", (TalkingHeadGenerator,), {}))


def test_a_toy_generator_meta_learns_and_resumes(clip_folder, tmp_path):
    from fsth.train.config import TrainConfig
    from fsth.train.meta import train

    config = TrainConfig(data=str(clip_folder), out=str(tmp_path), model={**SMALL_MODEL, "generator": "toy_points"},
                         k=2, batch_size=2, steps=1, vgg19=None, image_every=1, checkpoint_every=1, ema=0.9,
                         optim={"amp": "none"})
    summary = train(config, progress=False)
    assert summary["step"] == 1 and all(np.isfinite(v) for v in summary["losses"].values())
    model = fsth.load_model(next(tmp_path.glob("step-*.pt")))
    assert isinstance(model.generator, ToyPointsGenerator)
    assert model.generator.seen[-1] == (1, 68, 2)  # its moving average refreshed with example inputs
    before = model.generator.conv.parametrizations.weight.original.clone()
    from dataclasses import replace

    assert train(replace(config, steps=2), progress=False)["step"] == 2
    after = fsth.load_model(sorted(tmp_path.glob("step-*.pt"))[-1]).generator.conv.parametrizations.weight.original
    assert not torch.equal(before, after)  # the resumed step trained the toy's own weights


def test_a_toy_generator_fine_tunes_renders_and_round_trips(toy_model, tmp_path):
    rng = np.random.default_rng(0)
    shots = rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    points = np.stack([face_points(32)] * 2).astype(np.float32)
    person = fsth.finetune(toy_model, shots, points, steps=2, batch_size=2, progress=False, amp="none")
    assert isinstance(person, fsth.Renderer) and person.steps == 2
    assert toy_model.generator.psi is None  # fine-tuning works on a copy
    targets = points[:1] + rng.normal(0, 2, (3, 68, 2)).astype(np.float32)
    frames = person.render(targets, amp="none")
    assert frames.shape == (3, 32, 32, 3)
    assert not np.array_equal(frames[0], frames[1])  # the points it was given move the picture
    assert np.abs(fsth.render_one(person, targets[2]).astype(int) - frames[2]).max() <= 1  # batch of one: rounding
    again = fsth.load_person(fsth.save_person(tmp_path / "toy.pt", person))
    assert isinstance(again.generator, ToyPointsGenerator)
    assert np.array_equal(again.render(targets, amp="none"), frames)


class PointsEveryFrame:
    """A landmark detector stand-in: the same face in every frame, moved a little each time."""

    name = "stub"

    def detect_frames(self, frames, **_):
        for i, _ in enumerate(frames):
            yield face_points(32) + i


def test_a_toy_generator_makes_fakes_and_animates(toy_model, tmp_path):
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    clip = SimpleNamespace(frames=rng.integers(0, 255, (12, 32, 32, 3), dtype=np.uint8),
                           landmarks=np.stack([face_points(32)] * 12).astype(np.float32))
    fake = fsth.make_fake(toy_model, clip, fsth.FakeRecipe("toy", k=2, steps=1), targets=3)
    assert fake.frames.shape == (3, 32, 32, 3)
    person = fake.person
    driving = fsth.write_video(tmp_path / "driver.mp4", list(clip.frames[:4]), fps=10)
    result = fsth.animate(person, driving, tmp_path / "toy.mp4", PointsEveryFrame(), adapt="none")
    assert result["frames"] == 4 and result["files"][0].exists()
    assert len(list(fsth.read_frames(result["files"][0]))) == 4


def test_nothing_outside_fsth_nn_asks_which_generator_it_holds():
    """No isinstance check on a generator class, no comparison of a generator's name, no
    "does it warp" flag: callers build what ``conditioning`` names and call ``full_resolution``.
    (``torch.Generator``, a random-number source, is not a talking-head generator.)"""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    asks = re.compile(r"isinstance\([^)]*(?<!torch\.)\b\w*Generator\b|\.generator\s*[!=]=|generator\s*(==|!=|in)\s*[\"'(]"
                      r"|\.warps\b|registered_name\s*[!=]=")
    found = [f"{path.relative_to(root)}:{number}: {line.strip()}"
             for folder in ("fsth", "detector") for path in sorted((root / folder).rglob("*.py"))
             if "nn" not in path.relative_to(root / folder).parts[:1]
             for number, line in enumerate(path.read_text().splitlines(), 1) if asks.search(line)]
    assert not found, found
