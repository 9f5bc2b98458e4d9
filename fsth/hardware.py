"""What this machine does fastest: the precision, memory layout and thread count fsth uses.

bfloat16 autocast is several times *faster* than fp32 on CPUs with native bf16 (AVX-512 BF16,
AMX) and several times *slower* where PyTorch has to emulate it (plain AVX2 — most laptops).
So ``amp: auto`` (the default everywhere) asks PyTorch what the CPU can do:

    choose(torch.device("cpu"))   # Precision(amp='none', channels_last=True, reason='CPU: AVX2, ...')

and ``usable_cores()`` counts the cores this process may really use (affinity and cgroup quota),
not the cores the machine has.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)
AMP_CHOICES = ("auto", "none", "bf16", "fp16")
# ONEDNN_MAX_CPU_ISA values under which oneDNN has no bf16 instructions
_ONEDNN_NO_BF16 = {"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX_VNNI"}


@dataclass(frozen=True)
class Precision:
    amp: str  # "none" (fp32) | "bf16" | "fp16": the autocast dtype actually used
    channels_last: bool  # NHWC memory layout for images and conv weights
    reason: str  # the choice in plain words, for the log

    @property
    def dtype(self) -> torch.dtype:
        return {"none": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.amp]


def cpu_facts() -> dict:
    """What PyTorch says about this CPU (each query may be missing on older or non-x86 builds)."""
    def ask(fn, default=None):
        try:
            return fn()
        except (AttributeError, RuntimeError):
            return default

    return {
        "capability": ask(torch.backends.cpu.get_cpu_capability, "unknown"),
        "avx512_bf16": ask(torch.cpu._is_avx512_bf16_supported),
        "amx": ask(torch.cpu._is_amx_tile_supported),
        "onednn_bf16": ask(torch.ops.mkldnn._is_mkldnn_bf16_supported),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() or None,
    }


def native_cpu_bf16(facts: dict | None = None) -> bool | None:
    """True / False when PyTorch's answers settle it; None when in doubt (then we measure)."""
    facts = facts or cpu_facts()
    cap = str(facts["capability"]).upper()
    if facts["onednn_max_isa"] in _ONEDNN_NO_BF16 or cap in ("AVX2", "AVX", "DEFAULT", "NO AVX"):
        return False  # includes a newer CPU limited to AVX2 by ONEDNN_MAX_CPU_ISA / ATEN_CPU_CAPABILITY
    if facts["onednn_bf16"] is False:
        return False
    if cap.startswith("AVX512"):
        if facts["amx"] or facts["avx512_bf16"]:
            return True
        if facts["amx"] is False and facts["avx512_bf16"] is False:
            return False  # AVX-512 without BF16 (e.g. Skylake): emulated
    return None  # ARM, POWER, or a build without the queries


def choose(device: torch.device | str, amp: str = "auto", channels_last: bool | str = "auto") -> Precision:
    """The precision and layout to run in on ``device``; ``amp`` other than "auto" forces a choice."""
    device = torch.device(device)
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {', '.join(AMP_CHOICES)}; got {amp!r}")
    if channels_last not in (True, False, "auto"):
        raise ValueError(f"channels_last must be true, false or auto; got {channels_last!r}")
    if device.type == "cuda":
        picked = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        reason = f"CUDA {torch.cuda.get_device_name(device)} → {picked}"
    elif device.type == "cpu":
        facts = cpu_facts()
        native = native_cpu_bf16(facts)
        how = "native bf16" if native else "no native bf16"
        if native is None:
            native = measured_cpu_bf16_speedup() >= 1.2
            how = "bf16 measured " + ("faster" if native else "not faster")
        picked = "bf16" if native else "none"
        reason = f"CPU: {facts['capability']}, {how} → {'bf16' if native else 'fp32'}"
    else:  # mps and others: fp32 is the safe default
        picked, reason = "none", f"{device.type} → fp32"
    if amp != "auto":
        picked, reason = amp, f"{reason}; forced to {'fp32' if amp == 'none' else amp} (amp: {amp})"
    # channels_last pays with oneDNN in fp32 and bf16 alike on the CPUs measured (docs/benchmarks.md)
    layout = (device.type in ("cpu", "cuda")) if channels_last == "auto" else bool(channels_last)
    return Precision(picked, layout, reason)


def autocast(device: torch.device | str, amp: str):
    """Autocast to ``amp`` ("none": fp32, no autocast). Resolve "auto" with :func:`choose` first."""
    if amp == "none":
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    return torch.autocast(torch.device(device).type, dtype=dtype)


_logged: set[str] = set()


def log_choice(precision: Precision) -> None:
    """Say the choice once per process, in plain words."""
    if precision.reason not in _logged:
        _logged.add(precision.reason)
        log.info("precision: %s%s", precision.reason, ", channels_last" if precision.channels_last else "")


def measured_cpu_bf16_speedup(cache: Path | None = None) -> float:
    """fp32 time / bf16 time of a 3x3 convolution (~0.3 s to measure), cached per machine."""
    from .io.atomic import atomic_write_text
    from .io.cache import cache_dir

    cache = cache or cache_dir() / "precision.json"
    key = f"{platform.machine()}|{platform.processor() or _cpu_model()}|torch {torch.__version__}|" \
          f"{os.environ.get('ONEDNN_MAX_CPU_ISA', '')}|{os.environ.get('ATEN_CPU_CAPABILITY', '')}"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if isinstance(known.get(key), (int, float)) and math.isfinite(known[key]):
        return float(known[key])
    speedup = _time_conv(torch.float32) / _time_conv(torch.bfloat16)
    known[key] = round(speedup, 3)
    try:
        atomic_write_text(cache, json.dumps(known, indent=1))  # another process may be reading it
    except OSError:
        pass  # a read-only cache only costs a re-measurement next time
    return speedup


def _time_conv(dtype: torch.dtype, repeats: int = 5) -> float:
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(8, 64, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        conv(x)
        start = time.perf_counter()
        for _ in range(repeats):
            conv(x)
    return (time.perf_counter() - start) / repeats


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by a cgroup CPU quota (containers)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, math.ceil(quota)) if quota else cores)


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``; None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def configure_threads(workers: int = 0, device: torch.device | str = "cpu") -> int:
    """Give torch the usable cores, less one per DataLoader worker when they share a CPU."""
    cores = usable_cores()
    threads = max(1, cores - workers) if torch.device(device).type == "cpu" else cores
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        log.debug("torch threads: %d (%d usable cores, %d data workers)", threads, cores, workers)
    return threads
