"""Turn folders of face videos or portraits into training-ready clips (`fsth preprocess`).

Source layouts (detected per file):
  id/video/clip.mp4   VoxCeleb2-style: identity ``id``, video ``video``
  id/clip.mp4         identity ``id``
  clip.mp4            identity ``clip``
  id/*.jpg            a folder of images is one clip of identity ``id`` (its photos)
  portrait.jpg        one single-frame clip of identity ``portrait``
The output mirrors the source tree: ``OUT/<relative path>.npz`` (see ``fsth.io.clips``).
Sources that would share an output name (``x.jpg`` and ``x.png``; ``person.mp4`` and a
folder ``person/``) keep their extension in it instead (``x.jpg.npz``, ``person.mp4.npz``),
so no clip overwrites another; a clip an earlier run wrote under the shared name stays with
the source it came from. Re-running skips finished clips, redoes those whose source's content
changed and drops those whose source is gone (``OUT/manifest.json``, :mod:`fsth.data.manifest`);
an OUT inside SRC is never scanned as a source. Failures are listed in ``OUT/failures.tsv`` and
never stop the run.

Memory stays bounded whatever the input: frames are read twice, once to find the faces and
once to crop them, so only one frame is held at a time (plus the detector's batch); a clip
holds at most :data:`CLIP_BYTES` of crops; videos seek to the sampled frames and refuse
frames over the decoder's pixel budget (``fsth.io.decode``).
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import UsageError
from ..io.atomic import atomic_write_text
from ..io.clips import read_meta, save_clip
from ..io.crop import CROP_MARGIN, crop_face, face_box, smooth_boxes
from ..io.images import IMAGE_EXTENSIONS, list_images, read_image
from ..io.video import VIDEO_EXTENSIONS, frames_at, is_animated_image, is_video, probe
from .manifest import Manifest, inside

log = logging.getLogger(__name__)
FAILURE_LOG = "failures.tsv"
CLIP_BYTES = 256 * 2 ** 20  # the crops of one clip, held until it is written


@dataclass
class Job:
    source: str  # a video file, an image, or a folder of images
    kind: str  # "video" | "image" | "images"
    identity: str
    video: str
    out: str  # output path relative to OUT
    shared: str = ""  # the output name this source shares with another (earlier runs wrote there)


@dataclass
class Settings:
    size: int = 256
    frames: int = 32  # frames sampled evenly per video or image folder (0: all, up to frame_budget)
    backend: str = "auto"
    margin: float = CROP_MARGIN
    smooth_seconds: float = 0.3
    min_frames: int = 2  # a video clip needs at least this many frames with a face
    quality: int = 95


def discover(src: str | os.PathLike, skip: str | os.PathLike | None = None) -> list[Job]:
    """Find every video, image folder and single portrait under ``src``; the folder ``skip``
    (preprocess's output, when it lies inside ``src``) and everything in it is left out."""
    src = Path(src)
    if src.is_file():
        kind = "video" if is_video(src) else "image"
        return [Job(str(src), kind, src.stem, src.stem, src.stem + ".npz")]
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such file or folder")
    jobs, image_dirs = [], set()
    for path in _files_under(src, skip):
        if path.name.startswith("."):
            continue
        rel = path.relative_to(src)
        suffix = path.suffix.lower()
        if suffix in VIDEO_EXTENSIONS or is_animated_image(path):  # an animated WebP is a video
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
    return _unique_outputs(jobs, src)


def _files_under(src: Path, skip: str | os.PathLike | None) -> list[Path]:
    """Every file under ``src``, sorted, without descending into ``skip`` or symlinked folders."""
    skipped = Path(skip).resolve() if skip is not None else None
    found = []
    for folder, dirs, names in os.walk(src):
        dirs[:] = [d for d in dirs if skipped is None or Path(folder, d).resolve() != skipped]
        found += [Path(folder, name) for name in names if Path(folder, name).is_file()]
    return sorted(found)


def _unique_outputs(jobs: list[Job], src: Path) -> list[Job]:
    """Give sources that would share an output name their own: files keep their extension."""
    by_out = defaultdict(list)
    for job in jobs:
        by_out[job.out].append(job)
    for out, group in by_out.items():
        for job in group if len(group) > 1 else []:
            job.shared = out
            if job.kind != "images":  # x.jpg -> x.jpg.npz; a folder has no extension to keep
                job.out = str(Path(job.source).relative_to(src)) + ".npz"
    taken: dict[str, Job] = {}
    for job in jobs:
        if job.out in taken:
            raise ValueError(f"{taken[job.out].source} and {job.source} would both be written to "
                             f"{job.out}; rename one of them")
        taken[job.out] = job
    return jobs


def _adopt_earlier_outputs(jobs: list[Job], out_root: Path) -> None:
    """A clip an earlier run wrote under a shared name stays the clip of the source it came from
    (so a re-run skips it); a folder whose plain name that clip holds gets ``NAME.images.npz``."""
    owners: dict[str, str | None] = {}
    for job in jobs:
        if job.shared and job.shared not in owners:
            owners[job.shared] = _source_name(out_root / job.shared)
    for job in jobs:
        owner = owners.get(job.shared) if job.shared else None
        if owner == Path(job.source).name:
            job.out = job.shared
        elif owner is not None and job.out == job.shared:
            job.out = job.shared.removesuffix(".npz") + f".{job.kind}.npz"


def _source_name(clip: Path) -> str | None:
    """The file name of the source ``clip`` was made from; None if there is no readable clip."""
    try:
        return Path(str(read_meta(clip).get("source", ""))).name if clip.is_file() else None
    except (OSError, KeyError, ValueError):
        return None


def sample_indices(total: int, wanted: int) -> np.ndarray:
    """``wanted`` frame indices spread evenly over ``total`` frames (all when wanted is 0)."""
    if wanted <= 0 or wanted >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, wanted).round().astype(np.int64))


