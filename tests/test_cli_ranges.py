"""Ranges, output names and references are checked before any work: one line, exit 2, nothing
written; empty inputs are a failed run (exit 1), never a silent success."""
from __future__ import annotations

import pytest

from fsth.cli import main


def run(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("argv, says", [
    (["preprocess", "SRC", "OUT", "--size", "0"], "--size 0: must be from 16 to 4096"),
    (["preprocess", "SRC", "OUT", "--size", "-64"], "--size -64: must be from 16 to 4096"),
    (["preprocess", "SRC", "OUT", "--margin", "-5"], "--margin -5.0: must be from 0 to 5"),
    (["preprocess", "SRC", "OUT", "--frames", "-3"], "--frames -3: must be at least 0"),
    (["preprocess", "SRC", "OUT", "--workers", "0"], "--workers 0: must be at least 1"),
    (["preprocess", "SRC", "OUT", "--quality", "200"], "--quality 200: must be from 1 to 100"),
    (["finetune", "--shots", "a.jpg", "--ft-steps", "-5", "--out", "p.pt"], "--ft-steps -5: must be at least 0"),
    (["finetune", "--clip", "c.npz", "--k", "0", "--out", "p.pt"], "--k 0: must be at least 1"),
    (["finetune", "--clip", "c.npz", "--out", "p.png"], "--out p.png: must be a file name ending in .pt"),
    (["animate", "--driving", "d.mp4", "--out", "x.avi"], "--out x.avi: must be a file name ending in .mp4"),
    (["animate", "--driving", "d.mp4", "--out", "x.mp4", "--gif", "a.png"], "--gif a.png: must be a file name"),
    (["animate", "--driving", "d.mp4", "--out", "x.mp4", "--reference", "foo"], "--reference foo: must be a frame"),
    (["animate", "--driving", "d.mp4", "--out", "x.mp4", "--max-frames", "-3"], "--max-frames -3: must be at least"),
    (["animate", "--driving", "d.mp4", "--out", "x.mp4", "--size", "4096"], "--size 4096: must be from 16 to 512"),
    (["evaluate", "--checkpoint", "c.pt", "--data", "d", "--ks", "1", "0"], "--ks 1 0: must be at least 1"),
    (["evaluate", "--checkpoint", "c.pt", "--data", "d", "--targets", "0"], "--targets 0: must be at least 1"),
    (["synth", "OUT", "--size", "8"], "--size 8: must be from 32 to 256"),
    (["demo", "--seconds", "0"], "--seconds 0.0: must be more than 0"),
])
def test_out_of_range_values_are_usage_errors_before_any_work(argv, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, argv)
    assert code == 2 and len(err) == 1 and says in err[0], err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_reference_past_the_driving_video_is_refused_before_rendering(capsys, tmp_path):
    import numpy as np

    from fsth.io.video import write_video

    driving = write_video(tmp_path / "d.mp4", [np.zeros((32, 32, 3), np.uint8)] * 5, fps=5)
    code, err = run(capsys, ["animate", "--driving", str(driving), "--out", str(tmp_path / "x.mp4"),
                             "--reference", "99999", "--method", "warp", "--shots", "nowhere.jpg"])
    assert code == 2 and "--reference 99999: the driving video gives 5 frame(s) (0 to 4)" in err[0]
    assert not (tmp_path / "x.mp4").exists()


def test_empty_inputs_fail_instead_of_succeeding_silently(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, err = run(capsys, ["preprocess", str(tmp_path / "empty"), str(tmp_path / "out")])
    assert code == 1 and "no face video or image found" in err[-1]  # (above it: the progress bar)
    code, err = run(capsys, ["inspect", str(tmp_path / "empty"), "--out", str(tmp_path / "sheet.png")])
    assert code == 1 and "no readable clip" in err[-1] and not (tmp_path / "sheet.png").exists()
