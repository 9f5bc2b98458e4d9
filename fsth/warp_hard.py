"""What learning adds over a warp, measured where a warp must fail (``fsth evaluate --warp-hard``).

Held-out SynthHeads identities (a seed no training set uses) give clips with exact landmarks;
from each clip, one-shot pairs are chosen as training chooses them (fsth.train.episodes):
the shot with the mouth most closed and the target with it most open; eyes most open and most
closed (a blink); the two ends of the head's turn. Every renderer gets the same pairs; errors:

- ``mouth_l1``: mean |x̂ − x| inside the target's mouth interior (mouth pairs);
- ``eyes_l1``: the same inside the eye regions of blink targets (eye pairs);
- ``turn_l1``: over the pixels the turn reveals: where the warp's own error is in its top 10 %
  (turn pairs);
- ``ssim``: whole-frame SSIM over all pairs.

    rows = warp_hard_table({"trained": model, "untrained": fresh, "guard-rails": "guided-warp", "warp": None}, pairs)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics
from .landmarks.regions import EYES, eye_masks, eye_opening, mouth_masks, mouth_opening, yaw

HELD_OUT_SEED = 2_000_003  # SynthHeads seed of these identities (training sets use small seeds)


def warp_hard_pairs(identities: int = 12, frames: int = 48, size: int = 64, seed: int = HELD_OUT_SEED) -> list[dict]:
    """One pair of each kind per identity: {"kind", "shot", "shot_points", "target", "target_points"}."""
    from .data.synthetic import random_identity, render_clip

    pairs = []
    for index in range(identities):
        who = random_identity(np.random.default_rng([seed, index]))
        images, points, _ = render_clip(who, frames, size, seed=int(seed + index))
        for kind, score in (("mouth", mouth_opening(points)), ("eyes", -eye_opening(points)),
                            ("turn", np.abs(yaw(points) - yaw(points)[0]))):
            shot = int(np.argmin(score)) if kind != "turn" else 0
            target = int(np.argmax(score))
            if target != shot:
                pairs.append({"kind": kind, "identity": index, "shot": images[shot], "shot_points": points[shot],
                              "target": images[target], "target_points": points[target]})
    return pairs


def _region(pair: dict, size: int) -> np.ndarray:
    if pair["kind"] == "mouth":
        return mouth_masks(pair["target_points"], size)[0] > 0.5
    if pair["kind"] == "eyes":
        heights = np.full((1, 2), np.linalg.norm(pair["shot_points"][EYES[0][1]] - pair["shot_points"][EYES[0][5]]))
        return eye_masks(pair["target_points"], size, heights=heights)[0].max(0) > 0.5
    return np.ones((size, size), bool)


def render_pairs(model, pairs: list[dict], steps: int = 0) -> np.ndarray:
    """Each pair's target rendered from its one shot: by ``model`` (fine-tuned ``steps``), by
    the baseline of that name when ``model`` is a string (fsth.baselines, e.g. "guided-warp"),
    or the landmark warp when ``model`` is None. uint8 (N, S, S, 3)."""
    from .baselines import create_baseline
    from .train.finetune import finetune

    out = []
    for pair in pairs:
        shot, points = pair["shot"][None], pair["shot_points"][None]
        if model is None or isinstance(model, str):
            head = create_baseline(model or "warp", shot, points)
        else:
            head = finetune(model, shot, points, steps=steps, progress=False)
        out.append(head.render(pair["target_points"][None])[0])
    return np.stack(out)


def region_errors(rendered: np.ndarray, pairs: list[dict], warp: np.ndarray) -> dict[str, float]:
    """Mean L1 (in [0, 1] units) per region kind, and whole-frame SSIM, of ``rendered``."""
    size = rendered.shape[1]
    sums: dict[str, list[float]] = {"mouth": [], "eyes": [], "turn": []}
    for image, baseline, pair in zip(rendered, warp, pairs):
        error = np.abs(image.astype(np.float64) - pair["target"]).mean(-1) / 255
        region = _region(pair, size)
        if pair["kind"] == "turn":  # the pixels a turn reveals: where the warp itself fails most
            warp_error = np.abs(baseline.astype(np.float64) - pair["target"]).mean(-1)
            region = warp_error >= np.quantile(warp_error, 0.9)
        if region.any():
            sums[pair["kind"]].append(float(error[region].mean()))
    row = {f"{kind}_l1": float(np.mean(v)) if v else float("nan") for kind, v in sums.items()}
    row["ssim"] = float(np.mean(metrics.ssim(rendered, np.stack([p["target"] for p in pairs]))))
    return row


def warp_hard_table(models: dict, pairs: list[dict], steps: int = 0) -> list[dict]:
    """One row per renderer (a model, a baseline's name, or None for the landmark warp), and
    its ratios to the warp."""
    warp = render_pairs(None, pairs)
    rows = []
    for name, model in models.items():
        rendered = warp if model is None else render_pairs(model, pairs, steps)
        rows.append({"method": name, **region_errors(rendered, pairs, warp)})
    base = next((r for r, m in zip(rows, models.values()) if m is None), None)
    if base is not None:
        for row in rows:
            for key in ("mouth_l1", "eyes_l1", "turn_l1"):
                row[f"{key} / warp"] = row[key] / base[key] if base[key] else float("nan")
    return rows


def save_warp_hard(out, rows: list[dict], pairs: int, size: int | None = None) -> Path:
    """warp_hard.json and warp_hard.md (a table) in ``out`` (``size``: the pairs' size in pixels,
    said in both); returns the table's path."""
    import json

    from .io.atomic import atomic_write_text

    keys = ["mouth_l1", "eyes_l1", "turn_l1", "ssim", "mouth_l1 / warp", "eyes_l1 / warp", "turn_l1 / warp"]
    at = f" at {size} px" if size else ""
    lines = [f"Where a warp of one shot must fail: {pairs} held-out SynthHeads pairs{at} (fsth.warp_hard); "
             "L1 in [0, 1] inside each region, lower is better.", "",
             "| method | " + " | ".join(k for k in keys if k in rows[0]) + " |",
             "|---|" + "---|" * sum(k in rows[0] for k in keys)]
    for row in rows:
        lines.append(f"| {row['method']} | " + " | ".join(f"{row[k]:.3f}" for k in keys if k in row) + " |")
    out = Path(out)
    atomic_write_text(out / "warp_hard.json", json.dumps({"pairs": pairs, "size": size, "rows": rows}, indent=2))
    return atomic_write_text(out / "warp_hard.md", "\n".join(lines) + "\n")
