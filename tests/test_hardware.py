"""The precision policy (bf16 only where the CPU has it natively), thread count, and time-boxed runs."""
import logging

import pytest
import torch

from fsth import hardware
from fsth.train.config import TrainConfig
from fsth.train.meta import train
from tests.helpers import SMALL_MODEL

AVX2 = {"capability": "AVX2", "avx512_bf16": False, "amx": False, "onednn_bf16": False, "onednn_max_isa": None}
AMX = {"capability": "AVX512", "avx512_bf16": True, "amx": True, "onednn_bf16": True, "onednn_max_isa": None}


def with_facts(monkeypatch, facts):
    monkeypatch.setattr(hardware, "cpu_facts", lambda: dict(facts))
    monkeypatch.setattr(hardware, "measured_cpu_bf16_speedup",
                        lambda *a, **k: pytest.fail("measured although PyTorch's answers settle it"))


def test_avx2_gets_fp32_and_amx_gets_bf16(monkeypatch):
    with_facts(monkeypatch, AVX2)
    chosen = hardware.choose("cpu")
    assert chosen.amp == "none" and chosen.dtype == torch.float32
    assert chosen.reason == "CPU: AVX2, no native bf16 → fp32"
    with_facts(monkeypatch, AMX)
    chosen = hardware.choose("cpu")
    assert chosen.amp == "bf16" and "native bf16 → bf16" in chosen.reason


def test_a_newer_cpu_limited_to_avx2_gets_fp32(monkeypatch):
    """ONEDNN_MAX_CPU_ISA=AVX2 on a CPU with AVX-512 BF16: oneDNN emulates bf16, so fp32."""
    with_facts(monkeypatch, {**AMX, "onednn_max_isa": "AVX2"})
    assert hardware.choose("cpu").amp == "none"
    with_facts(monkeypatch, {**AMX, "capability": "AVX2"})  # ATEN_CPU_CAPABILITY=avx2
    assert hardware.choose("cpu").amp == "none"
    with_facts(monkeypatch, {**AMX, "amx": False, "avx512_bf16": False})  # AVX-512 without BF16
    assert hardware.choose("cpu").amp == "none"


def test_the_real_queries_answer_on_this_machine():
    facts = hardware.cpu_facts()
    assert set(facts) == set(AVX2) and facts["capability"] != "unknown"
    assert hardware.choose("cpu").amp in ("none", "bf16")


def test_in_doubt_a_cached_micro_benchmark_decides(monkeypatch, tmp_path):
    monkeypatch.setattr(hardware, "cpu_facts", lambda: {**AMX, "capability": "SVE256", "amx": None,
                                                        "avx512_bf16": None})
    timings = {torch.float32: 2.0, torch.bfloat16: 1.0}
    calls = []
    monkeypatch.setattr(hardware, "_time_conv", lambda dtype: calls.append(dtype) or timings[dtype])
    cache = tmp_path / "precision.json"
    monkeypatch.setattr(hardware, "measured_cpu_bf16_speedup",
                        lambda cache=cache, f=hardware.measured_cpu_bf16_speedup: f(cache))
    chosen = hardware.choose("cpu")
    assert chosen.amp == "bf16" and "measured faster" in chosen.reason and len(calls) == 2
    assert hardware.choose("cpu").amp == "bf16" and len(calls) == 2  # second time from the cache
    timings[torch.bfloat16] = 5.0  # emulated bf16: five times slower
    cache.unlink()
    assert hardware.choose("cpu").amp == "none"


def test_forcing_and_bad_values(monkeypatch):
    with_facts(monkeypatch, AVX2)
    forced = hardware.choose("cpu", "bf16")
    assert forced.amp == "bf16" and "forced to bf16" in forced.reason
    assert hardware.choose("cpu", channels_last=False).channels_last is False
    with pytest.raises(ValueError, match="int8"):
        hardware.choose("cpu", "int8")
    with pytest.raises(ValueError, match="optim.amp.*int8"):
        TrainConfig(optim={"amp": "int8"})


