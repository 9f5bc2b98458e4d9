"""``fsth train`` refuses runs that can't mean anything (0 steps, a 256 px preset on 64 px data)
before any work, and its run-folder files never write through a planted symlink."""
import os
import stat

import numpy as np
import pytest

from fsth.cli import main
from fsth.io.clips import save_clip
from fsth.train.config import ConfigError, TrainConfig
from fsth.train.meta import train
from tests.helpers import SMALL_MODEL, face_points


def run_cli(capsys, argv):
    """Exit code, stdout and the one error line of a command (never a traceback)."""
    code = main(argv)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if ": error: " in line]
    assert "Traceback" not in captured.err and len(lines) == 1, captured.err
    return code, captured.out, lines[0]


def test_zero_steps_is_refused_as_a_usage_error_and_claims_no_checkpoints(clip_folder, tmp_path, capsys):
    run = tmp_path / "run"
    code, out, line = run_cli(capsys, ["train", "--data", str(clip_folder), "--out", str(run), "--steps", "0"])
    assert code == 2 and "steps must be >= 1 (0 would train nothing), not 0" in line
    assert "checkpoints in" not in out and not run.exists()
    with pytest.raises(ConfigError, match="steps must be >= 1"):
        TrainConfig(steps=0)


def test_a_paper_preset_run_on_64_px_data_is_refused_up_front(tmp_path, capsys):
    data = tmp_path / "data64"
    for person in range(2):
        save_clip(data / f"p{person}.npz", np.full((4, 64, 64, 3), 90 + person, np.uint8),
                  np.stack([face_points(64)] * 4), {"identity": f"p{person}", "video": "v"})
    run = tmp_path / "run"
    code, out, line = run_cli(capsys, ["train", "--preset", "paper", "--data", str(data), "--out", str(run),
                                       "--k", "2", "--batch-size", "1", "--steps", "1"])
    assert code == 2 and "the data's size doesn't match the preset's image size" in line, line
    assert "64x64" in line and "256 px" in line and "'paper'" in line and line.startswith(f"fsth train: error: {data}")
    assert not list(run.glob("step-*")) and not (run / "metrics.csv").exists()


def test_run_files_replace_a_planted_symlink_and_leave_its_target_alone(clip_folder, tmp_path):
    run, outside = tmp_path / "run", tmp_path / "outside"
    run.mkdir()
    outside.mkdir()
    victims = {}
    for name in ("loss_curve.png", "holdout.txt"):
        victim = outside / f"victim-{name}"
        victim.write_bytes(b"keep me")
        victim.chmod(0o604)
        (run / name).symlink_to(victim)
        victims[name] = victim
    config = TrainConfig(data=str(clip_folder), out=str(run), model=SMALL_MODEL, k=2, batch_size=2, steps=1,
                         holdout=1, vgg19=None, image_every=0, log_every=1, optim={"amp": "none"})
    train(config, progress=False)
    umask = os.umask(0)
    os.umask(umask)
    for name, victim in victims.items():
        written = run / name
        assert victim.read_bytes() == b"keep me" and stat.S_IMODE(victim.stat().st_mode) == 0o604
        assert not written.is_symlink() and written.is_file() and written.stat().st_size > 0
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask  # not the symlink target's mode
    assert (run / "holdout.txt").read_text().strip() in {"id0", "id1", "id2"}
    assert train(config, progress=False)["trained"] == 0  # already at its last step: nothing trained
    assert (run / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
