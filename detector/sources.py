"""Where the study's faces come from: real videos and the fakes made from them, processed alike.

Every *video* is ``window`` contiguous frames, real or fake; a fake re-renders the landmarks of
a real window, so both classes share motion and length. Every video, real or fake, then takes
the same path to the detectors (:class:`detector.data.Processing`, applied by
:class:`VideoCollector`): fakes are rendered at ``render_size`` by a generator working at its
own size (``fsth.Person.render``), real crops at ``render_size`` are taken through that working
size and back, and both are written by fsth's video writer (H.264, as ``fsth animate`` writes its
fakes). Resolution, resampling and codec then say nothing about the label.

- **SynthHeads pairs** (:func:`synth_faces`): identities rendered by ``fsth.data.synthetic``
  from a seed the generator never trained on, checked against its training data by (seed,
  index) and by a hash of the identity's parameters (:mod:`detector.unseen`). Pair
  (a, b): a's fake re-enacts a's own window from K shots (self-reenactment), b's fake is b
  driven by a's window (puppeteering, landmarks adapted); a pair is one *group*, so a
  puppet and its driver are always in the same split.
- **Real sample faces** (:func:`real_clips`): every sample video of ``fsth.data.samples``,
  cropped by ``fsth preprocess`` at ``render_size`` and cut into windows; fakes of each
  window made the same way (self-reenactment from K shots taken before the window).
- **Real photos** (:func:`real_photos`): the sample portraits cropped like ``detector
  score`` does, at three source scales. Sample videos and photos join the training faces
  (real faces as negatives, each video or photo its own group); the held-out real media that
  judge the shipped detectors are others (:mod:`detector.heldout`).
- **Your own folders** (:func:`folder_faces`, :mod:`detector.folders`): ``--real DIR --fake DIR``.

Fakes come from ``fsth.finetune`` (any generator: the person ``fsth.make_fake`` makes, at the
shots' size), or from fsth's two baselines (``fsth.create_baseline``: ``warp``, the landmark
warp; ``mean``, the mean of the K shots).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import FaceSet, Processing
from .unseen import generator_training_keys, params_hash  # noqa: F401  (where they used to live)

log = logging.getLogger(__name__)
TEST_SEED = 1_000_003  # SynthHeads seed of the study's identities (training data uses small seeds)
VIDEO_SAMPLES = ("carphone", "wolfgang", "single_face")
PHOTO_SAMPLES = ("grace_hopper", "astronaut", "einstein", "takeo", "monalisa",  # the course's portraits
                 "obama", "obama_speech", "obama_standing", "biden", "breakingbad", "einstein_tongue")
PHOTO_SCALES = (0.5, 1.0, 2.0)
SAME_PERSON = {"obama_speech": "obama", "obama_standing": "obama", "einstein_tongue": "einstein"}


def photo_group(name: str) -> str:
    """The splitting group of a real photo's crop ("obama_speech x0.5" -> "obama"): one person's
    photos stay on one side of every split."""
    photo = name.split(" ")[0]
    return SAME_PERSON.get(photo, photo)


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
    render_size: int = 0  # side fakes are rendered at and reals cropped at (0: the generator's own size)
    detector_size: int = 0  # side the detectors see, after encoding (0: render_size)
    codec: str = "fsth"  # how every video is written: "fsth" (fsth's video writer), "h264", "jpeg", "none"
    quality: int = 18  # its CRF (JPEG: quality); 18 is fsth.io.video.write_video's
    clip_windows: int = 0  # windows taken from each real sample video (0: all that fit)


def processing(model, cfg: SourceConfig) -> Processing:
    """The one path of every study video (:class:`detector.data.Processing`) for this generator.
    A generator that takes its texture from the full-resolution shots (a warping G) makes its
    fakes at the render size, so real crops are not put through its working size: they would
    come out blurrier than the fakes, and blur would tell the label the other way."""
    working = model.config.image_size
    size = cfg.render_size or working
    if getattr(model.generator, "texture_at_full_resolution", False):
        working = size
    return Processing(size=size, working=working, codec=cfg.codec, quality=cfg.quality,
                      detector_size=cfg.detector_size)


def synth_person(seed: int, index: int, frames: int, size: int):
    """One SynthHeads identity's clip: frames uint8 (T, S, S, 3), landmarks (T, 68, 2), params hash."""
    from dataclasses import asdict

    from fsth.data.synthetic import random_identity, render_clip

    who = random_identity(np.random.default_rng([seed, index]))
    clip_seed = int(np.random.SeedSequence([seed, index, 0]).generate_state(1)[0])
    images, landmarks, _ = render_clip(who, frames, size, clip_seed)
    return images, landmarks.astype(np.float32), params_hash(asdict(who))


def make_head(maker: str, model, frames: np.ndarray, landmarks: np.ndarray, k: int, steps: int, seed: int):
    """A renderer (fsth.Renderer) from K shots drawn from ``frames`` (as ``fsth.make_fake`` draws
    them, ``targets=1``): ``model`` fine-tuned ``steps`` (``fsth.finetune``: it works at its own
    size and renders at the shots' size, as ``fsth animate`` does) or a baseline of fsth by name
    (``warp``, ``mean``)."""
    from fsth import create_baseline, finetune, split_frames

    _, shots = split_frames(len(frames), 1, k, seed)
    if maker == "model":
        return finetune(model, frames[shots], landmarks[shots], steps=steps, seed=seed, progress=False)
    return create_baseline(maker, frames[shots], landmarks[shots])


