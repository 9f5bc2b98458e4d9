"""The command lines as a user runs them: the demo, fine-tuning and animation with the shipped
model, the warp baseline, and the detectability study — small settings, real files."""
import json

import numpy as np
import pytest

from fsth.cli import main
from fsth.io.credentials import read as read_credentials
from fsth.io.video import probe, read_metadata
from tests.helpers import SMALL_MODEL


@pytest.mark.slow
def test_demo_with_small_settings(tmp_path, samples, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--ft-steps", "2", "--seconds", "0.5", "--amp", "none"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finetune_steps"] == 2 and summary["frames"] >= 10
    for key in ("video", "gif", "strip"):
        assert (tmp_path / "demo" / summary[key].split("/")[-1]).exists()
        credentials = read_credentials(summary[key])  # signed Content Credentials, declaring a generated file
        assert credentials.state in ("Trusted", "Valid") and credentials.synthetic, (key, credentials)
    assert read_metadata(summary["video"]).get("comment", "").lower().count("synthetic") >= 1
    assert "P(fake)" in printed and summary["p_fake"] and all(0 <= p <= 1 for p in summary["p_fake"].values())


@pytest.mark.slow
def test_finetune_then_animate_with_the_shipped_model(tmp_path, samples, capsys):
    person = tmp_path / "hopper.pt"
    assert main(["finetune", "--shots", str(samples.fetch("grace_hopper")), "--ft-steps", "2", "--backend", "dlib",
                 "--out", str(person), "--amp", "none"]) == 0  # no --checkpoint: the shipped model
    assert "1 shot(s), 2 fine-tuning steps" in capsys.readouterr().out
    video = tmp_path / "hopper.mp4"
    assert main(["animate", "--person", str(person), "--driving", str(samples.fetch("wolfgang")),
                 "--max-frames", "6", "--backend", "dlib", "--out", str(video)]) == 0
    info = probe(video)
    assert info.frames == 6 and "synthetic" in capsys.readouterr().out


def test_animate_with_the_warp_baseline_needs_no_model(tmp_path, samples, capsys):
    video = tmp_path / "warp.mp4"
    assert main(["animate", "--method", "warp", "--size", "96", "--shots", str(samples.fetch("monalisa")),
                 "--driving", str(samples.fetch("wolfgang")), "--max-frames", "5", "--backend", "dlib",
                 "--out", str(video)]) == 0
    info = probe(video)
    assert info.frames == 5 and (info.width, info.height) == (96, 96)


def test_animate_without_shots_is_a_usage_error(tmp_path, capsys):
    assert main(["animate", "--driving", "x.mp4", "--out", str(tmp_path / "o.mp4")]) == 2
    assert "--shots" in capsys.readouterr().err


@pytest.mark.slow
def test_detector_study_from_the_command_line(tmp_path, capsys):
    from detector.__main__ import main as detector_main
    from fsth.data.synthetic import write_dataset
    from fsth.train.config import TrainConfig
    from fsth.train.meta import train

    data = tmp_path / "synth"
    write_dataset(data, identities=6, clips_per_identity=1, frames=40, size=64, seed=3, progress=False)
    run = tmp_path / "run"
    train(TrainConfig(data=str(data), out=str(run), model=SMALL_MODEL, k=2, batch_size=2, steps=1, holdout=4,
                      vgg19=None, image_every=0, optim={"amp": "none"}), progress=False)
    out = tmp_path / "study"
    assert detector_main(["study", "--checkpoint", str(run / "step-00000001.pt"), "--data", str(data),
                          "--out", str(out), "--detectors", "frequency", "--window", "4", "--curve-ft-steps", "1",
                          "--fast", "--pairs", "3", "--other", str(run / "step-00000001.pt"),
                          "--render-size", "64"]) == 0  # fakes above the model's size: tests/test_detector_processing.py
    results = json.loads((out / "results.json").read_text())
    assert results["identities"]["test"] >= 1 and "frequency" in results["detectors"]
    assert results["other_model"] == "step-00000001.pt"  # --other's fakes join the cross-generator matrix
    assert set(results["sections"]["cross_generator"]["frequency"]) == {"fake", "other", "warp", "mean"}
    auc = results["detectors"]["frequency"]["auc"]
    assert np.isfinite(auc["value"]) and len(auc["ci"]) == 2
    assert (out / "report.md").exists() and (out / "roc.png").exists()
