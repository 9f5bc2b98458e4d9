"""Person, checkpoint and detector files are checked when they load: a damaged or tampered file is
one line naming it, before any rendering, training or scoring. Every bad file is built here."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from fsth.errors import describe
from fsth.io.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from fsth.io.clips import save_clip
from fsth.io.video import write_video
from fsth.nn import create
from fsth.person import load_model, load_person, save_person
from fsth.train.config import TrainConfig
from fsth.train.finetune import finetune
from fsth.train.meta import train
from tests.helpers import SMALL_MODEL, face_points, run_cli

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture(scope="module")
def person_file(tmp_path_factory):
    torch.manual_seed(0)
    model = create(SMALL_MODEL, num_videos=1).eval()
    shots = np.full((2, 32, 32, 3), 120, np.uint8)
    person = finetune(model, shots, np.stack([face_points(32)] * 2), steps=0, progress=False)
    return save_person(tmp_path_factory.mktemp("person") / "person.pt", person)


def _tampered(person_file, tmp_path, name="bad.pt", **change):
    """A copy of the person file with some of its entries replaced (a tool's or an attacker's edit)."""
    state = load_checkpoint(person_file)
    state.pop("format")
    for key, value in change.items():
        if callable(value):
            value(state[key])
        else:
            state[key] = value
    return save_checkpoint(tmp_path / name, state)


def _poison(weights):
    first = next(k for k, v in weights.items() if v.is_floating_point())
    weights[first].view(-1)[0] = float("nan")


@pytest.fixture
def driving(tmp_path):
    return write_video(tmp_path / "driving.mp4", [np.full((48, 48, 3), 90, np.uint8)] * 3)


def test_a_person_file_with_nan_weights_is_refused_before_rendering(person_file, tmp_path, driving, capsys):
    bad = _tampered(person_file, tmp_path, generator=_poison)
    with pytest.raises(CheckpointError, match=r"bad\.pt: the personalised generator holds NaN or infinite"):
        load_person(bad)
    out = tmp_path / "out.mp4"
    code, line = run_cli(capsys, ["animate", "--person", str(bad), "--driving", str(driving), "--out", str(out)])
    assert code == 1 and f"{bad}: the personalised generator holds NaN" in line and not out.exists()


@pytest.mark.parametrize("change, says", [
    ({"shots": torch.zeros(2, 32, 24, 3, dtype=torch.uint8)}, r"shots must be uint8 square crops .* found torch.uint8 \(2, 32, 24, 3\)"),
    ({"shots": torch.zeros(2, 8, 8, 3, dtype=torch.uint8)}, "R from 16 to 1024"),
    ({"shots": torch.zeros(2, 3, 32, 32, dtype=torch.uint8)}, "shots must be uint8 square crops"),
    ({"shots": torch.zeros(2, 32, 32, 3)}, "found torch.float32"),
    ({"landmarks": torch.zeros(3, 68, 2)}, r"landmarks must be float \(2, 68, 2\), one set per shot"),
    ({"landmarks": torch.zeros(2, 5, 2)}, r"landmarks must be float \(2, 68, 2\)"),
    ({"landmarks": torch.full((2, 68, 2), float("inf"))}, "landmarks hold NaN or infinite"),
    ({"landmarks": torch.full((2, 68, 2), 1e6)}, "beyond 10x the 32-pixel shots"),
    ({"e_hat": torch.full((SMALL_MODEL["embed_dim"],), float("nan"))}, "embedding holds NaN"),
    ({"e_hat": torch.zeros(3)}, "e_hat must hold 32 numbers"),
    ({"generator": {"nonsense": torch.zeros(2)}}, "generator doesn't fit its model_config"),
    ({"model_config": {"image_size": "big"}}, "doesn't fit its model_config"),
])
def test_a_tampered_person_file_is_refused_naming_it(person_file, tmp_path, change, says):
    bad = _tampered(person_file, tmp_path, **change)
    with pytest.raises(CheckpointError, match=says) as caught:
        load_person(bad)
    message, code = describe(caught.value)
    assert code == 1 and message.startswith(f"{bad}: ") and "internal error" not in message


def test_a_sound_person_file_still_loads(person_file):
    person = load_person(person_file)
    assert person.shots.shape == (2, 32, 32, 3) and person.landmarks.dtype == np.float32


def test_a_model_with_nan_weights_is_refused(tmp_path):
    model = create(SMALL_MODEL, num_videos=1)
    weights = model.state_dict()
    weights["generator." + next(k for k, v in model.generator.state_dict().items() if v.is_floating_point())].fill_(float("inf"))
    path = save_checkpoint(tmp_path / "model.pt", {"model": weights, "model_config": model.config.to_dict()})
    with pytest.raises(CheckpointError, match=r"model\.pt: the model holds NaN or infinite values \(generator\."):
        load_model(path)


def test_random_bytes_are_not_a_valid_checkpoint_rather_than_a_dangerous_one(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint at all\n")
    for path in (junk, text):
        with pytest.raises(CheckpointError) as caught:
            load_model(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: not a valid, readable fsth checkpoint"), message
        assert "Python objects" not in message and "run code" not in message and "weights_only" not in message
    clip = save_clip(tmp_path / "clip.npz", np.full((3, 32, 32, 3), 90, np.uint8), np.stack([face_points(32)] * 3), {})
    code, line = run_cli(capsys, ["finetune", "--checkpoint", str(junk), "--clip", str(clip), "--ft-steps", "0",
                                  "--out", str(tmp_path / "p.pt")])
    assert code == 1 and f"{junk}: not a valid, readable fsth checkpoint" in line and "Python objects" not in line


def test_a_person_file_in_a_run_folder_is_not_a_training_checkpoint(person_file, clip_folder, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(person_file, run / "step-00000005.pt")
    recipe = tmp_path / "small.yaml"
    recipe.write_text(json.dumps({"model": SMALL_MODEL, "k": 2, "batch_size": 2, "steps": 6, "vgg19": None,
                                  "image_every": 0, "optim": {"amp": "none"}}))
    code, line = run_cli(capsys, ["train", "--config", str(recipe), "--data", str(clip_folder), "--out", str(run)])
    assert code == 1 and "step-00000005.pt: not a training checkpoint (a person file written by fsth finetune)" in line
    assert "internal error" not in line and "KeyError" not in line
    assert sorted(p.name for p in run.glob("step-*")) == ["step-00000005.pt"]  # nothing trained over it


def test_init_from_a_person_file_is_refused_naming_it(person_file, clip_folder, tmp_path):
    config = TrainConfig(data=str(clip_folder), out=str(tmp_path / "run"), model=SMALL_MODEL, k=2, batch_size=2,
                         steps=1, vgg19=None, image_every=0, optim={"amp": "none"}, init_from=str(person_file))
    with pytest.raises(CheckpointError, match="person.pt: init_from needs a model file"):
        train(config, progress=False)


# ---- detector files ---------------------------------------------------------------------------

def _frequency(tmp_path, **change):
    state = json.loads((ROOT / "fsth" / "pretrained" / "frequency.json").read_text())
    state.update(change)
    path = tmp_path / "freq.json"
    path.write_text(json.dumps(state))
    return path


@pytest.mark.parametrize("change, says", [
    ({"coef": [[1e300] * 32]}, r"coef holds numbers beyond ±1e\+06"),
    ({"intercept": [-1e12]}, "intercept holds numbers beyond"),
    ({"platt": [1e9, 0.0]}, "platt holds numbers beyond"),
    ({"mean": [float("inf")] * 32}, "mean must be 32 finite numbers"),
    ({"classes": [1, 0]}, r"classes must be \[0, 1\] \(real, fake\), not \[1, 0\]"),
    ({"classes": [0, 2]}, r"classes must be \[0, 1\]"),
    ({"classes": ["real", "fake"]}, "classes must be numbers"),
])
def test_a_tampered_frequency_detector_is_refused_naming_it(tmp_path, capsys, change, says):
    from detector import models
    from detector.__main__ import main as detector_main

    bad = _frequency(tmp_path, **change)
    with pytest.raises(ValueError, match=says):
        models.load(bad)
    code, line = run_cli(capsys, ["score", str(tmp_path / "x.png"), "--detector", str(bad)], detector_main)
    assert code == 1 and f"{bad}: " in line


def test_the_shipped_frequency_detector_passes_its_checks(tmp_path):
    from detector import models

    assert models.load(_frequency(tmp_path)).bins == 32


def test_a_cnn_detector_with_nan_weights_is_refused(tmp_path):
    from detector import models

    det = models.create("residual", image_size=32)
    path = det.save(tmp_path / "det.pt")
    state = torch.load(path, weights_only=True)
    _poison(state["state"])
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"det\.pt: weights hold NaN or infinite values"):
        models.load(path)
    state["image_size"] = 10 ** 6
    torch.save(state, path)
    with pytest.raises(ValueError, match="image_size must be an integer from 8 to 1024"):
        models.load(path)
