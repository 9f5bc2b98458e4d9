"""Turn folders of face videos or portraits into training-ready clips (`fsth preprocess`).

Source layouts (detected per file):
  id/video/clip.mp4   VoxCeleb2-style: identity ``id``, video ``video``
  id/clip.mp4         identity ``id``
  clip.mp4            identity ``clip``
  id/*.jpg            a folder of images is one clip of identity ``id`` (its photos)
  portrait.jpg        one single-frame clip of identity ``portrait``
The output mirrors the source tree: ``OUT/<relative path>.npz`` (see ``fsth.data.clips``).
Re-running skips finished clips; failures are listed in ``OUT/failures.tsv`` and never stop the run.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .clips import save_clip
from .crop import crop_face, face_box, smooth_boxes
from .images import IMAGE_EXTENSIONS, read_image
from .video import VIDEO_EXTENSIONS, probe, read_frames

log = logging.getLogger(__name__)
FAILURE_LOG = "failures.tsv"


@dataclass
class Job:
    source: str  # a video file, an image, or a folder of images
    kind: str  # "video" | "image" | "images"
    identity: str
    video: str
    out: str  # output path relative to OUT


@dataclass
class Settings:
    size: int = 256
    frames: int = 32  # frames sampled evenly per video (0: all)
    backend: str = "auto"
    margin: float = 0.7
    smooth_seconds: float = 0.3
    min_frames: int = 2  # a video clip needs at least this many frames with a face
    quality: int = 95


def discover(src: str | os.PathLike) -> list[Job]:
    """Find every video, image folder and single portrait under ``src``."""
    src = Path(src)
    if src.is_file():
        kind = "video" if src.suffix.lower() in VIDEO_EXTENSIONS else "image"
        return [Job(str(src), kind, src.stem, src.stem, src.stem + ".npz")]
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such file or folder")
    jobs, image_dirs = [], set()
    for path in sorted(src.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        rel = path.relative_to(src)
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS:
            identity = rel.parts[0] if len(rel.parts) > 1 else path.stem
            video = rel.parts[-2] if len(rel.parts) > 2 else path.stem
            jobs.append(Job(str(path), "video", identity, video, str(rel.with_suffix(".npz"))))
        elif suffix in IMAGE_EXTENSIONS:
            if len(rel.parts) == 1:
                jobs.append(Job(str(path), "image", path.stem, path.stem, str(rel.with_suffix(".npz"))))
            else:
                image_dirs.add(path.parent)
    for folder in sorted(image_dirs):
        rel = folder.relative_to(src)
        jobs.append(Job(str(folder), "images", rel.parts[0], folder.name, str(rel) + ".npz"))
    return jobs


def sample_indices(total: int, wanted: int) -> np.ndarray:
    """``wanted`` frame indices spread evenly over ``total`` frames (all when wanted is 0)."""
    if wanted <= 0 or wanted >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, wanted).round().astype(np.int64))


def process_job(job: Job, out_root: Path, settings: Settings, detector) -> dict:
    """Preprocess one source into one clip file. Raises ValueError with the reason on failure."""
    fps, times = 25.0, None
    if job.kind == "video":
        info = probe(job.source)
        fps = info.fps
        indices = sample_indices(info.frames, settings.frames)
        frames = list(read_frames(job.source, indices))
        indices = indices[:len(frames)]
        names = [f"frame {i}" for i in indices]
    elif job.kind == "image":
        frames, indices, names = [read_image(job.source)], np.array([0]), [job.source]
    else:
        files = sorted(p for p in Path(job.source).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        frames, indices, names = [], [], []
        for i, file in enumerate(files):
            try:
                frames.append(read_image(file))
                indices.append(i)
                names.append(file.name)
            except ValueError as err:
                log.warning("%s", err)
        indices = np.array(indices, np.int64)
    if not frames:
        raise ValueError("no readable frames")

    points = list(detector.detect_frames(frames, source=job.source, on_missing="skip",
                                         video=job.kind == "video"))
    keep = [i for i, p in enumerate(points) if p is not None]
    needed = settings.min_frames if job.kind == "video" else 1
    if len(keep) < min(needed, len(frames)) or not keep:
        raise ValueError(f"no face found ({len(keep)} of {len(frames)} frames had one)")
    points = np.stack([points[i] for i in keep])
    boxes = face_box(points, margin=settings.margin)
    if job.kind == "video":
        times = indices[keep]
        boxes = smooth_boxes(boxes, times, sigma=settings.smooth_seconds * fps)
    crops, crop_points, used = [], [], []
    for i, box, pts in zip(keep, boxes, points):
        crop, moved, box_used = crop_face(frames[i], box, settings.size, pts)
        crops.append(crop)
        crop_points.append(moved)
        used.append(box_used)
    meta = {
        "identity": job.identity, "video": job.video, "source": job.source, "kind": job.kind,
        "frame_indices": np.asarray(indices)[keep], "frame_names": [names[i] for i in keep],
        "boxes": np.stack(used), "source_size": [frames[keep[0]].shape[1], frames[keep[0]].shape[0]],
        "backend": detector.name, "fps": fps, "margin": settings.margin,
        "dropped_frames": len(frames) - len(keep), "synthetic": False,
    }
    save_clip(out_root / job.out, np.stack(crops), np.stack(crop_points), meta, settings.quality)
    return {"frames": len(keep), "dropped": len(frames) - len(keep)}


_WORKER: dict = {}


def _init_worker(backend: str, threads: int):
    import cv2

    from ..landmarks import create_detector

    cv2.setNumThreads(threads)
    if backend != "dlib":  # only FAN runs torch; importing it costs each worker seconds
        import torch

        torch.set_num_threads(threads)
    _WORKER["detector"] = create_detector(backend)


def _run_in_worker(job: Job, out_root: Path, settings: Settings):
    return _run(job, out_root, settings, _WORKER["detector"])


def _run(job, out_root, settings, detector):
    try:
        return job, process_job(job, out_root, settings, detector), None
    except Exception as err:  # one bad input never stops the run: report it instead
        return job, None, f"{type(err).__name__}: {err}" if not isinstance(err, ValueError) else str(err)


def preprocess(src: str | os.PathLike, out: str | os.PathLike, settings: Settings | None = None,
               workers: int = 1, progress: bool = True) -> dict:
    """Preprocess every source under ``src`` into ``out``; returns counts and failures."""
    settings = settings or Settings()
    out_root = Path(out)
    out_root.mkdir(parents=True, exist_ok=True)
    jobs = discover(src)
    todo = [j for j in jobs if not (out_root / j.out).exists()]
    (out_root / FAILURE_LOG).unlink(missing_ok=True)
    summary = {"found": len(jobs), "skipped": len(jobs) - len(todo), "done": 0, "failed": 0,
               "frames": 0, "failures": []}
    started = time.perf_counter()
    bar = tqdm(total=len(todo), desc="preprocess", unit="clip", disable=not progress)

    def record(job, result, error):
        if error is None:
            summary["done"] += 1
            summary["frames"] += result["frames"]
        else:
            summary["failed"] += 1
            summary["failures"].append((job.source, error))
            with open(out_root / FAILURE_LOG, "a") as f:
                f.write(f"{job.source}\t{' '.join(error.split())}\n")
        bar.update()
        bar.set_postfix(ok=summary["done"], failed=summary["failed"])

    if workers <= 1 or len(todo) <= 1:
        from ..landmarks import create_detector

        detector = create_detector(settings.backend) if todo else None
        for job in todo:
            record(*_run(job, out_root, settings, detector))
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(settings.backend, threads)) as pool:
            futures = {pool.submit(_run_in_worker, job, out_root, settings): job for job in todo}
            for future in as_completed(futures):
                try:
                    record(*future.result())
                except Exception as err:  # a worker that died (e.g. out of memory)
                    record(futures[future], None, f"worker failed: {type(err).__name__}: {err}")
    bar.close()
    summary["seconds"] = time.perf_counter() - started
    summary["settings"] = asdict(settings)
    return summary
