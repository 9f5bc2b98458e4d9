"""Bring your own data (``fsth detect study --real DIR --fake DIR``): read as the public datasets
lay themselves out, checked before any detector is trained, and refused when the study could
not measure anything on it.

Layouts read as they are:

- **FaceForensics++**: ``--real .../original_sequences/youtube/c23/videos`` (``000.mp4``: person
  000) and ``--fake .../manipulated_sequences/<method>/c23/videos`` (``000_003.mp4``: video 000
  with the face of 003). A fake belongs to both people: it is grouped with both of them.
- **DeepfakeBench** (its preprocessed frames): ``--real <dataset>/real --fake <dataset>/fake``,
  each holding ``frames/<video>/*.png`` (``landmarks/`` and ``masks/`` beside it are left alone);
  a video's people come from its name (FaceForensics++ ``000_003``, Celeb-DF ``id0_id1_0000``,
  UADFV ``0000_fake``), the folder given to ``--real`` or ``--fake`` or its ``frames/``.
- **One sub-folder per person**: ``DIR/<identity>/<video>.mp4`` or ``DIR/<identity>/<video>/*.png``.

A video's people link it to every other video of theirs; the groups cross-validation splits by
are the connected sets (:func:`group_of`), so no person is on both sides of a split.

Checks (:func:`check_folds`), each a one-line :class:`DataCheckError` (exit 1) saying what is
missing: at least as many groups with real videos as folds, as many with fakes, and both
classes in every fold's training, validation and test part, for every split the study makes.

The two classes' processing is compared (:func:`source_facts`, :func:`compare`): frame and face
size in the source, and codec; a difference is a warning, since a detector can learn it in place
of the forgery. ``--match-processing`` puts the reals through the fakes' pipeline
(:func:`match_reals`): down to the fakes' face resolution and back, and the fakes' codec.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .data import FaceSet, encode_images, resample

log = logging.getLogger(__name__)
MEDIA_FOLDERS = ("frames", "videos")  # DeepfakeBench's frames/, FaceForensics++'s videos/: the media inside
CELEB_DF = re.compile(r"^(id\d+)_(?:(id\d+)_)?\d+$")  # id0_0000 (real), id0_id1_0000 (fake: id1 onto id0)
FACEFORENSICS = re.compile(r"^(\d+)(?:_(\d+))?$")  # 000 (real), 000_003 (fake: 003's face in 000's video)
SIZE_RATIO = 1.25  # faces (or frames) this much larger in one class than in the other: a warning
MATCH_CRF = 23  # H.264 CRF reals are written at by --match-processing (FaceForensics++'s c23)


class DataCheckError(ValueError):
    """Your --real/--fake data can't be measured as given (one line, exit code 1): nothing runs
    and no detector is saved."""


def media_root(folder: Path) -> tuple[Path, str]:
    """Where the media of ``--real``/``--fake`` lie, and the layout in words: a DeepfakeBench
    ``frames/`` or FaceForensics++ ``videos/`` folder inside is read in its place."""
    for name in MEDIA_FOLDERS:
        if (folder / name).is_dir():
            return folder / name, f"{name}/ of {folder}"
    return folder, str(folder)


def identities_of(name: str) -> list[str]:
    """The people a video's name names: FaceForensics++ (``000`` -> [000]; ``000_003`` -> [000,
    003]), Celeb-DF (``id0_0000`` -> [id0]; ``id0_id1_0000`` -> [id0, id1]), else [name]."""
    for pattern in (CELEB_DF, FACEFORENSICS):
        match = pattern.match(name)
        if match:
            return [g for g in match.groups() if g]
    return [name]


def video_people(source: Path, root: Path) -> tuple[str, list[str], bool]:
    """(video name, its people, whether a sub-folder named the person) of a source under ``root``:
    ``DIR/<identity>/...`` names the person by folder; a loose video or frame folder by its name."""
    rel = source.relative_to(root)
    named = rel.parts[-1] if source.is_dir() else Path(rel.parts[-1]).stem
    if len(rel.parts) >= 2:
        return named, [rel.parts[0]], True
    return named, identities_of(named), False


def link_fakes(people: list[str], by_folder: bool, reals: set[str]) -> list[str]:
    """A fake whose name names nobody known (UADFV's ``0000_fake``) belongs to the real people
    among its name's parts, if any."""
    if by_folder or set(people) & reals:
        return people
    parts = [p for p in re.split(r"[_\-\s.]+", people[0]) if p in reals]
    return parts or people


def group_of(videos: list[list[str]]) -> dict[str, str]:
    """{person: group}: people who share a video are in one group (connected sets, union-find);
    a group is named by its people, sorted, joined by "+" (at most three, then a count)."""
    parent: dict[str, str] = {}

    def find(a):
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for people in videos:
        for other in people[1:]:
            parent[find(other)] = find(people[0])
        find(people[0])
    members: dict[str, list[str]] = {}
    for person in parent:
        members.setdefault(find(person), []).append(person)
    names = {}
    for group in members.values():
        group = sorted(group)
        name = "+".join(group[:3]) + (f"+{len(group) - 3} more" if len(group) > 3 else "")
        names.update({person: name for person in group})
    return names


class Split(NamedTuple):
    """One way the study splits the groups (:func:`detector.protocol.group_folds`)."""

    folds: int
    seeds: tuple[int, ...]
    val_share: float
    first_only: bool = False  # the shipping split: fold 0 only, its validation part trained on


def study_splits(protocol, matrix_folds: int) -> list[Split]:
    """Every split a study makes of the groups: cross-validation, the controls' and matrices' fewer
    folds, and the shipping split (a fifth of the groups held out for calibration)."""
    p = protocol
    return [Split(p.folds, tuple(p.seeds), p.val_share), Split(min(p.folds, matrix_folds), tuple(p.seeds[:1]),
                                                               p.val_share),
            Split(max(2, round(1 / p.val_share)), tuple(p.seeds[:1]), 0.0, True)]


def check_folds(groups: np.ndarray, labels: np.ndarray, splits: list, what: str = "--real/--fake") -> None:
    """DataCheckError unless every split the study makes (``splits``: :class:`Split` or (folds,
    seeds, validation share) of :func:`detector.protocol.group_folds`) has both classes in each
    fold's training, validation and test part; first of all, at least as many groups with real
    videos as the cross-validation (the first split) has folds, and as many with fakes."""
    from .protocol import group_folds

    groups, labels = np.asarray(groups), np.asarray(labels)
    splits = [Split(*s) for s in splits]
    names = np.unique(groups)
    with_real, with_fake = np.unique(groups[labels == 0]), np.unique(groups[labels == 1])
    k = splits[0].folds
    if len(with_real) < k or len(with_fake) < k or len(names) < 3:
        raise DataCheckError(f"{what}: {len(with_real)} identity group(s) hold real videos and {len(with_fake)} hold "
                             f"fake ones; {k}-fold cross-validation needs at least {max(k, 3)} of each (both classes "
                             "in every fold): add people (one sub-folder, or one FaceForensics++-style name, per "
                             "person), or lower --folds")
    for split in splits:
        for seed in split.seeds:
            folds = group_folds(groups, split.folds, seed, split.val_share)
            for f, parts in enumerate(folds[:1] if split.first_only else folds):
                if split.first_only:  # shipping: trained on all but the held-out part, calibrated on it
                    parts = {"train": np.concatenate([parts["train"], parts["val"]]), "val": parts["test"]}
                for part, members in parts.items():
                    present = set(labels[np.isin(groups, members)].tolist())
                    if present != {0, 1}:
                        only = "real" if present == {0} else "fake"
                        verb = {"train": "train", "val": "validate", "test": "test"}[part]
                        raise DataCheckError(
                            f"{what}: with {len(names)} identity groups ({len(with_real)} with real videos, "
                            f"{len(with_fake)} with fakes), fold {f} of {len(folds)} (seed {seed}) would {verb} on "
                            f"{only} videos only: give more people both a real and a fake video, or lower --folds")


def codec_of(source: Path) -> str:
    """How a source's pictures are encoded: the video codec (PyAV) or the image format."""
    import av

    if source.is_dir():
        suffixes = Counter(p.suffix.lower().lstrip(".") for p in source.iterdir() if p.is_file())
        kind = suffixes.most_common(1)[0][0] if suffixes else "?"
        return {"jpg": "jpeg"}.get(kind, kind)
    if source.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".ppm"):
        return {"jpg": "jpeg"}.get(source.suffix.lower().lstrip("."), source.suffix.lower().lstrip("."))
    try:
        with av.open(str(source)) as container:
            return container.streams.video[0].codec_context.name
    except (av.FFmpegError, IndexError, OSError):
        return "?"


