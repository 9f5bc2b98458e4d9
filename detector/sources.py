"""Where the study's faces come from: real videos and the fakes made from them, processed alike.

Every *video* is ``window`` contiguous frames, real or fake; a fake re-renders the landmarks of
a real window, so both classes share motion, length and (later) the same encoding.

- **SynthHeads pairs** (:func:`synth_faces`): identities rendered by ``fsth.data.synthetic``
  from a seed the generator never trained on, checked against its training data by (seed,
  index) and by a hash of the identity's parameters (:func:`generator_training_keys`). Pair
  (a, b): a's fake re-enacts a's own window from K shots (self-reenactment), b's fake is b
  driven by a's window (puppeteering, landmarks adapted); a pair is one *group*, so a
  puppet and its driver are always in the same split.
- **Real sample faces** (:func:`real_clips`): every sample video of ``fsth.data.samples``,
  cropped by ``fsth preprocess`` at the generator's size and cut into windows; fakes of
  each window made the same way (self-reenactment from K shots taken before the window).
- **Real photos** (:func:`real_photos`): the sample portraits cropped like ``detector
  score`` does, at three source scales: the fixed set on which false positives are counted.
- **Your own folders** (:func:`folder_faces`): ``--real DIR --fake DIR``.

Fakes come from ``fsth.make_fake`` (any generator), or from fsth's two baselines
(``fsth.create_baseline``: ``warp``, the landmark warp; ``mean``, the mean of the K shots).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .data import FaceSet

log = logging.getLogger(__name__)
TEST_SEED = 1_000_003  # SynthHeads seed of the study's identities (training data uses small seeds)
VIDEO_SAMPLES = ("carphone", "wolfgang", "single_face")
PHOTO_SAMPLES = ("grace_hopper", "astronaut", "einstein", "takeo", "monalisa")
PHOTO_SCALES = (0.5, 1.0, 2.0)


@dataclass(frozen=True)
class SourceConfig:
    pairs: int = 50  # SynthHeads pairs: 2 identities, one group each
    window: int = 32  # contiguous frames per video, both classes
    pool: int = 40  # frames before the window that the K shots are drawn from
    k: int = 8
    steps: int = 0  # fine-tuning steps of the main fakes
    baseline_pairs: int = 20  # pairs also faked by the baselines and --other (the cross-generator matrix)
    seed: int = TEST_SEED
    adapt: str = "relative"  # landmark adaptation of the puppet fakes


def params_hash(params: dict) -> str:
    """A content hash of a SynthHeads identity's parameters (the person, not the name)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=float).encode()).hexdigest()[:16]


def synth_person(seed: int, index: int, frames: int, size: int):
    """One SynthHeads identity's clip: frames uint8 (T, S, S, 3), landmarks (T, 68, 2), params hash."""
    from dataclasses import asdict

    from fsth.data.synthetic import random_identity, render_clip

    who = random_identity(np.random.default_rng([seed, index]))
    clip_seed = int(np.random.SeedSequence([seed, index, 0]).generate_state(1)[0])
    images, landmarks, _ = render_clip(who, frames, size, clip_seed)
    return images, landmarks.astype(np.float32), params_hash(asdict(who))


def generator_training_keys(model, data: str | Path | None = None) -> dict:
    """What the generator trained on: SynthHeads (seed, index) pairs and identity hashes, and
    thumbnails of its real clips, read from its training data folder (``data``, default the
    checkpoint's ``train_config['data']``). ``checked`` says what could be checked."""
    from fsth.io.clips import list_clips, load_clip

    data = Path(data or (getattr(model, "checkpoint_info", {}).get("train_config", {}).get("data") or ""))
    keys = {"synth": set(), "hashes": set(), "real_thumbs": [], "folder": str(data), "checked": "nothing"}
    if not str(data) or not data.is_dir():
        keys["checked"] = f"training data {data or '(unknown)'} not found: seeds only"
        return keys
    for path in list_clips(data):
        clip = load_clip(path)
        meta = clip.meta
        if meta.get("synthetic"):
            keys["synth"].add((int(meta["seed"]), int(meta["identity_index"])))
            if "identity_params" in meta:
                keys["hashes"].add(params_hash(meta["identity_params"]))
        else:
            keys["real_thumbs"].append(thumbnails(clip.frames))
    keys["real_thumbs"] = np.concatenate(keys["real_thumbs"]) if keys["real_thumbs"] else np.zeros((0, 64))
    keys["checked"] = f"(seed, index) and identity hashes of {data}; real clips by 8x8 thumbnails"
    return keys


def thumbnails(frames: np.ndarray) -> np.ndarray:
    """8x8 grey thumbnails, flattened (T, 64): a content key that survives JPEG and resizing."""
    import cv2

    return np.stack([cv2.resize(f.mean(-1).astype(np.float32), (8, 8), interpolation=cv2.INTER_AREA).ravel()
                     for f in frames])


