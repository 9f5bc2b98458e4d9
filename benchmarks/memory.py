"""Peak memory of the streaming paths on a long video (the hardening issue: ≤ 1.5 GB for any input).

Makes a 40 s 720p clip (the wolfgang sample scaled to 1280x720 and looped, 24 fps, H.264 — or
``--video`` of your own), then runs, each in its own process, measured by the kernel's peak RSS
(``resource.getrusage(RUSAGE_CHILDREN)`` in a parent of its own):

- ``fsth animate --method warp`` (driving landmarks detected frame by frame, frames rendered and
  written in batches) at 256 px;
- ``fsth detect score`` (frames read, cropped and scored in batches);
- ``fsth landmarks`` on the same video;
- ``fsth animate`` with the demo's options (side by side, watermarked, a gif too), and ``fsth demo`` itself.

    python benchmarks/memory.py [--seconds 40] [--out docs/memory_benchmark.md]
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path



def make_clip(path: Path, seconds: float, fps: float = 24.0) -> Path:
    import cv2

    from fsth.data import samples
    from fsth.io.video import read_frames, write_video

    source = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_CUBIC)
              for f in read_frames(samples.fetch("wolfgang"), range(0, 240))]
    count = int(seconds * fps)
    frames = (source[i % len(source)] for i in range(count))
    return write_video(path, frames, fps=fps)


MEASURE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)"
           ".returncode; print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)")


def peak_rss(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of ``command``, run under a fresh parent process of its
    own so the kernel's per-children peak counts this command only."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True)
    kilobytes, code = out.stdout.split()
    return int(kilobytes) / 1024, time.perf_counter() - started, int(code)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--video", default="", help="your own long video instead of the looped sample")
    parser.add_argument("--out", default="docs/memory_benchmark.md")
    parser.add_argument("--only", nargs="+", default=["animate", "demo", "score", "landmarks"],
                        choices=["animate", "demo", "score", "landmarks"], help="which commands to measure")
    args = parser.parse_args()
    import torch

    fsth = [sys.executable, "-m", "fsth"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = Path(args.video) if args.video else make_clip(tmp / "long.mp4", args.seconds)
        from fsth.assets import SHIPPED_DETECTORS, pretrained_path
        from fsth.data import samples
        from fsth.io.video import probe

        info = probe(video)
        runs = {"animate --method warp --size 256": fsth + ["animate", "--method", "warp", "--shots",
                                                            str(samples.fetch("monalisa")), "--driving", str(video),
                                                            "--out", str(tmp / "out.mp4")],
                "animate --side-by-side --watermark --gif (the demo's options)": fsth + [
                    "animate", "--method", "warp", "--shots", str(samples.fetch("monalisa")), "--driving", str(video),
                    "--out", str(tmp / "panels.mp4"), "--side-by-side", "--watermark", "--gif", str(tmp / "panels.gif")],
                "demo (its own inputs: 6 s of the wolfgang sample)": fsth + ["demo", "--out", str(tmp / "demo")],
                "detect score (the shipped frequency detector)": fsth + [
                    "detect", "score", str(video), "--detector", str(pretrained_path(SHIPPED_DETECTORS["frequency"]))],
                "landmarks": fsth + ["landmarks", str(video), "--out", str(tmp / "points.npy")]}
        rows = []
        for name, command in runs.items():
            if not any(word in name for word in args.only):
                continue
            mb, seconds, code = peak_rss(command)
            rows.append((name, mb, seconds, code))
            print(f"{name}: peak RSS {mb:.0f} MB, {seconds:.0f} s, exit {code}", flush=True)
    cpu = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, " \
          f"{torch.backends.cpu.get_cpu_capability()}"
    lines = [f"Peak memory on a {info.frames}-frame {info.width}x{info.height} video "
             f"({info.frames / max(info.fps, 1e-6):.0f} s at {info.fps:g} fps); CPU: {cpu}. "
             "Each command in its own process, peak RSS as the kernel counts it (`python benchmarks/memory.py`).",
             "", "| command | peak RSS (MB) | seconds | exit |", "|---|---|---|---|"]
    lines += [f"| `fsth {name}` | {mb:.0f} | {seconds:.0f} | {code} |" for name, mb, seconds, code in rows]
    from fsth.io.atomic import atomic_write_text

    atomic_write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(code == 0 for *_, code in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