def puppet_landmarks(driver: np.ndarray, head, mode: str) -> np.ndarray:
    """The driver's landmarks adapted to the head's first shot (fsth.landmarks.adapt)."""
    from fsth.landmarks.adapt import adapt_landmarks

    return adapt_landmarks(driver, head.landmarks[0], mode=mode, reference="best")


class VideoCollector:
    """Collects videos (frames and labels) into one FaceSet, plus one row of facts per video.
    Every video goes through ``process`` (a :class:`detector.data.Processing`, or nothing): a
    fake as rendered, a real one through the generator's working size first. One code path for
    both classes."""

    def __init__(self, process: Processing | None = None):
        self.parts, self.rows, self.process = [], [], process

    def add(self, images, label, identity, video, setting, group, **facts):
        if self.process is not None:
            images = self.process(images, rendered=bool(label), video=video)
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

    process = processing(model, cfg)
    size = process.size
    keys = keys or {"synth": set(), "hashes": set()}
    out = VideoCollector(process)
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


def real_clips(model, cfg: SourceConfig, cache: Path | None = None, progress: bool = True) -> tuple[FaceSet, list[dict]]:
    """Every sample video of fsth.data.samples, preprocessed like ``fsth preprocess`` at the
    study's render size (into ``cache``, by default one folder of fsth's cache shared by every
    study), cut into windows after a shot pool (``cfg.clip_windows`` of them, evenly spread, or
    all); each window real and re-enacted, both through the study's processing."""
    from fsth.data import samples
    from fsth.io import atomic_write
    from fsth.data.preprocess import Settings, preprocess
    from fsth.io.clips import load_clip

    from fsth.io.cache import cache_dir

    process = processing(model, cfg)
    size = process.size
    shared = cache or cache_dir() / "detector-study" / "sample-videos"  # found once for every study setting
    src, crops = shared / "src", shared / f"crops-{size}"
    for name in VIDEO_SAMPLES:
        target = src / name / f"{name}.mp4"
        if not target.exists():
            with atomic_write(target) as f:
                f.write(samples.fetch(name).read_bytes())
    preprocess(src, crops, Settings(size=size, frames=0, backend="dlib"), progress=progress)
    out = VideoCollector(process)
    for name in VIDEO_SAMPLES:
        clip = load_clip(crops / name / f"{name}.npz")
        frames, landmarks = clip.frames, clip.landmarks.astype(np.float32)
        pool = min(cfg.pool, len(frames) - cfg.window)
        if pool < cfg.k + 1:
            log.warning("%s: %d frames with a face, too few for a shot pool and a window", name, len(frames))
            continue
        head = make_head("model", model, frames[:pool], landmarks[:pool], cfg.k, cfg.steps, 0)
        starts = list(range(pool, len(frames) - cfg.window + 1, cfg.window))
        if cfg.clip_windows:  # evenly spread over the clip
            starts = [starts[i] for i in np.unique(np.linspace(0, len(starts) - 1, cfg.clip_windows).round().astype(int))]
        for w, start in enumerate(starts):
            window = slice(start, start + cfg.window)
            out.add(frames[window], 0, name, f"{name}/w{w:02d}/real", "real", name)
            out.add(head.render(landmarks[window]), 1, name, f"{name}/w{w:02d}/fake", "fake", name, kind="self")
    return out.faceset(), out.rows


def real_photos(size: int, detector=None, process: Processing | None = None,
                scored_size: int | None = None) -> tuple[np.ndarray, list[str]]:
    """The fixed real-photo set: each sample portrait, scaled by 0.5 / 1 / 2 (while its longest
    side stays within :data:`detector.heldout.MAX_SIDE`) before its face is found and cropped at
    ``size`` (as ``detector score`` crops), then through ``process`` (the study's processing of a
    real face; each photo a one-frame video). With ``scored_size`` each face also comes cropped at
    that side and left alone — as ``detect score`` sees an uploaded photo — named "... as scored"
    (the processed ones "... processed"); the face is found once for both. Returns uint8
    (N, S, S, 3) and names."""
    from fsth.io.crop import crop_face, face_box
    from fsth.landmarks import create_detector

    from .heldout import scaled_photos

    detector = detector or create_detector("dlib")
    crops, names, scored, scored_names = [], [], [], []
    for name in PHOTO_SAMPLES:
        for label, scaled in scaled_photos(name, PHOTO_SCALES):
            points = next(detector.detect_frames([scaled], source=label, on_missing="skip", video=False))
            if points is None:  # no face found at this scale
                log.info("real photos: no face in %s", label)
                continue
            box = face_box(points)
            crop = crop_face(scaled, box, size)[0][None]
            crops.append(process(crop, rendered=False, video=name)[0] if process is not None else crop[0])
            names.append(label)
            if scored_size:
                scored.append(crop_face(scaled, box, scored_size)[0])
                scored_names.append(f"{label} as scored")
    if scored_size:
        crops, names = crops + scored, [f"{n} processed" for n in names] + scored_names
    return np.stack(crops), names


def folder_faces(real: str | Path, fake: str | Path, size: int, window: int, cache: Path, progress: bool = True,
                 **checks) -> tuple[FaceSet, list[dict]]:
    """Your own data (``--real DIR --fake DIR``): the faces and rows of
    :func:`detector.folders.folder_faces` (``checks``: its ``folds``, ``seeds``, ``splits``, ``match``)."""
    from .folders import folder_faces as read_folders

    faces, rows, _ = read_folders(real, fake, size, window, cache, progress=progress, **checks)
    return faces, rows