def source_facts(metas: list[dict]) -> dict:
    """One class's processing, from its clips' metadata: codecs (count per codec), median source
    frame size (w, h) and median face side in source pixels (the crop box)."""
    codecs = Counter(codec_of(Path(m["source"])) for m in metas)
    sizes = np.array([m.get("source_size", [0, 0]) for m in metas], float)
    sides = np.concatenate([np.asarray(m["boxes"], float).reshape(-1, 3)[:, 2] for m in metas]) if metas else []
    return {"codecs": dict(codecs), "frame_size": [int(v) for v in np.median(sizes, 0)] if len(sizes) else [0, 0],
            "face_side": float(np.median(sides)) if len(sides) else 0.0, "videos": len(metas)}


def compare(real: dict, fake: dict) -> list[str]:
    """Warnings, in words, where the two classes' processing differs (:func:`source_facts`)."""
    warnings = []
    if set(real["codecs"]) != set(fake["codecs"]):
        warnings.append(f"codecs differ: real {', '.join(real['codecs'])}, fake {', '.join(fake['codecs'])}; a "
                        "detector "
                        "can learn the codec instead of the forgery")
    for key, what in (("face_side", "faces"), ("frame_size", "frames")):
        r, f = np.prod(real[key]) ** (0.5 if key == "frame_size" else 1), np.prod(fake[key]) ** (
            0.5 if key == "frame_size" else 1)
        if min(r, f) > 0 and max(r, f) / min(r, f) > SIZE_RATIO:
            shown = (lambda v: f"{v:.0f} px") if key == "face_side" else (lambda v: "x".join(map(str, v)))
            warnings.append(f"{what} differ in size: real {shown(real[key])}, fake {shown(fake[key])} (median); a "
                            "detector can learn the resolution instead of the forgery")
    return warnings


