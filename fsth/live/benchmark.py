"""How fast the live loop runs here: a video replayed as the camera, without a browser.

Each frame of the video is JPEG-encoded first (untimed: that is the browser's work) and handed to
:meth:`fsth.live.loop.LiveLoop.step` as bytes at its own time in the video (frame i at i / fps,
so the One-Euro filter sees the video's motion), so every stage a live frame goes through is
timed: decode, track, adapt, render, mark, encode. Frames/s is the number of frames over the
loop's own time (the sum of the steps; reading the video file is not counted).

    summary = run_benchmark("wolfgang", method="guided-warp", size=256, max_frames=100)
    print(format_table(summary))
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from .loop import STAGES, LiveLoop

INPUT_QUALITY = 90  # JPEG quality of the replayed camera frames


def replay(loop: LiveLoop, video, max_frames: int = 0) -> tuple[list[dict[str, float]], list[np.ndarray]]:
    """Step ``loop`` through ``video`` (a path; at most ``max_frames``, 0: all): each frame's
    timings and the output frames."""
    from ..io.video import probe, read_frames

    info = probe(video)
    count = min(info.frames, max_frames) if max_frames else info.frames
    if count == 0:
        raise ValueError(f"{video}: no frames to replay")
    fps = info.fps if info.fps and info.fps > 0 else 25.0
    timings, frames = [], []
    for index, frame in enumerate(read_frames(video, range(count))):
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, INPUT_QUALITY])
        out, timing = loop.step(jpeg.tobytes(), t=index / fps)
        timings.append(timing)
        frames.append(out)
    return timings, frames


def summarise(timings: list[dict[str, float]]) -> dict:
    """frames, frames/s, per stage (and ``total``) the p50, p95 and mean in milliseconds, and the
    first frame's total (it searches the whole frame for the face)."""
    stages = {}
    for stage in (*STAGES, "total"):
        values = np.array([t[stage] for t in timings])
        stages[stage] = {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
                         "mean": float(values.mean())}
    total = sum(t["total"] for t in timings) / 1000
    return {"frames": len(timings), "frames_per_second": len(timings) / total if total > 0 else float("nan"),
            "stages": stages, "first_frame_ms": timings[0]["total"] if timings else float("nan")}


def run_benchmark(video, portrait: str = "monalisa", method: str = "guided-warp", size: int = 256,
                  max_frames: int = 0, ft_steps: int = 0, threads: int | None = None) -> dict:
    """Replay ``video`` (a path or a sample's name) through a live loop rendering ``portrait`` (an
    image path or a sample's name) with ``method`` (``fsth.live.renderers.METHODS``) at ``size``
    px; returns :func:`summarise`'s figures with what was run, the tracker's counts and the CPU.
    threads: torch's threads (default: ``fsth.live.renderers.LIVE_THREADS``)."""
    import torch

    from ..hardware import _cpu_model, cpu_facts
    from .portrait import media_path, portrait_shots
    from .renderers import LIVE_THREADS, live_renderer
    from .tracker import LandmarkTracker

    threads = threads or LIVE_THREADS
    torch.set_num_threads(threads)
    path = media_path(str(video), "video", "--benchmark")
    tracker = LandmarkTracker()
    shots, points = portrait_shots(portrait, size, tracker.detector)
    started = time.perf_counter()
    renderer = live_renderer(method, shots, points, ft_steps=ft_steps)
    setup = time.perf_counter() - started
    renderer.render(points[:1])  # warm up: the first call pays for allocations, not the loop
    loop = LiveLoop(renderer, tracker, threads=threads)
    timings, _ = replay(loop, path, max_frames)
    summary = summarise(timings)
    summary.update({"video": str(video), "portrait": portrait, "method": method, "size": size,
                    "ft_steps": ft_steps if method == "model" else None, "setup_seconds": setup,
                    "detections": tracker.detections, "local_searches": tracker.local_searches,
                    "tracked": tracker.tracked, "missed": tracker.missed,
                    "torch_threads": torch.get_num_threads(), "cpu_capability": cpu_facts()["capability"],
                    "cpu": _cpu_model()})
    return summary


def format_table(summary: dict) -> str:
    """A small text table: one row per stage, p50 / p95 / mean in ms, then frames/s."""
    lines = [f"{summary['method']} at {summary['size']} px, {summary['frames']} frames of {summary['video']} "
             f"(portrait {summary['portrait']}; {summary['cpu']}, {summary['cpu_capability']}, "
             f"{summary['torch_threads']} torch thread(s))",
             f"{'stage':8s} {'p50 ms':>8s} {'p95 ms':>8s} {'mean ms':>8s}"]
    for stage, figures in summary["stages"].items():
        lines.append(f"{stage:8s} {figures['p50']:8.1f} {figures['p95']:8.1f} {figures['mean']:8.1f}")
    lines.append(f"{summary['frames_per_second']:.1f} frames/s (first frame {summary['first_frame_ms']:.0f} ms); "
                 f"face found by searching the whole frame "
                 f"{summary['detections']}x, tracked in {summary['tracked']} frame(s) "
                 f"({summary['local_searches']} local searches), no face in {summary['missed']}")
    return "\n".join(lines)

