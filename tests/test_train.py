import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fsth.io.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from fsth.train.config import TrainConfig
from fsth.train.episodes import EpisodeDataset, EpisodeSampler
from fsth.train.meta import train
from tests.helpers import SMALL_MODEL

def config(clip_folder, out, **overrides):
    base = dict(data=str(clip_folder), out=str(out), model=SMALL_MODEL, k=3, batch_size=2, steps=4,
                vgg19=None, log_every=1, image_every=2, checkpoint_every=2, optim={"amp": "none"})
    return TrainConfig(**{**base, **overrides})


def test_episodes_hold_the_target_out_of_the_shots(clip_folder):
    dataset = EpisodeDataset(clip_folder, k=3, size=32)
    assert len(dataset) == 6 and dataset.num_videos == 6
    sampler = EpisodeSampler(len(dataset), seed=1)
    keys = [sampler.key(p) for p in range(12)]
    assert sorted(k[0] for k in keys[:6]) == list(range(6))  # each epoch visits every clip once
    item = dataset[keys[0]]
    assert item["shots"].shape == (3, 3, 32, 32) and item["target"].shape == (3, 32, 32)
    frames = np.random.default_rng(keys[0][1]).choice(10, 4, replace=False)
    assert len(set(frames.tolist())) == 4  # K + 1 distinct frames: the target is never a shot
    again = dataset[keys[0]]
    assert torch.equal(item["target"], again["target"])  # a key always gives the same episode
    assert item["shots"].min() >= -1 and item["shots"].max() <= 1


def test_training_writes_logs_checkpoints_and_samples(clip_folder, tmp_path):
    summary = train(config(clip_folder, tmp_path), progress=False)
    assert summary["step"] == 4 and np.isfinite(list(summary["losses"].values())).all()
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4] and "embedding_match" in rows[0]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002.pt", "step-00000004.pt"]
    assert len(list((tmp_path / "samples").glob("*.png"))) == 2 and (tmp_path / "loss_curve.png").exists()
    state = load_checkpoint(tmp_path / "step-00000004.pt")
    assert state["train_config"]["model"] == SMALL_MODEL and state["model_config"]["num_videos"] == 6


def test_time_budget_stops_logs_and_plots_even_before_the_first_log_row(clip_folder, tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    matplotlib.use("svg")  # stands in for a notebook's inline backend, which Agg would replace
    try:
        summary = train(config(clip_folder, tmp_path, steps=50, log_every=100, max_minutes=1e-6), progress=False)
        assert matplotlib.get_backend() == "svg"  # plotting never switches a notebook's backend
    finally:
        matplotlib.use(backend)
    assert summary["step"] == 1  # the budget is spent after the first step
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["step"]) for r in rows] == [1]  # the step it stopped at is logged
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001.pt"]
    assert (tmp_path / "loss_curve.png").stat().st_size > 1000


def test_plot_losses_names_an_empty_log(tmp_path):
    from fsth.viz import plot_losses

    (tmp_path / "metrics.csv").write_text("")
    with pytest.raises(ValueError, match="metrics.csv"):
        plot_losses(tmp_path / "metrics.csv", tmp_path / "curve.png")
    assert not (tmp_path / "curve.png").exists()