def match_reals(frames: np.ndarray, real: dict, fake: dict, video: str) -> np.ndarray:
    """A real video's crops through the fakes' pipeline: down to the fakes' face resolution and
    back (when theirs is lower), then the fakes' codec (H.264 CRF :data:`MATCH_CRF` for video
    codecs, JPEG q95 for JPEG frames, nothing for lossless ones) when the reals' differs."""
    size = frames.shape[1]
    if 0 < fake["face_side"] < min(size, real["face_side"]) / 1.05:
        frames = resample(frames, max(4, int(round(fake["face_side"]))), size)
    codec = max(fake["codecs"], key=fake["codecs"].get) if fake["codecs"] else "?"
    if set(real["codecs"]) != {codec}:
        if codec in ("png", "bmp", "tiff", "tif", "ppm", "?"):
            return frames
        kind, quality = ("jpeg", 95) if codec == "jpeg" else ("h264", MATCH_CRF)
        frames = encode_images(frames, np.full(len(frames), video), kind, quality)
    return frames


def describe_match(real: dict, fake: dict, size: int) -> str:
    """What :func:`match_reals` does to the reals, in words."""
    steps = []
    if 0 < fake["face_side"] < min(size, real["face_side"]) / 1.05:
        steps.append(f"resized to the fakes' face resolution ({fake['face_side']:.0f} px) and back to {size} px")
    codec = max(fake["codecs"], key=fake["codecs"].get) if fake["codecs"] else "?"
    if set(real["codecs"]) != {codec} and codec not in ("png", "bmp", "tiff", "tif", "ppm", "?"):
        steps.append("written as JPEG q95" if codec == "jpeg" else f"written as H.264 CRF {MATCH_CRF} (the fakes are "
                     f"{codec})")
    return "; ".join(steps) or "nothing to change: the two classes' resolution and codec already match"