def frame_budget(size: int) -> int:
    """The most frames one clip of ``size``-pixel crops may hold (:data:`CLIP_BYTES` of crops)."""
    return max(1, CLIP_BYTES // (size * size * 3))


def _plan(job: Job, settings: Settings) -> tuple[float, dict[int, str]]:
    """The frame rate and the frames to use: {index: name} (a frame number or a file name)."""
    if job.kind == "image":
        return 25.0, {0: job.source}
    if job.kind == "video":
        info = probe(job.source)
        fps, total, files = info.fps, info.frames, None
    else:
        files = list_images(job.source)
        fps, total = 25.0, len(files)
    wanted = min(settings.frames if settings.frames > 0 else total, total)
    if wanted > frame_budget(settings.size):
        log.warning("%s: using %d of its %d frames, evenly spread: more %d-px crops don't fit one clip's "
                    "memory budget", job.source, frame_budget(settings.size), total, settings.size)
        wanted = frame_budget(settings.size)
    indices = sample_indices(total, wanted).tolist()
    return fps, {i: files[i].name if files else f"frame {i}" for i in indices}


def _read(job: Job, frames: dict[int, str]) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (index, frame) for the planned frames, in order; one unreadable photo of a folder is skipped."""
    if job.kind == "video":
        yield from frames_at(job.source, frames)
        return
    for index, name in sorted(frames.items()):
        try:
            yield index, read_image(Path(job.source) / name if job.kind == "images" else job.source)
        except ValueError as err:
            if job.kind == "image":
                raise
            log.warning("%s", err)


def process_job(job: Job, out_root: Path, settings: Settings, detector) -> dict:
    """Preprocess one source into one clip file. Raises ValueError with the reason on failure."""
    fps, planned = _plan(job, settings)
    seen, sizes = [], []

    def first_pass():  # landmarks: one frame in memory at a time, plus the detector's batch
        for index, frame in _read(job, planned):
            seen.append(index)
            sizes.append([frame.shape[1], frame.shape[0]])
            yield frame

    points = list(detector.detect_frames(first_pass(), source=job.source, on_missing="skip",
                                         video=job.kind == "video"))
    if not seen:
        raise ValueError("no readable frames")
    keep = [k for k, p in enumerate(points) if p is not None]
    needed = settings.min_frames if job.kind == "video" else 1
    if len(keep) < min(needed, len(seen)) or not keep:
        raise ValueError(f"no face found ({len(keep)} of {len(seen)} frames had one)")
    indices = np.array([seen[k] for k in keep], np.int64)
    points = np.stack([points[k] for k in keep])
    boxes = face_box(points, margin=settings.margin)
    if job.kind == "video":
        boxes = smooth_boxes(boxes, indices, sigma=settings.smooth_seconds * fps)

    row = {int(index): r for r, index in enumerate(indices)}  # second pass: crop the frames with a face
    crops = np.empty((len(keep), settings.size, settings.size, 3), np.uint8)
    crop_points, used = np.empty((len(keep), 68, 2), np.float32), np.empty((len(keep), 3), np.float32)
    cropped = 0
    for index, frame in _read(job, {i: planned[i] for i in row}):
        r = row[index]
        crops[r], crop_points[r], used[r] = crop_face(frame, boxes[r], settings.size, points[r])
        cropped += 1
    if cropped != len(keep):
        raise ValueError(f"{len(keep) - cropped} frame(s) could not be read again to crop them")
    meta = {
        "identity": job.identity, "video": job.video, "source": job.source, "kind": job.kind,
        "frame_indices": indices, "frame_names": [planned[i] for i in row],
        "boxes": used, "source_size": sizes[keep[0]],
        "backend": detector.name, "fps": fps, "margin": settings.margin,
        "dropped_frames": len(seen) - len(keep), "synthetic": False,
    }
    save_clip(out_root / job.out, crops, crop_points, meta, settings.quality)
    return {"frames": len(keep), "dropped": len(seen) - len(keep)}


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


def _run_all(todo: list[Job], out_root: Path, settings: Settings, workers: int, record) -> None:
    """Process every job, in this process or ``workers`` spawned ones; ``record(job, result, error)`` each."""
    if workers <= 1 or len(todo) <= 1:
        from ..landmarks import create_detector

        detector = create_detector(settings.backend) if todo else None
        for job in todo:
            record(*_run(job, out_root, settings, detector))
        return
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


def _remember(manifest: Manifest, job: Job, sha256: str | None) -> None:
    if sha256:
        manifest.clips[job.out] = {"source": str(Path(job.source).resolve()), "sha256": sha256}


def _drop_gone_sources(manifest: Manifest, jobs: list[Job], src, out_root: Path) -> list[str]:
    """Delete the clips the manifest says came from a source under ``src`` that is no longer there
    (or now writes elsewhere); clips of other source folders and clips it doesn't list stay."""
    current = {(str(Path(j.source).resolve()), j.out) for j in jobs}
    dropped = []
    for out, entry in list(manifest.clips.items()):
        if inside(entry["source"], src) and (entry["source"], out) not in current:
            (out_root / out).unlink(missing_ok=True)
            del manifest.clips[out]
            dropped.append(out)
    if dropped:
        log.info("dropped %d clip(s) whose source is gone: %s", len(dropped), _names(dropped))
    return dropped


def _names(items) -> str:
    items = [str(i) for i in items]
    return ", ".join(items[:5]) + (" ..." if len(items) > 5 else "")


def _write_failures(path: Path, failures: list[tuple[str, str]]) -> None:
    """``source<TAB>error`` per failure, one line each (written once, atomically); no file when none failed."""
    if failures:
        atomic_write_text(path, "".join(f"{source}\t{' '.join(error.split())}\n" for source, error in failures))


def preprocess(src: str | os.PathLike, out: str | os.PathLike, settings: Settings | None = None,
               workers: int = 1, progress: bool = True) -> dict:
    """Preprocess every source under ``src`` into ``out``; returns counts and failures."""
    settings = settings or Settings()
    out_root = Path(out)
    if Path(src).resolve() == out_root.resolve():
        raise UsageError(f"OUT {out} is SRC itself: clips and contact sheets would mix with the sources; "
                         "give another folder (one inside SRC will do)")
    out_root.mkdir(parents=True, exist_ok=True)
    jobs = discover(src, skip=out_root)
    _adopt_earlier_outputs(jobs, out_root)
    manifest = Manifest(out_root)
    hashes = {job.out: manifest.content_hash(job.source, job.kind) for job in jobs}
    changed = {j.out: j.source for j in jobs if (out_root / j.out).exists() and hashes[j.out]
               and manifest.clips.get(j.out, {}).get("sha256", hashes[j.out]) != hashes[j.out]}
    if changed:
        log.info("redoing %d clip(s) whose source changed: %s", len(changed), _names(changed.values()))
    dropped = _drop_gone_sources(manifest, jobs, src, out_root)
    todo = [j for j in jobs if not (out_root / j.out).exists() or j.out in changed]
    (out_root / FAILURE_LOG).unlink(missing_ok=True)
    summary = {"found": len(jobs), "skipped": len(jobs) - len(todo), "done": 0, "failed": 0,
               "frames": 0, "failures": [], "redone": len(changed), "dropped": dropped}
    started = time.perf_counter()
    bar = tqdm(total=len(todo), desc="preprocess", unit="clip", disable=not progress)

    def record(job, result, error):
        if error is None:
            summary["done"] += 1
            summary["frames"] += result["frames"]
            _remember(manifest, job, hashes[job.out])
        else:
            summary["failed"] += 1
            summary["failures"].append((job.source, error))
            if job.out in changed:  # the clip of the old content must not pass for the new one
                (out_root / job.out).unlink(missing_ok=True)
                manifest.clips.pop(job.out, None)
        bar.update()
        bar.set_postfix(ok=summary["done"], failed=summary["failed"])

    waiting = {j.out for j in todo}
    for job in jobs:  # finished clips of earlier runs (before manifests too) keep their source's hash
        if job.out not in waiting and job.out not in manifest.clips:
            _remember(manifest, job, hashes[job.out])
    try:
        _run_all(todo, out_root, settings, workers, record)
    finally:  # an interrupted run still lists the failures it met and the clips it wrote
        bar.close()
        _write_failures(out_root / FAILURE_LOG, summary["failures"])
        manifest.save()
    summary["seconds"] = time.perf_counter() - started
    summary["settings"] = asdict(settings)
    return summary