def seen_by_generator(frames: np.ndarray, keys: dict, tolerance: float = 4.0) -> float:
    """Share of ``frames`` whose thumbnail matches one of the generator's real training frames."""
    if not len(keys["real_thumbs"]):
        return 0.0
    mine = thumbnails(frames)
    dist = np.abs(mine[:, None] - keys["real_thumbs"][None]).max(-1).min(1)
    return float((dist < tolerance).mean())


def make_head(maker: str, model, frames: np.ndarray, landmarks: np.ndarray, k: int, steps: int, seed: int):
    """A renderer (fsth.Renderer) from K shots drawn from ``frames``: ``model`` (fsth.make_fake's
    person, fine-tuned ``steps``) or a baseline of fsth by name (``warp``, ``mean``)."""
    from fsth import FakeRecipe, create_baseline, make_fake, split_frames

    if maker == "model":
        clip = SimpleNamespace(frames=frames, landmarks=landmarks)
        return make_fake(model, clip, FakeRecipe(f"k{k}-s{steps}", k=k, steps=steps), targets=1, seed=seed).person
    _, shots = split_frames(len(frames), 1, k, seed)
    return create_baseline(maker, frames[shots], landmarks[shots])


def puppet_landmarks(driver: np.ndarray, head, mode: str) -> np.ndarray:
    """The driver's landmarks adapted to the head's first shot (fsth.landmarks.adapt)."""
    from fsth.landmarks.adapt import adapt_landmarks

    return adapt_landmarks(driver, head.landmarks[0], mode=mode, reference="best")


class VideoCollector:
    """Collects videos (frames and labels) into one FaceSet, plus one row of facts per video."""

    def __init__(self):
        self.parts, self.rows = [], []

    def add(self, images, label, identity, video, setting, group, **facts):
        n = len(images)
        self.parts.append((images, [label] * n, [identity] * n, [video] * n, [setting] * n, [group] * n))
        self.rows.append({"video": video, "identity": identity, "group": group, "label": label,
                          "setting": setting, "frames": n, **facts})

    def faceset(self) -> FaceSet:
        cols = list(zip(*self.parts))
        return FaceSet(np.concatenate(cols[0]), *(sum(map(list, c), []) for c in cols[1:]))


def synth_faces(model, cfg: SourceConfig, makers=("model",), keys: dict | None = None,
                progress: bool = True, other=None) -> tuple[FaceSet, list[dict]]:
    """Real windows of 2·pairs SynthHeads identities and one fake video each (a: self-reenactment,
    b: puppet driven by a) by the first maker; by the others too for the first
    ``cfg.baseline_pairs`` pairs. Makers: "model", "warp", "mean" (see :func:`make_head`) and
    "other" (a second fsth generator, ``other``: the cross-generator matrix's other checkpoint).
    Returns the faces and one row per video; a fake's setting is "fake" for the model, else
    the maker's name."""
    from tqdm.auto import tqdm

    size = model.config.image_size
    keys = keys or {"synth": set(), "hashes": set()}
    out = VideoCollector()
    for j in tqdm(range(cfg.pairs), desc="SynthHeads pairs", disable=not progress):
        group = f"pair{j:03d}"
        people = []
        for index in (2 * j, 2 * j + 1):
            frames, landmarks, digest = synth_person(cfg.seed, index, cfg.pool + cfg.window, size)
            if (cfg.seed, index) in keys["synth"] or digest in keys["hashes"]:
                raise AssertionError(f"SynthHeads identity (seed {cfg.seed}, index {index}) is in the generator's "
                                     "training data: choose another --synth-seed")
            name = f"s{cfg.seed}-{index:04d}"
            people.append((name, frames, landmarks))
            out.add(frames[cfg.pool:], 0, name, f"{name}/real", "real", group)
        (a, fa, la), (b, fb, lb) = people
        for maker in makers if j < cfg.baseline_pairs else makers[:1]:
            setting = "fake" if maker == "model" else maker
            kind, generator = ("model", other) if maker == "other" else (maker, model)
            head = make_head(kind, generator, fa[:cfg.pool], la[:cfg.pool], cfg.k, cfg.steps, j)
            out.add(head.render(la[cfg.pool:]), 1, a, f"{a}/{setting}", setting, group, kind="self")
            head = make_head(kind, generator, fb[:cfg.pool], lb[:cfg.pool], cfg.k, cfg.steps, j)
            drive = puppet_landmarks(la[cfg.pool:], head, cfg.adapt)
            out.add(head.render(drive), 1, b, f"{b}/{setting}", setting, group, kind="puppet", driver=a)
    return out.faceset(), out.rows


