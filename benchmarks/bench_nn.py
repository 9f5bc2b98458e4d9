"""Network figures on this CPU, per preset: parameters, forward FLOPs, one meta-learning
step (E+G+D updates, K = 8) per precision mode, peak memory, and generator frames/s at
inference (embedding computed once). Modes: ``fp32`` (NCHW), ``fp32-cl`` (channels_last),
``bf16`` (autocast + channels_last), ``auto`` (what ``fsth.hardware.choose`` picks here).

    python benchmarks/bench_nn.py [--presets tiny small paper] [--modes fp32 bf16] [--json out.json]
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_nn.py   # an AVX2 CPU

Each measurement runs in its own process so peak memory (max RSS) is its own. The
``paper`` step uses the public re-implementation's settings: batch 2, K = 8, 256 px, with
a content loss through VGG19-sized random-weight features, and the embedder's
activations recomputed in backward (``checkpoint_embedder``) to stay under 4 GiB.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

BATCH = {"tiny": 8, "small": 8, "paper": 2}


def measure(preset: str, mode: str, what: str, steps: int, num_videos: int = 1000) -> dict:
    import resource

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import fsth.nn as fnn
    from fsth.losses import ContentLoss, LossWeights
    from fsth.train.step import MetaStep, OptimConfig

    from fsth.hardware import choose

    torch.manual_seed(0)
    if mode == "auto":
        picked = choose("cpu")
        bf16, channels_last = picked.amp == "bf16", picked.channels_last
    else:
        bf16, channels_last = mode == "bf16", mode in ("bf16", "fp32-cl")
    model = fnn.create(preset, num_videos=num_videos)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    size, k, b = model.config.image_size, 8, BATCH[preset]
    rand = lambda *s: (torch.rand(*s) * 2 - 1)  # noqa: E731
    out = {"preset": preset, "mode": mode, "what": what}
    if what == "step":
        content = ContentLoss(vgg19="random") if preset == "paper" else None
        optim = OptimConfig(amp="bf16" if bf16 else "none", channels_last=channels_last,
                            checkpoint_embedder=preset == "paper")
        step = MetaStep(model, content, LossWeights(), optim)
        batch = dict(shots=rand(b, k, 3, size, size), shot_landmarks=rand(b, k, 3, size, size),
                     target=rand(b, 3, size, size), target_landmarks=rand(b, 3, size, size),
                     video=torch.randint(0, num_videos, (b,)))
        with FlopCounterMode(display=False) as counter:
            step(batch)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step(batch)
            times.append(time.perf_counter() - start)
        out.update(batch=b, k=k, step_s=min(times), step_gflop=counter.get_total_flops() / 1e9)
    else:
        model.eval()
        G = model.generator
        frames = 16 if preset != "paper" else 4
        y = rand(frames, 3, size, size).contiguous(memory_format=fmt)
        with torch.no_grad():
            e_hat = model.embedder.embed(rand(1, k, 3, size, size), rand(1, k, 3, size, size)).expand(frames, -1)
            with FlopCounterMode(display=False) as counter:
                G(y[:1], e_hat[:1])
            ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
            with ctx:
                G(y, e_hat)
                times = []
                for _ in range(steps):
                    start = time.perf_counter()
                    G(y, e_hat)
                    times.append(time.perf_counter() - start)
        out.update(frame_s=min(times) / frames, g_forward_gflop=counter.get_total_flops() / 1e9)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.embedder(rand(1, 3, size, size), rand(1, 3, size, size))
        out["e_forward_gflop"] = counter.get_total_flops() / 1e9
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model.discriminator(rand(1, 3, size, size), rand(1, 3, size, size), torch.tensor([0]))
        out["d_forward_gflop"] = counter.get_total_flops() / 1e9
        out["params_m"] = {k: v / 1e6 for k, v in model.parameter_counts().items()}
    out["precision"] = ("bf16" if bf16 else "fp32") + (" channels_last" if channels_last else "")
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=["tiny", "small", "paper"])
    parser.add_argument("--modes", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--json")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--videos", type=int, default=1000, help="rows of W (VoxCeleb2: ~145,000)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child[:2], args.child[2], args.steps, args.videos)))
        return
    from fsth.hardware import choose, cpu_facts, usable_cores

    facts = cpu_facts()
    print(f"CPU capability {facts['capability']} (AVX-512 BF16 {facts['avx512_bf16']}, AMX {facts['amx']}, "
          f"oneDNN bf16 {facts['onednn_bf16']}, ONEDNN_MAX_CPU_ISA {facts['onednn_max_isa']}), "
          f"{usable_cores()} usable cores; auto picks: {choose('cpu').reason}")
    rows = []
    for preset in args.presets:
        for mode in args.modes:
            for what in ("generator", "step"):
                cmd = [sys.executable, __file__, "--steps", str(args.steps), "--videos", str(args.videos),
                       "--child", preset, mode, what]
                result = subprocess.run(cmd, capture_output=True, text=True)
                if result.returncode:
                    print(result.stderr[-2000:], file=sys.stderr)
                    continue
                row = json.loads(result.stdout.strip().splitlines()[-1])
                rows.append(row)
                if what == "generator":
                    p = row["params_m"]
                    print(f"{preset:5s} {mode} [{row['precision']}]: params E {p['embedder']:.2f}M G {p['generator']:.2f}M "
                          f"D {p['discriminator']:.2f}M | forward GFLOP E {row['e_forward_gflop']:.2f} "
                          f"G {row['g_forward_gflop']:.2f} D {row['d_forward_gflop']:.2f} | generator "
                          f"{row['frame_s'] * 1e3:.1f} ms/frame = {1 / row['frame_s']:.1f} frames/s "
                          f"({row['g_forward_gflop'] / row['frame_s']:.0f} GFLOP/s)")
                else:
                    rate = row["step_gflop"] / row["step_s"]
                    print(f"{preset:5s} {mode} [{row['precision']}]: train step batch {row['batch']} K {row['k']} "
                          f"W rows {args.videos}: "
                          f"{row['step_s']:.3f} s, {row['step_gflop']:.0f} GFLOP, {rate:.0f} GFLOP/s, peak RSS {row['peak_rss_gib']:.2f} GiB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
