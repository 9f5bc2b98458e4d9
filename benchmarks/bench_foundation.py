"""Foundation figures on this CPU: landmark detection, landmark drawing, preprocessing.

    python benchmarks/bench_foundation.py [--quick]

FAN is timed with random weights (its real weights can't be fetched offline); its speed
does not depend on the weights' values. Prints one table; also writes JSON with --json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_landmarks(frames, results):
    from fsth.landmarks import create_detector

    dlib = create_detector("dlib")
    boxes_s = timed(lambda: [dlib.boxes(f) for f in frames]) / len(frames)
    total_s = timed(lambda: list(dlib.detect_frames(frames))) / len(frames)
    results["dlib_fps"] = 1 / total_s
    results["hog_boxes_ms"] = boxes_s * 1e3
    results["dlib_points_ms"] = (total_s - boxes_s) * 1e3

    import torch
    from face_alignment.models import FAN

    with tempfile.TemporaryDirectory() as home:
        os.environ["TORCH_HOME"] = home
        ckpt = Path(home, "hub", "checkpoints")
        ckpt.mkdir(parents=True)
        from fsth.landmarks.detect import FAN_WEIGHTS_FILE

        torch.save(FAN(4).state_dict(), ckpt / FAN_WEIGHTS_FILE)
        fan = create_detector("fan", batch_size=8)
        list(fan.detect_frames(frames[:2]))  # warm up
        fan_s = timed(lambda: list(fan.detect_frames(frames)), repeat=2) / len(frames)
        results["fan_fps"] = 1 / fan_s
        results["fan_net_ms"] = (fan_s - boxes_s) * 1e3
    del os.environ["TORCH_HOME"]


def bench_drawing(points, results):
    from fsth.landmarks import draw_landmarks

    batch = np.repeat(points[None], 256, axis=0) + np.random.default_rng(0).normal(0, 2, (256, 68, 2))
    results["draw_fps_256"] = len(batch) / timed(lambda: draw_landmarks(batch, 256))
    results["draw_fps_64"] = len(batch) / timed(lambda: draw_landmarks(batch / 4, 64))


def bench_preprocess(results, quick):
    from fsth.data import samples
    from fsth.io.clips import list_clips
    from fsth.data.preprocess import Settings, preprocess

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "src")
        src.mkdir()
        for copy in range(2 if quick else 4):
            for name in ("carphone", "wolfgang", "single_face"):
                shutil.copy(samples.fetch(name), src / f"{name}{copy}.mp4")
        for workers in ((1,) if quick else (1, 2)):
            out = Path(tmp, f"out{workers}")
            summary = preprocess(src, out, Settings(size=256, frames=32, backend="dlib"),
                                 workers=workers, progress=False)
            results[f"preprocess_clips_per_min_w{workers}"] = 60 * summary["done"] / summary["seconds"]
            results[f"preprocess_frames_per_s_w{workers}"] = summary["frames"] / summary["seconds"]
        clips = list_clips(out)
        frames = summary["frames"]
        size = sum(p.stat().st_size for p in clips)
        results["bytes_per_frame_256"] = size / frames
        results["gb_per_1000_clips_of_32_frames_256"] = size / frames * 32 * 1000 / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    import torch

    from fsth.data import samples
    from fsth.io.video import read_frames
    from fsth.landmarks import create_detector

    frames = list(read_frames(samples.fetch("wolfgang"), range(0, 64 if not args.quick else 16, 2)))
    results = {"cpu_threads": torch.get_num_threads(), "frame_size": f"{frames[0].shape[1]}x{frames[0].shape[0]}"}
    bench_landmarks(frames, results)
    points = create_detector("dlib").detect(frames[0])
    scale = 256 / max(np.ptp(points, axis=0))
    bench_drawing((points - points.min(0)) * scale * 0.8 + 20, results)
    bench_preprocess(results, args.quick)
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:{width}s}  {value:.1f}" if isinstance(value, float) else f"{key:{width}s}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
