import numpy as np
import pytest
import torch

from fsth.io.credentials import read as read_credentials
from fsth.io.video import read_metadata, probe, write_video
from fsth.losses import LossWeights
from fsth.nn import create
from fsth.person import load_person, save_person
from fsth.train.finetune import finetune, personalize
from fsth.io.tensors import to_tensor, to_uint8
from fsth.landmarks.draw import draw_landmarks
from tests.helpers import SMALL_MODEL


@pytest.fixture(scope="module")
def shots():
    rng = np.random.default_rng(0)
    frames = np.full((4, 32, 32, 3), 90, np.uint8)
    frames[:, 10:22, 10:22] = [200, 120, 60]
    base = rng.uniform(8, 24, (68, 2)).astype(np.float32)
    return frames, base + rng.normal(0, 0.3, (4, 68, 2)).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create(SMALL_MODEL, num_videos=3).eval()


def test_zero_steps_is_the_feed_forward_output(model, shots):
    frames, landmarks = shots
    person = finetune(model, frames, landmarks, steps=0, progress=False)
    with torch.no_grad():
        e_hat = model.embedder.embed(to_tensor(frames)[None], to_tensor(draw_landmarks(landmarks, 32))[None])
        expected = to_uint8(model.generator(to_tensor(draw_landmarks(landmarks, 32)), e_hat.expand(4, -1)))
    assert np.array_equal(person.render(landmarks, amp="none"), expected)
    assert person.steps == 0


def test_fine_tuning_fits_the_shots(model, shots):
    frames, landmarks = shots
    pixel_only = LossWeights(adversarial=0, feature_matching=0)
    before = finetune(model, frames, landmarks, steps=0, progress=False).render(landmarks)
    after = finetune(model, frames, landmarks, steps=30, lr_g=2e-3, weights=pixel_only, progress=False)
    err = lambda x: np.abs(x.astype(float) - frames).mean()  # noqa: E731
    assert err(after.render(landmarks)) < 0.7 * err(before)
    # the meta-learned model itself is untouched
    tuned, _ = personalize(model, frames, landmarks)
    assert model.generator.psi is None and tuned.generator.psi is not None


def test_snapshots_of_one_run_are_the_heads_of_shorter_runs(model, shots):
    """The detectability study's fine-tuning curve renders 0, 10, 25, … steps from one run."""
    frames, landmarks = shots
    seen = {}
    last = finetune(model, frames, landmarks, steps=4, amp="none", progress=False, snapshot_at=(0, 2, 4),
                    snapshots=lambda n, person: seen.update({n: person.render(landmarks, amp="none")}))
    assert sorted(seen) == [0, 2, 4]
    for n in (0, 2):
        alone = finetune(model, frames, landmarks, steps=n, amp="none", progress=False).render(landmarks, amp="none")
        assert np.abs(seen[n].astype(int) - alone).max() <= 1
    assert np.abs(seen[4].astype(int) - last.render(landmarks, amp="none")).max() <= 1
    assert np.abs(seen[4].astype(int) - seen[0]).max() > 1  # the steps did change the head


def test_person_file_round_trip(model, shots, tmp_path):
    frames, landmarks = shots
    person = finetune(model, frames, landmarks, steps=2, progress=False)
    save_person(tmp_path / "p.pt", person)
    again = load_person(tmp_path / "p.pt")
    assert np.array_equal(again.render(landmarks), person.render(landmarks))
    assert np.array_equal(again.landmarks, person.landmarks)


def test_animate_writes_a_marked_side_by_side_video(model, shots, samples, dlib_detector, tmp_path):
    from fsth.animation import animate
    from fsth.landmarks.adapt import CHIN, LOWER_LIP, lip_gaps
    from fsth.io.video import read_frames

    frames, landmarks = shots
    person = finetune(model, frames, landmarks, steps=0, progress=False)
    driving = write_video(tmp_path / "drive.mp4", list(read_frames(samples.fetch("single_face"), range(5))))
    for mode in ("relative", "none"):
        result = animate(person, driving, tmp_path / f"{mode}.mp4", dlib_detector, adapt=mode,
                         side_by_side=True, gif=tmp_path / f"{mode}.gif")
        info = probe(tmp_path / f"{mode}.mp4")
        assert (info.frames, info.width, info.height) == (5, 96, 32)
        assert "SYNTHETIC" in read_metadata(tmp_path / f"{mode}.mp4")["comment"]
        assert "SYNTHETIC" in read_metadata(tmp_path / f"{mode}.gif")["comment"]
        for written in (f"{mode}.mp4", f"{mode}.gif"):
            assert read_credentials(tmp_path / written).synthetic
        assert result["landmarks"].shape == (5, 68, 2)
    rel = animate(person, driving, tmp_path / "r.mp4", dlib_detector, adapt="relative")["landmarks"]
    lids = [37, 38, 40, 41, 43, 44, 46, 47]  # retargeted: their gap follows how open the driver's eyes are
    lips = [*LOWER_LIP, *CHIN]  # retargeted: the lip gap follows how far the driver's lips part beyond closed
    others = np.setdiff1d(np.arange(68), lids + lips)
    assert np.allclose(rel[0][others], landmarks[0][others], atol=1e-3)  # frame 0 is the reference: the portrait's face
    assert lip_gaps(rel[0])[0] >= lip_gaps(landmarks[0])[0] - 1e-3  # its lips at least as open as its own


def test_exported_model_is_small_and_equivalent(tmp_path):
    from fsth.io.checkpoint import save_checkpoint
    from fsth.person import export_model, load_model

    torch.manual_seed(3)
    model = create(SMALL_MODEL, num_videos=2).eval()
    save_checkpoint(tmp_path / "ckpt.pt", {"model": model.state_dict(), "model_config": model.config.to_dict(),
                                           "train_config": {}, "step": 7, "optim": {"big": torch.zeros(10000)}})
    export_model(tmp_path / "ckpt.pt", tmp_path / "slim.pt")
    assert (tmp_path / "slim.pt").stat().st_size < 0.6 * (tmp_path / "ckpt.pt").stat().st_size
    slim = load_model(tmp_path / "slim.pt")
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    e = torch.rand(1, SMALL_MODEL["embed_dim"])
    with torch.no_grad():
        assert (slim.generator(y, e) - model.generator(y, e)).abs().max() < 0.02  # float16 storage