def folder_faces(real: str | Path, fake: str | Path, size: int, window: int, cache: Path, progress: bool = True,
                 folds: int = 0, seeds=(0,), match: bool = False, splits: list | None = None
                 ) -> tuple[FaceSet, list[dict], dict]:
    """Your own data: both folders cropped by ``fsth preprocess`` at ``size``, every video cut
    into windows of ``window`` contiguous frames (a still image is a one-frame video), grouped by
    the people in them (:func:`group_of`). ``splits`` (or ``folds`` and ``seeds``): the splits
    the study will make, checked before and after the faces are found (:func:`check_folds`).
    ``match``: the reals through the fakes' pipeline (:func:`match_reals`). Returns the faces, one
    row per video and what was read ({"layout", "facts", "warnings", "matched", ...})."""
    from fsth.data.preprocess import Settings, discover, preprocess
    from fsth.io.clips import list_clips, load_clip, read_meta

    splits = splits or ([Split(folds, tuple(seeds), 0.2)] if folds else [])
    roots, layouts = {}, {}
    for label, folder in ((0, Path(real)), (1, Path(fake))):
        option = "--fake" if label else "--real"
        if not folder.is_dir():
            raise FileNotFoundError(f"{option} {folder}: no such folder")
        root, layouts["fake" if label else "real"] = media_root(folder)
        roots[label] = root.resolve()  # clips record absolute sources: any spelling of the folder finds them
    where = f"--real {real} and --fake {fake}"

    def people_of(sources: dict[int, list[Path]]) -> dict[Path, tuple[str, list[str]]]:
        named = {p: video_people(p, roots[label]) for label, paths in sources.items() for p in paths}
        reals = {person for p in sources.get(0, []) for person in named[p][1]}
        return {p: (named[p][0], link_fakes(named[p][1], named[p][2], reals) if label else named[p][1])
                for label, paths in sources.items() for p in paths}

    found = {label: [Path(job.source) for job in discover(root)] for label, root in roots.items()}
    for label, paths in found.items():
        if not paths:
            raise DataCheckError(f"{'--fake' if label else '--real'} {roots[label]}: no video or image files in it")
    if splits:  # names alone, before any face is looked for: the quick refusal
        people = people_of(found)
        groups = group_of([people[p][1] for paths in found.values() for p in paths])
        check_folds(np.array([groups[people[p][1][0]] for label in (0, 1) for p in found[label]]),
                    np.array([label for label in (0, 1) for _ in found[label]]), splits, where)
    metas, clips_of = {}, {}
    for label, root in roots.items():
        option = "--fake" if label else "--real"
        crops = cache / f"{'fake' if label else 'real'}-{size}"
        summary = preprocess(root, crops, Settings(size=size, frames=0, backend="dlib"), progress=progress)
        clips_of[label] = list_clips(crops) if crops.is_dir() else []
        if not clips_of[label]:
            why = "; ".join(f"{s}: {e}" for s, e in summary["failures"][:3]) or "no video or image files in it"
            raise ValueError(f"{option} {root}: no face video or image could be read ({why})")
        metas[label] = [read_meta(path) for path in clips_of[label]]
    facts = {"real": source_facts(metas[0]), "fake": source_facts(metas[1])}
    warnings = compare(facts["real"], facts["fake"])
    for warning in warnings:
        log.warning("%s%s", warning, "" if match else
                    " (--match-processing puts the reals through the fakes' pipeline)")
    people = people_of({label: [Path(m["source"]) for m in metas[label]] for label in (0, 1)})
    groups = group_of([people[Path(m["source"])][1] for label in (0, 1) for m in metas[label]])
    out_parts, rows = [], []
    for label in (0, 1):
        setting = "fake" if label else "real"
        for path, meta in zip(clips_of[label], metas[label]):
            clip = load_clip(path)
            video, who = people[Path(meta["source"])]
            group = groups[who[0]]
            for w, start in enumerate(range(0, max(1, len(clip.frames) - window + 1), window)):
                name = f"{setting}/{'+'.join(who)}/{video}/w{w:02d}"
                frames = clip.frames[start:start + window]
                if match and label == 0:
                    frames = match_reals(frames, facts["real"], facts["fake"], name)
                n = len(frames)
                out_parts.append((frames, [label] * n, [who[0]] * n, [name] * n, [setting] * n, [group] * n))
                rows.append({"video": name, "identity": who[0], "people": who, "group": group, "label": label,
                             "setting": setting, "frames": n})
    cols = list(zip(*out_parts))
    faces = FaceSet(np.concatenate(cols[0]), *(sum(map(list, c), []) for c in cols[1:]))
    if len(np.unique(faces.groups)) < 3:
        raise DataCheckError(f"{where}: {len(np.unique(faces.groups))} identity group(s) with a face; "
                             "cross-validation needs at least 3 (one sub-folder, or one FaceForensics++-style name, "
                             "per person)")
    if splits:  # again with the videos whose faces were found
        check_folds(faces.groups, faces.labels, splits, where)
    info = {"layout": layouts, "facts": facts, "warnings": warnings,
            "matched": describe_match(facts["real"], facts["fake"], size) if match else None,
            "groups": int(len(np.unique(faces.groups))),
            "videos": [int(sum(r["label"] == c for r in rows)) for c in (0, 1)]}
    return faces, rows, info
