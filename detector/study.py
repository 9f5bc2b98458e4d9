"""The detectability study: how well do standard detectors catch fsth's fakes, and what
makes them harder to catch? (``python -m detector study``)

1. Fakes from a trained fsth model on held-out identities, per setting: feed-forward and
   fine-tuned, K = 1 / 8 / 32 shots, fewer fine-tuning steps, and puppeteering with and
   without landmark adaptation; real frames from the same clips.
2. Identity-disjoint splits; every image through the same JPEG (quality 95) pipeline.
3. Detectors trained on all settings, calibrated on validation, scored on test: per
   setting, under compression (JPEG 95/75/50/30, H.264 CRF 23/40) and resizing, and
   across settings (train on one, test on another).
4. A markdown report with ROC curves and a reliability diagram, plus JSON.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .data import FaceSet, assert_identity_disjoint, encode, resize, split_by_identity
from .metrics import reliability, summarize, video_scores
from . import models

log = logging.getLogger(__name__)

# (name, variant, K, fine-tuning steps as a fraction of StudySettings.ft_steps, puppeteering adaptation)
FAKE_SETTINGS = [
    ("ff-k1", "ff", 1, 0, None), ("ff-k8", "ff", 8, 0, None), ("ff-k32", "ff", 32, 0, None),
    ("ft-k1", "ft", 1, 1, None), ("ft-k8", "ft", 8, 1, None), ("ft-k32", "ft", 32, 1, None),
    ("ft-k8-quarter", "ft", 8, 0.25, None),
    ("puppet-none", "ff", 8, 0, "none"), ("puppet-relative", "ff", 8, 0, "relative"),
]
CONDITIONS = [("jpeg95", "jpeg", 95), ("jpeg75", "jpeg", 75), ("jpeg50", "jpeg", 50), ("jpeg30", "jpeg", 30),
              ("h264-crf23", "h264", 23), ("h264-crf40", "h264", 40), ("resize-half", "resize", 0)]


@dataclass
class StudySettings:
    detectors: tuple[str, ...] = ("frequency", "resnet18")
    targets: int = 8  # generated frames per clip and setting
    ft_steps: int = 100  # fine-tuning steps of the ft-* settings (ft-k8-quarter: a quarter of it)
    epochs: int = 15
    seed: int = 0
    fakes: list = field(default_factory=lambda: [s[0] for s in FAKE_SETTINGS])


def make_faces(model, clips: list[Path], settings: StudySettings, progress: bool = True) -> FaceSet:
    """Real frames and fakes for every setting, from held-out clips (all the same size),
    made by fsth.reenact like ``fsth evaluate``'s; a corrupt clip is left out with one warning."""
    from fsth.io.clips import SkippedClips
    from fsth.io.tensors import resize_frames
    from fsth.reenact import FakeRecipe, make_fake

    size = model.config.image_size
    chosen = [s for s in FAKE_SETTINGS if s[0] in settings.fakes]
    parts = {k: [] for k in ("images", "labels", "identities", "videos", "settings")}

    def add(images, label, identity, video, setting):
        parts["images"].append(images)
        n = len(images)
        parts["labels"] += [label] * n
        parts["identities"] += [identity] * n
        parts["videos"] += [video] * n
        parts["settings"] += [setting] * n

    skipped = SkippedClips()
    loaded = [c for c in map(skipped.load, clips) if c is not None]
    clips = [c for c in clips if str(c) not in skipped.reasons]
    need = max(s[2] for s in chosen) + settings.targets
    for i, clip in enumerate(tqdm(loaded, desc="fakes", disable=not progress)):
        identity, video = clip.meta["identity"], f"{clip.meta['identity']}/{clip.meta.get('video', i)}"
        if len(clip.frames) < need:
            raise ValueError(f"{clips[i]}: {len(clip.frames)} frames; the study needs {need}")
        add(resize_frames(clip.frames, clip.landmarks, size)[0], 0, identity, video + "/real", "real")
        driver = loaded[(i + 1) % len(loaded)]
        for name, _, k, fraction, adapt in chosen:
            recipe = FakeRecipe(name, k=k, steps=int(round(fraction * settings.ft_steps)), adapt=adapt)
            fake = make_fake(model, clip, recipe, settings.targets, settings.seed, driver=driver)
            add(fake.frames, 1, identity, f"{video}/{name}", name)
    return FaceSet(np.concatenate(parts["images"]), parts["labels"], parts["identities"], parts["videos"],
                   parts["settings"])