def test_usable_cores_honours_a_cgroup_quota(monkeypatch, tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert hardware._cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert hardware._cgroup_quota(tmp_path) is None
    monkeypatch.setattr(hardware, "_cgroup_quota", lambda: 1.5)
    monkeypatch.setattr(hardware.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert hardware.usable_cores() == 2
    monkeypatch.setattr(hardware, "_cgroup_quota", lambda: None)
    assert hardware.usable_cores() == 4
    before = torch.get_num_threads()
    try:
        assert hardware.configure_threads(workers=1) == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_a_run_with_amp_auto_logs_its_choice(clip_folder, tmp_path, caplog, monkeypatch):
    with_facts(monkeypatch, AVX2)
    hardware._logged.clear()
    config = TrainConfig(data=str(clip_folder), out=str(tmp_path), model=SMALL_MODEL, k=3, batch_size=2, steps=1,
                         vgg19=None, image_every=0)
    assert config.optim.amp == "auto"
    with caplog.at_level(logging.INFO, logger="fsth.hardware"):
        train(config, progress=False)
    assert "precision: CPU: AVX2, no native bf16 → fp32" in caplog.text


def test_a_time_boxed_run_always_leaves_a_grid_and_a_checkpoint(clip_folder, tmp_path):
    """A machine too slow for even one interval still ends with something to show and resume."""
    config = TrainConfig(data=str(clip_folder), out=str(tmp_path), model=SMALL_MODEL, k=3, batch_size=2,
                         steps=1000, max_minutes=1e-6, vgg19=None, image_every=500, checkpoint_every=500)
    summary = train(config, progress=False)
    assert summary["step"] == 1
    assert [p.name for p in (tmp_path / "samples").glob("*.png")] == ["step-00000001.png"]
    assert (tmp_path / "step-00000001.pt").exists()


def test_show_with_nothing_yet_says_so(capsys):
    from fsth.exercises import show

    show([], title="samples")
    assert "nothing to show yet" in capsys.readouterr().out


def test_shipped_models_run_in_fp32_without_native_bf16(monkeypatch, tmp_path):
    """The pretrained files are stored in fp16; on an AVX2 CPU they load and run (and one fine-tunes) in fp32."""
    import numpy as np

    from detector import models as detectors
    from fsth.assets import COURSE_MODEL, GUIDED_MODEL, LAYERED_MODEL, PAPER_MODEL, SHIPPED_MODEL, pretrained_path
    from fsth.person import load_model
    from fsth.train.finetune import finetune

    with_facts(monkeypatch, AVX2)
    for name in (SHIPPED_MODEL, PAPER_MODEL, LAYERED_MODEL, GUIDED_MODEL, COURSE_MODEL):
        model = load_model(pretrained_path(name))
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        rng = np.random.default_rng(0)
        size = model.config.image_size
        shots = rng.integers(0, 255, (1, size, size, 3), dtype=np.uint8)
        points = np.stack(np.meshgrid(np.linspace(16, 48, 17), np.linspace(20, 44, 4)), -1).reshape(-1, 2)[:68]
        landmarks = points[None].astype(np.float32)
        person = finetune(model, shots, landmarks, steps=int(name == SHIPPED_MODEL), progress=False)  # one trains
        frames = person.render(landmarks)
        assert frames.shape == (1, size, size, 3) and frames.dtype == np.uint8 and frames.std() > 0, name
    resnet = detectors.create("residual", image_size=64)  # the CNN's fp16 storage, as a shipped CNN is saved
    resnet = detectors.load(resnet.save(tmp_path / "cnn.pt", half=True))
    assert {p.dtype for p in resnet.net.parameters()} == {torch.float32}
    p_fake = resnet.predict_proba(frames)
    assert np.isfinite(p_fake).all() and 0 <= p_fake.min() <= p_fake.max() <= 1
    frequency = detectors.load(pretrained_path(detectors.SHIPPED["frequency"]))
    p_fake = frequency.predict_proba(frames)
    assert np.isfinite(p_fake).all() and 0 <= p_fake.min() <= p_fake.max() <= 1
