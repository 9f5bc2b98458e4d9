import json

import numpy as np
import pytest

from fsth.cli import main
from fsth.evaluate import markdown_table, split_frames
from fsth.train.config import TrainConfig
from fsth.train.meta import train
from tests.helpers import SMALL_MODEL


def test_split_keeps_targets_fixed_and_out_of_the_shots():
    t1, s1 = split_frames(40, 8, 1, seed=0)
    t32, s32 = split_frames(40, 8, 32, seed=0)
    assert np.array_equal(t1, t32) and len(t1) == 8
    assert len(s32) == 32 and not set(s32) & set(t32)
    with pytest.raises(ValueError, match="K = 33"):
        split_frames(40, 8, 33, seed=0)


@pytest.mark.slow
def test_evaluate_command_writes_the_table(clip_folder, tmp_path, capsys):
    run = tmp_path / "run"
    train(TrainConfig(data=str(clip_folder), out=str(run), model=SMALL_MODEL, k=3, batch_size=2, steps=2,
                      vgg19=None, image_every=0, holdout=2, optim={"amp": "none"}), progress=False)
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(run / "step-00000002.pt"), "--data", str(clip_folder),
                 "--out", str(out), "--ks", "1", "3", "--ft-steps", "2", "--targets", "4", "--untrained",
                 "--warp-hard", "1", "--warp-hard-size", "96"]) == 0
    results = json.loads((out / "results.json").read_text())
    rows = results["self_reenactment"]
    assert {(r["method"], r["k"]) for r in rows} == {(m, k) for m in ("ff", "ft", "mean frame", "warp", "untrained ff")
                                                     for k in (1, 3)}
    assert all(0 <= r["verified"] <= 1 for r in rows)  # share of frames dlib calls the same person
    held = (run / "holdout.txt").read_text().split()
    assert len(results["clips"]) == 4 and all(any(f"/{h}/" in c for h in held) for c in results["clips"])
    assert all(0 <= r["l1"] <= 1 and -1 <= r["ssim"] <= 1 for r in rows)
    assert {r["adapt"] for r in results["cross_identity"]} == {"none", "relative"}
    table = (out / "table.md").read_text()
    assert "| fine-tuned | 3 |" in table and "| landmark warp | 1 |" in table and "VERIFIED ↑" in table
    assert "SSIM ↑" in table and (out / "metrics_vs_k.png").exists()
    hard = json.loads((out / "warp_hard.json").read_text())  # the pairs rendered at the size asked for
    assert hard["size"] == 96 and hard["pairs"] >= 2
    assert [r["method"] for r in hard["rows"]][:2] == ["landmark warp", "guard-rails (no learning)"]
    assert all(0 <= r["eyes_l1"] <= 1 for r in hard["rows"] if r["eyes_l1"] == r["eyes_l1"])


def test_markdown_table_layout():
    rows = [{"method": "ff", "k": 1, "ssim": 0.5, "csim": 0.7, "l1": 0.1, "psnr": 20.0}]
    text = markdown_table(rows, [{"adapt": "relative", "csim": 0.8, "nme": 0.1, "detected": 1.0}], "t")
    assert "| feed-forward | 1 | 0.500 | 0.700 | 0.100 | 20.000 |" in text and "| relative | 0.800 |" in text
