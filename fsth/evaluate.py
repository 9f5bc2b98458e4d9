"""The paper's evaluation (`fsth evaluate`): self-reenactment for K shots, feed-forward
and fine-tuned, and cross-identity reenactment with and without landmark adaptation. Identity is reported as
CSIM and as ``verified``: the share of frames dlib calls the same person (distance < 0.6).

Self-reenactment: for each held-out clip, ``targets`` frames (spread over the clip) are
generated from their own landmarks; the K shots come from the clip's other frames. Every
K uses the same targets, so the rows of the table compare like with like. Baselines: the
mean of the K shots ("mean frame"), the first shot warped to each target's landmarks
("landmark warp", fsth.warp: no learning), and the same protocol on an untrained model.

A corrupt clip is left out of the evaluation with one warning and counted in ``skipped``
(a :class:`~fsth.io.clips.SkippedClips`), never a crash halfway through.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import metrics
from .io.atomic import atomic_write_text, save_figure
from .io.clips import SkippedClips
from .io.tensors import resize_frames
from .reenact import FakeRecipe, make_fake, split_frames
from .warp import warp_portrait

log = logging.getLogger(__name__)


@dataclass
class EvalSettings:
    ks: tuple[int, ...] = (1, 8, 32)
    ft_steps: int = 100
    targets: int = 8  # evaluated frames per clip
    seed: int = 0
    detect: bool = True  # landmark error needs a detector run on generated frames


class Scorer:
    """Computes every per-frame metric of generated against real frames."""

    def __init__(self, detect: bool = True):
        from .landmarks import create_detector

        self.embedder = metrics.IdentityEmbedder()
        # generated faces fill their frame: search one scale only (a failed search must stay cheap)
        self.detector = create_detector("dlib", detect_side=256, max_side=256) if detect else None

    def detected_landmarks(self, frames: np.ndarray, upscale: int = 256) -> np.ndarray:
        """dlib landmarks of (small) generated frames, enlarged for the detector; NaN if none."""
        import cv2

        scale = max(1.0, upscale / frames.shape[1])
        big = [cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) for f in frames]
        out = []
        for found in self.detector.detect_frames(big, source="generated", on_missing="skip"):
            out.append(np.full((68, 2), np.nan) if found is None else (found + 0.5) / scale - 0.5)
        return np.stack(out)

    def __call__(self, fake, real, landmarks, identity_reference=None) -> dict[str, np.ndarray]:
        """fake, real: (T, S, S, 3); landmarks: (T, 68, 2) that drove the fakes.
        identity_reference: embeddings (N, 128) of the real person (default: of ``real``)."""
        e_fake = self.embedder(fake, landmarks)
        reference = identity_reference if identity_reference is not None else self.embedder(real, landmarks)
        if len(reference) != len(e_fake):
            reference = np.broadcast_to(reference.mean(0, keepdims=True), e_fake.shape)
        scores = {"l1": metrics.l1(fake, real), "psnr": metrics.psnr(fake, real),
                  "ssim": metrics.ssim(fake, real), "csim": metrics.csim(e_fake, reference),
                  "verified": metrics.verified(e_fake, reference)}
        if self.detector is not None:
            found = self.detected_landmarks(fake)
            scores["nme"] = metrics.nme(found, landmarks)
        return scores


def _summarise(scores: list[dict]) -> dict:
    out = {}
    for key in scores[0]:
        values = np.concatenate([np.atleast_1d(s[key]) for s in scores]).astype(np.float64)
        finite = values[np.isfinite(values)]
        out[key] = float(finite.mean()) if len(finite) else float("nan")
        if key == "nme":
            out["detected"] = float(len(finite) / len(values))
    return out


def self_reenactment(model, clips: list[Path], settings: EvalSettings, scorer: Scorer,
                     variants=("ff", "ft"), baseline: bool = True, progress: bool = True,
                     skipped: SkippedClips | None = None) -> list[dict]:
    """Rows of the table: one per (variant, K), plus the mean-frame baseline per K."""
    skipped = SkippedClips() if skipped is None else skipped
    size = model.config.image_size
    results: dict[tuple[str, int], list] = {}
    fakes: dict[tuple[str, int], list] = {}
    reals = []
    for path in tqdm(clips, desc="self-reenactment", disable=not progress):
        clip = skipped.load(path)
        if clip is None:
            continue
        frames, landmarks = resize_frames(clip.frames, clip.landmarks, size)
        for k in settings.ks:
            target, shots = split_frames(len(frames), settings.targets, k, settings.seed)
            real, drive = frames[target], landmarks[target]
            if k == settings.ks[0]:
                reals.append(real)
            made = {}
            for variant in variants:
                steps = settings.ft_steps if variant == "ft" else 0
                made[variant] = make_fake(model, clip, FakeRecipe(variant, k=k, steps=steps), settings.targets,
                                          settings.seed).frames
            if baseline:  # no learning: the mean of the shots, and the first shot warped to each target
                made["mean frame"] = np.repeat(frames[shots].mean(0, keepdims=True).round().astype(np.uint8),
                                               len(target), 0)
                made["warp"] = warp_portrait(frames[shots[0]], landmarks[shots[0]], drive)
            for method, fake in made.items():
                results.setdefault((method, k), []).append(scorer(fake, real, drive))
                fakes.setdefault((method, k), []).append(fake)
    if not reals:
        raise ValueError(f"no readable clip to evaluate ({skipped.summary()})")
    inception = metrics.InceptionFeatures.available()
    real_feats = inception(np.concatenate(reals)) if inception else None
    rows = []
    for (variant, k), scores in results.items():
        row = {"method": variant, "k": k, **_summarise(scores)}
        if inception is not None:
            fake_feats = inception(np.concatenate(fakes[(variant, k)]))
            row["fid"], row["kid"] = metrics.fid(real_feats, fake_feats), metrics.kid(real_feats, fake_feats)
        rows.append(row)
    return rows


def cross_identity(model, clips: list[Path], settings: EvalSettings, scorer: Scorer, k: int = 8,
                   steps: int = 0, progress: bool = True, skipped: SkippedClips | None = None) -> list[dict]:
    """Each held-out person driven by the next one's clip, with ``none`` and ``relative``
    adaptation: identity kept (CSIM to the source person's frames) and pose followed
    (NME between the landmarks asked for and those found on the result)."""
    skipped = SkippedClips() if skipped is None else skipped
    clips = [c for c in clips if str(c) not in skipped.reasons]  # known corrupt: pair the others
    size = model.config.image_size
    scores: dict[str, list] = {"none": [], "relative": []}
    for i, path in enumerate(tqdm(clips, desc="cross-identity", disable=not progress)):
        source, driver = skipped.load(path), skipped.load(clips[(i + 1) % len(clips)])
        if source is None or driver is None or source.meta["identity"] == driver.meta["identity"]:
            continue
        frames, landmarks = resize_frames(source.frames, source.landmarks, size)
        shots_k = min(k, len(frames) - settings.targets)
        for mode in scores:
            fake = make_fake(model, source, FakeRecipe(f"puppet-{mode}", k=shots_k, steps=steps, adapt=mode),
                             settings.targets, settings.seed, driver=driver)
            identity = scorer.embedder(frames[fake.shots], landmarks[fake.shots])
            s = scorer(fake.frames, fake.real, fake.landmarks, identity_reference=identity)
            scores[mode].append({k_: s[k_] for k_ in ("csim", "verified", "nme") if k_ in s})
    return [{"adapt": mode, **_summarise(s)} for mode, s in scores.items() if s]


def markdown_table(rows: list[dict], cross: list[dict] | None = None, title: str = "") -> str:
    """Rows laid out like the paper's Table 1 (FID/KID only where Inception was available)."""
    cols = [c for c in ("fid", "kid", "ssim", "csim", "verified", "l1", "psnr", "nme", "detected") if c in rows[0]]
    arrows = {"fid": "↓", "kid": "↓", "ssim": "↑", "csim": "↑", "verified": "↑", "l1": "↓", "psnr": "↑", "nme": "↓",
              "detected": "↑"}
    lines = [f"### {title}" if title else "", "",
             "| method | K | " + " | ".join(f"{c.upper()} {arrows[c]}" for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    order = {"ff": 0, "ft": 1, "warp": 2, "mean frame": 3, "untrained ff": 4}
    for row in sorted(rows, key=lambda r: (order.get(r["method"], 9), r["k"])):
        name = {"ff": "feed-forward", "ft": "fine-tuned", "warp": "landmark warp"}.get(row["method"], row["method"])
        lines.append(f"| {name} | {row['k']} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |")
    if cross:
        lines += ["", "Cross-identity reenactment (identity kept: CSIM and verified — dlib distance < 0.6 — to "
                  "the source person; pose followed: NME to the landmarks asked for):", "",
                  "| adaptation | CSIM ↑ | verified ↑ | NME ↓ | detected ↑ |", "|---|---|---|---|---|"]
        for row in cross:
            lines.append(f"| {row['adapt']} | {row['csim']:.3f} | {row.get('verified', float('nan')):.2f} | "
                         f"{row.get('nme', float('nan')):.3f} | {row.get('detected', float('nan')):.2f} |")
    return "\n".join(lines).strip() + "\n"


def save_report(out: str | Path, rows: list[dict], cross: list[dict], title: str, extra: dict | None = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps({"self_reenactment": rows, "cross_identity": cross,
                                                        **(extra or {})}, indent=2))
    atomic_write_text(out / "table.md", markdown_table(rows, cross, title))
    _plot(out / "metrics_vs_k.png", rows)
    return out / "table.md"


def _plot(path: Path, rows: list[dict]) -> None:
    from matplotlib.figure import Figure  # a bare Figure: never switches the caller's pyplot backend

    keys = [c for c in ("ssim", "csim", "l1") if c in rows[0]]
    fig = Figure(figsize=(4 * len(keys), 3.2))
    axes = fig.subplots(1, len(keys))
    for ax, key in zip(np.atleast_1d(axes), keys):
        for method in sorted({r["method"] for r in rows}):
            pts = sorted((r["k"], r[key]) for r in rows if r["method"] == method)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("K shots")
        ax.set_title(key.upper())
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