def _condition(faces: FaceSet, codec: str, quality: int) -> FaceSet:
    return resize(faces, faces.images.shape[1] // 2) if codec == "resize" else encode(faces, codec, quality)


def watermark_survival(test: FaceSet) -> dict:
    """How often fsth's invisible watermark (fsth.provenance) is still read after each test
    condition, per video of fakes marked at generation; and how often real videos are wrongly
    read as marked. The metadata mark is not measured: any re-encode drops it."""
    from fsth.provenance import embed, is_marked

    fakes = test.subset(test.labels == 1)
    images = fakes.images.copy()
    for video in np.unique(fakes.videos):  # marked video by video, as fsth animate marks a file
        rows = fakes.videos == video
        images[rows] = embed(images[rows])
    marked = fakes.with_images(images)

    def share(faces: FaceSet) -> float:
        videos = np.unique(faces.videos)
        return float(np.mean([is_marked(faces.images[faces.videos == v]) for v in videos])) if len(videos) else 0.0

    reals = test.subset(test.labels == 0)
    out = {"videos": int(len(np.unique(fakes.videos))), "as made": share(marked),
           "false positives on real videos": share(reals)}
    for cond, codec, quality in CONDITIONS:
        out[cond] = share(_condition(marked, codec, quality))
    return out


def _balanced(faces: FaceSet, seed: int) -> FaceSet:
    """All real images and as many fakes, drawn evenly from the settings."""
    rng = np.random.default_rng(seed)
    real = np.flatnonzero(faces.labels == 0)
    fake = np.flatnonzero(faces.labels == 1)
    pick = rng.choice(fake, size=min(len(fake), len(real)), replace=False)
    return faces.subset(np.sort(np.concatenate([real, pick])))


def run_study(faces: FaceSet, out: str | Path, settings: StudySettings = StudySettings(),
              progress: bool = True) -> dict:
    """Train and score the detectors on ``faces``; write the report into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    faces = encode(faces, "jpeg", 95)  # one pipeline for real and fake
    splits = split_by_identity(faces, seed=settings.seed)
    assert_identity_disjoint(splits)
    train_set = _balanced(splits["train"], settings.seed)
    test = splits["test"]
    fake_names = [s for s in settings.fakes if (test.settings == s).any()]
    results = {"settings": asdict(settings), "counts": {k: int(len(v)) for k, v in splits.items()},
               "identities": {k: int(len(np.unique(v.identities))) for k, v in splits.items()}, "detectors": {}}
    curves = {}
    for name in settings.detectors:
        det = models.create(name, image_size=faces.images.shape[1])
        det.fit(train_set, splits["val"], epochs=settings.epochs, progress=progress)
        det.save(out / f"{name}{det.suffix}")
        scores = det.predict_proba(test.images)
        overall = summarize(test.labels, scores, groups=test.identities)
        vids, vscores = video_scores(scores, test.videos)
        vlabels = np.array([test.labels[test.videos == v][0] for v in vids])
        row = {"overall": overall, "video_level": summarize(vlabels, vscores), "per_setting": {},
               "conditions": {}, "reliability": reliability(test.labels, scores)}
        for setting in fake_names:
            mask = (test.settings == "real") | (test.settings == setting)
            row["per_setting"][setting] = summarize(test.labels[mask], scores[mask])
        for cond, codec, quality in CONDITIONS:
            degraded = _condition(test, codec, quality)
            row["conditions"][cond] = summarize(test.labels, det.predict_proba(degraded.images))
        results["detectors"][name] = row
        curves[name] = (test.labels, scores)
    results["watermark"] = watermark_survival(test)
    results["cross_setting"] = cross_setting(splits, fake_names, settings.seed)
    results["seconds"] = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps(results, indent=2))
    _plots(out, curves)
    (out / "report.md").write_text(report(results))
    return results


def cross_setting(splits: dict, fake_names: list[str], seed: int) -> dict:
    """Frequency detector trained on one setting's fakes, AUC on every setting (cheap)."""
    table = {}
    train, test = splits["train"], splits["test"]
    for source in fake_names:
        mask = (train.settings == "real") | (train.settings == source)
        det = models.create("frequency").fit(_balanced(train.subset(mask), seed))
        scores = det.predict_proba(test.images)
        table[source] = {}
        for target in fake_names:
            m = (test.settings == "real") | (test.settings == target)
            table[source][target] = summarize(test.labels[m], scores[m])["auc"]
    return table


def _plots(out: Path, curves: dict) -> None:
    from matplotlib.figure import Figure  # a bare Figure: never switches the caller's pyplot backend
    from sklearn.metrics import roc_curve

    fig = Figure(figsize=(4.2, 4))
    ax = fig.subplots()
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false-positive rate (real called fake)")
    ax.set_ylabel("true-positive rate (fakes caught)")
    ax.set_title("ROC, test split")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=100)
    fig = Figure(figsize=(4.2, 4))
    ax = fig.subplots()
    for name, (labels, scores) in curves.items():
        r = reliability(labels, scores)
        ax.plot(r["predicted"], r["observed"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("predicted P(fake)")
    ax.set_ylabel("observed fraction fake")
    ax.set_title("Reliability (temperature-scaled)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "reliability.png", dpi=100)


def report(results: dict) -> str:
    lines = ["# How detectable are fsth's talking heads?", "",
             f"Test split: {results['counts']['test']} images of {results['identities']['test']} held-out "
             f"identities (train {results['identities']['train']}, val {results['identities']['val']}; "
             "identity-disjoint). Every image JPEG q95 first. Scores: P(fake).", "",
             "![ROC](roc.png) ![reliability](reliability.png)", "", "## Overall (frame level, 95 % CI over identities)", "",
             "| detector | AUC | AP | EER | acc@0.5 | TPR@1%FPR | Brier | ECE | video AUC |", "|---|---|---|---|---|---|---|---|---|"]
    for name, row in results["detectors"].items():
        o, ci = row["overall"], row["overall"].get("ci", {})
        auc_ci = f" [{ci['auc'][0]:.2f}, {ci['auc'][1]:.2f}]" if "auc" in ci else ""
        lines.append(f"| {name} | {o['auc']:.3f}{auc_ci} | {o['ap']:.3f} | {o['eer']:.3f} | {o['acc']:.3f} | "
                     f"{o['tpr_at_1fpr']:.3f} | {o['brier']:.3f} | {o['ece']:.3f} | {row['video_level']['auc']:.3f} |")
    names = list(results["detectors"])
    settings = list(next(iter(results["detectors"].values()))["per_setting"])
    lines += ["", "## What makes fakes harder to catch: AUC per setting (real vs that setting)", "",
              "| setting | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for s in settings:
        lines.append(f"| {s} | " + " | ".join(f"{results['detectors'][n]['per_setting'][s]['auc']:.3f}" for n in names) + " |")
    conds = list(next(iter(results["detectors"].values()))["conditions"])
    lines += ["", "## Under compression and resizing (AUC)", "", "| condition | " + " | ".join(names) + " |",
              "|---|" + "---|" * len(names)]
    for c in conds:
        lines.append(f"| {c} | " + " | ".join(f"{results['detectors'][n]['conditions'][c]['auc']:.3f}" for n in names) + " |")
    cross = results["cross_setting"]
    if cross:
        targets = list(next(iter(cross.values())))
        lines += ["", "## Generalisation across settings (frequency detector, AUC; rows: trained on)", "",
                  "| trained on \\ tested on | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
        for source, row in cross.items():
            lines.append(f"| {source} | " + " | ".join(f"{row[t]:.2f}" for t in targets) + " |")
    mark = results.get("watermark")
    if mark:
        lines += ["", "## Provenance marks", "",
                  "Every file fsth writes says *synthetic* in its metadata, but any re-encode, remux, screenshot or "
                  "PNG→JPEG conversion drops that. The invisible pixel watermark (`--watermark`, on in the demo) is "
                  f"read per video; share of {mark['videos']} marked fake videos still read as marked:", "",
                  "| condition | read |", "|---|---|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in mark.items() if k != "videos"]
    lines += ["", f"Study time: {results['seconds']:.0f} s.", ""]
    return "\n".join(lines)