def test_kill_and_resume_reproduces_the_uninterrupted_run(clip_folder, tmp_path):
    whole = train(config(clip_folder, tmp_path / "whole", steps=4), progress=False)
    train(config(clip_folder, tmp_path / "split", steps=2), progress=False)
    with open(tmp_path / "split" / "metrics.csv", "a") as f:  # logged by a run killed before its checkpoint
        f.write("3,9.9,0.1,1,1,1,1,1,1\n")
    resumed = train(config(clip_folder, tmp_path / "split", steps=4), progress=False)
    steps = [int(line.split(",")[0]) for line in (tmp_path / "split" / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4]
    assert resumed["step"] == 4
    for key, value in whole["losses"].items():
        assert resumed["losses"][key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    a = load_checkpoint(tmp_path / "whole" / "step-00000004.pt")["model"]
    b = load_checkpoint(tmp_path / "split" / "step-00000004.pt")["model"]
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)


def test_feed_forward_variant_has_no_embedding_match(clip_folder, tmp_path):
    summary = train(config(clip_folder, tmp_path, variant="ff", steps=1), progress=False)
    assert "embedding_match" not in summary["losses"] and "d_embedding_match" not in summary["losses"]


def test_other_preset_fails_and_a_corrupt_checkpoint_is_set_aside(clip_folder, tmp_path):
    train(config(clip_folder, tmp_path, steps=2), progress=False)
    good = tmp_path / "step-00000002.pt"
    before = good.read_bytes()
    other = {**SMALL_MODEL, "channels": 16}
    with pytest.raises(CheckpointError, match="asks for"):
        train(config(clip_folder, tmp_path, steps=4, model=other), progress=False)
    (tmp_path / "step-00000003.pt").write_bytes(before[:1000])  # a torn file from a crash
    assert train(config(clip_folder, tmp_path, steps=3), progress=False)["step"] == 3  # from step 2
    assert good.read_bytes() == before and (tmp_path / "step-00000003.pt.corrupt").read_bytes() == before[:1000]


def test_checkpoints_refuse_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"format": "fsth-checkpoint-1", "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(tmp_path / "evil.pt")
    save_checkpoint(tmp_path / "ok.pt", {"step": 3})
    assert load_checkpoint(tmp_path / "ok.pt")["step"] == 3
    assert not list(tmp_path.glob(".*"))


def test_growing_dataset_grows_w(clip_folder, tmp_path):
    import shutil

    small = tmp_path / "data"
    shutil.copytree(clip_folder / "id0", small / "id0")
    train(config(small, tmp_path / "run", steps=1, checkpoint_every=1), progress=False)
    shutil.copytree(clip_folder / "id1", small / "id1")
    before = load_checkpoint(tmp_path / "run" / "step-00000001.pt")["model"]["discriminator.W.weight"]
    train(config(small, tmp_path / "run", steps=2, checkpoint_every=1), progress=False)
    after = load_checkpoint(tmp_path / "run" / "step-00000002.pt")["model"]["discriminator.W.weight"]
    assert before.shape[0] == 2 and after.shape[0] == 4


@pytest.mark.slow
def test_ddp_with_two_gloo_processes(clip_folder, tmp_path):
    script = tmp_path / "run_ddp.py"
    script.write_text(
        "import os, json, pathlib\n"
        "from fsth.train.config import TrainConfig\nfrom fsth.train.meta import train\n"
        f"cfg = TrainConfig(data={str(clip_folder)!r}, out={str(tmp_path / 'ddp')!r}, model={SMALL_MODEL!r},"
        " k=3, batch_size=2, steps=3, vgg19=None, checkpoint_every=3, image_every=0, max_minutes=60,"
        " optim={'amp': 'none'})\n"
        f"out = pathlib.Path({str(tmp_path)!r}) / ('result-' + os.environ['RANK'] + '.json')\n"
        "out.write_text(json.dumps(train(cfg, progress=False)))\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(script)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    results = [json.loads((tmp_path / f"result-{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["world"] for r in results] == [2, 2] and [r["step"] for r in results] == [3, 3]
    state = load_checkpoint(tmp_path / "ddp" / "step-00000003.pt")
    assert state["step"] == 3


def test_shipped_configs_load_and_typos_are_caught(tmp_path):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "configs"
    for path in sorted(root.glob("*.yaml")):
        cfg = TrainConfig.from_yaml(path)
        assert cfg.preset == path.stem.split("_")[0] and cfg.optim.amp == "auto"  # the hardware decides
    bad = tmp_path / "bad.yaml"
    bad.write_text("preset: tiny\nbatch_sise: 4\n")
    with pytest.raises(ValueError, match="batch_sise"):
        TrainConfig.from_yaml(bad)
    bad.write_text("preset: tiny\nloss: {pixle: 1}\n")
    with pytest.raises(ValueError, match="pixle"):
        TrainConfig.from_yaml(bad)


def test_yaml_numbers_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: tiny\nsteps: 1e3\noptim: {lr_g: 5e-5, lr_d: 2e-4}\n")
    cfg = TrainConfig.from_yaml(path)
    assert cfg.optim.lr_g == 5e-5 and cfg.optim.lr_d == 2e-4 and cfg.steps == 1000
    path.write_text("preset: tiny\noptim: {lr_g: fast}\n")
    with pytest.raises(ValueError, match="optim.lr_g must be a number"):
        TrainConfig.from_yaml(path)


def test_command_line_overrides_merge_into_the_yaml(tmp_path, monkeypatch):
    import fsth.train.meta as meta
    from fsth.cli import main

    seen = {}
    monkeypatch.setattr(meta, "train", lambda cfg: seen.setdefault("cfg", cfg) and {
        "losses": {}, "step": 0, "seconds": 0, "device": "cpu", "clips": 0, "num_videos": 0})
    path = tmp_path / "c.yaml"
    path.write_text("data: d\npreset: tiny\nsteps: 50\noptim: {lr_g: 1.0e-4, amp: bf16}\n")
    assert main(["train", "--config", str(path), "--amp", "none", "--steps", "7"]) == 0
    cfg = seen["cfg"]
    assert cfg.steps == 7 and cfg.optim.amp == "none" and cfg.optim.lr_g == 1e-4


def test_every_config_field_has_a_flag_and_flags_nest_like_the_config():
    """The command line is derived from TrainConfig: a new field needs no second edit."""
    import dataclasses

    from fsth.cli import build_parser
    from fsth.flags import collect

    parser = build_parser()
    args = parser.parse_args(["train", "--steps", "7", "--minutes", "1.5", "--amp", "none", "--loss-pixel", "3",
                              "--optim-lr-g", "1e-4", "--no-compile", "--optim-channels-last", "false"])
    assert collect(args, TrainConfig) == {"steps": 7, "max_minutes": 1.5, "compile": False, "loss": {"pixel": 3.0},
                                          "optim": {"amp": "none", "lr_g": 1e-4, "channels_last": False}}
    flags = parser._subparsers._group_actions[0].choices["train"]._option_string_actions
    for f in dataclasses.fields(TrainConfig):
        if f.name not in ("model",):
            nested = dataclasses.is_dataclass(f.type) or f.name in ("loss", "optim")
            assert nested or "--" + f.name.replace("_", "-") in flags, f.name