def real_clips(model, cfg: SourceConfig, cache: Path, keys: dict | None = None,
               progress: bool = True) -> tuple[FaceSet, list[dict]]:
    """Every sample video of fsth.data.samples, preprocessed like ``fsth preprocess`` at the
    generator's size, cut into windows after a shot pool; each window real and re-enacted."""
    from fsth.data import samples
    from fsth.io import atomic_write
    from fsth.data.preprocess import Settings, preprocess
    from fsth.io.clips import load_clip

    size = model.config.image_size
    src, crops = cache / "real-src", cache / f"real-{size}"
    for name in VIDEO_SAMPLES:
        target = src / name / f"{name}.mp4"
        if not target.exists():
            with atomic_write(target) as f:
                f.write(samples.fetch(name).read_bytes())
    preprocess(src, crops, Settings(size=size, frames=0, backend="dlib"), progress=progress)
    out = VideoCollector()
    for name in VIDEO_SAMPLES:
        clip = load_clip(crops / name / f"{name}.npz")
        frames, landmarks = clip.frames, clip.landmarks.astype(np.float32)
        seen = seen_by_generator(frames, keys) if keys else 0.0
        pool = min(cfg.pool, len(frames) - cfg.window)
        if pool < cfg.k + 1:
            log.warning("%s: %d frames with a face, too few for a shot pool and a window", name, len(frames))
            continue
        head = make_head("model", model, frames[:pool], landmarks[:pool], cfg.k, cfg.steps, 0)
        for w, start in enumerate(range(pool, len(frames) - cfg.window + 1, cfg.window)):
            window = slice(start, start + cfg.window)
            facts = {"seen_by_generator": seen}
            out.add(frames[window], 0, name, f"{name}/w{w:02d}/real", "real", name, **facts)
            out.add(head.render(landmarks[window]), 1, name, f"{name}/w{w:02d}/fake", "fake", name, kind="self",
                    **facts)
    return out.faceset(), out.rows


def real_photos(size: int, detector=None) -> tuple[np.ndarray, list[str]]:
    """The fixed real-photo set: each sample portrait, scaled by 0.5 / 1 / 2 before its face
    is found and cropped (as ``detector score`` crops). Returns uint8 (N, S, S, 3) and names."""
    import cv2

    from fsth.data import samples
    from fsth.io.images import read_image

    from .faces import face_crops

    crops, names = [], []
    for name in PHOTO_SAMPLES:
        image = read_image(samples.fetch(name))
        for scale in PHOTO_SCALES:
            scaled = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else
                                cv2.INTER_CUBIC)
            try:
                crops.append(face_crops([scaled], size, f"{name} x{scale}", detector)[0])
                names.append(f"{name} x{scale:g}")
            except ValueError:  # no face found at this scale
                log.info("real photos: no face in %s at scale %g", name, scale)
    return np.stack(crops), names


def folder_faces(real: str | Path, fake: str | Path, size: int, window: int, cache: Path,
                 progress: bool = True) -> tuple[FaceSet, list[dict]]:
    """Your own data: folders of face videos or images, FaceForensics++-style
    (``DIR/<identity>/<video>.mp4`` or ``DIR/<identity>/<video>/*.png``; a loose file is its
    own identity). Both are cropped by ``fsth preprocess`` at ``size``; every video is cut
    into windows of ``window`` contiguous frames (a still image is a one-frame video). The
    group of a video is its identity, real and fake alike, so a person's real and fake
    videos never straddle a split."""
    from fsth.data.preprocess import Settings, preprocess
    from fsth.io.clips import list_clips, load_clip

    out = VideoCollector()
    for label, folder in ((0, Path(real)), (1, Path(fake))):
        option = "--fake" if label else "--real"
        if not folder.is_dir():
            raise FileNotFoundError(f"{option} {folder}: no such folder")
        crops = cache / f"{'fake' if label else 'real'}-{size}"
        summary = preprocess(folder, crops, Settings(size=size, frames=0, backend="dlib"), progress=progress)
        clips = list_clips(crops) if crops.is_dir() else []
        if not clips:
            why = "; ".join(f"{s}: {e}" for s, e in summary["failures"][:3]) or "no video or image files in it"
            raise ValueError(f"{option} {folder}: no face video or image could be read ({why})")
        for path in clips:
            clip = load_clip(path)
            identity, video = str(clip.meta["identity"]), str(clip.meta.get("video", path.stem))
            setting = "fake" if label else "real"
            for w, start in enumerate(range(0, max(1, len(clip.frames) - window + 1), window)):
                frames = clip.frames[start:start + window]
                out.add(frames, label, identity, f"{setting}/{identity}/{video}/w{w:02d}", setting, identity)
    faces = out.faceset()
    if len(np.unique(faces.groups)) < 3:
        raise ValueError(f"{real} and {fake}: {len(np.unique(faces.groups))} identities; cross-validation needs "
                         "at least 3 (one sub-folder per identity)")
    return faces, out.rows
