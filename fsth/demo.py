"""``fsth demo``: the Mona Lisa comes alive, and we measure how detectable she is.

Offline, on a CPU, in a few minutes: fetch the sample media, fine-tune the shipped
pretrained model on one shot (the painting), animate it with a real talking clip using
landmark adaptation, write ``fsth-demo/monalisa.mp4`` (driving | landmarks | result) and
a gif — all marked synthetic — and score the result with both shipped detectors, next to
their scores of the real driving faces and the real portrait.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from .io.images import save_image

log = logging.getLogger(__name__)
PRETRAINED = Path(__file__).parent / "pretrained"
SHIPPED_MODEL = "talking_heads_tiny_warp.pt"  # the talking-head model demo, finetune, animate and the course use
PAPER_MODEL = "talking_heads_tiny.pt"  # the paper's pure-synthesis generator, same preset: for comparisons


def pretrained_path(name: str) -> Path:
    path = PRETRAINED / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: this copy of fsth ships no pretrained {name}; "
                                "train one with `fsth train --config configs/tiny.yaml`")
    return path


def run_demo(out: str | Path = "fsth-demo", portrait: str = "monalisa", driving: str = "wolfgang",
             seconds: float = 6.0, steps: int = 100, backend: str = "dlib",
             amp: str = "auto") -> dict:
    """The whole demo; returns the paths and figures it printed."""
    from detector import models as detectors

    from .animate import animate
    from .data import samples
    from .io.images import read_image
    from .io.video import probe
    from .landmarks import create_detector
    from .person import crop_shots, load_model
    from .train.finetune import finetune

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    face_detector = create_detector(backend)
    model = load_model(pretrained_path(SHIPPED_MODEL))
    image = read_image(samples.fetch(portrait))
    shots, landmarks = crop_shots([image], model.config.image_size, face_detector, names=[portrait])
    person = finetune(model, shots, landmarks, steps=steps, amp=amp)
    source = samples.fetch(driving)
    frames = int(min(probe(source).frames, seconds * probe(source).fps))
    result = animate(person, source, out / f"{portrait}.mp4", face_detector, adapt="relative", reference="best",
                     side_by_side=True, max_frames=frames, gif=out / f"{portrait}.gif", watermark=True)
    strip = np.concatenate(list(result["rendered"][:: max(1, len(result["rendered"]) // 6)][:6]), axis=1)
    save_image(out / f"{portrait}_strip.png", strip, synthetic=True)

    scores, p_fake = {}, {}
    for file in detectors.SHIPPED.values():
        path = PRETRAINED / file
        if not path.exists():
            continue
        det = detectors.load(path)
        name = det.name
        scores[name] = side_by_side_scores(det, result["rendered"], shots, source, frames, face_detector)
        p_fake[name] = scores[name]["fake (this demo)"]["p_fake"]
    summary = {"video": str(out / f"{portrait}.mp4"), "gif": str(out / f"{portrait}.gif"),
               "strip": str(out / f"{portrait}_strip.png"), "frames": result["frames"],
               "finetune_steps": steps, "p_fake": p_fake, "detectors": scores,
               "seconds": time.perf_counter() - started}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def side_by_side_scores(det, rendered, portrait_crop, driving, frames: int, face_detector, samples: int = 24) -> dict:
    """One detector's P(fake) of the demo's fake next to its P(fake) of the real inputs: the
    driving video's own faces (cropped the same way) and the real portrait crop (the shot).
    A score means little on its own: if the real faces score as high, the detector is not
    seeing the forgery (see docs/detector/report.md and the detector's training domain)."""
    from detector.faces import face_crops
    from detector.scoring import detector_size, score_faces

    from .io.video import read_frames

    pick = np.unique(np.linspace(0, frames - 1, min(samples, frames)).round().astype(int))
    real = face_crops(list(read_frames(driving, pick)), detector_size(det), str(driving), face_detector)
    out = {"fake (this demo)": score_faces(det, rendered), "driving video (real)": score_faces(det, real),
           "portrait (real)": score_faces(det, portrait_crop)}
    out = {k: {"p_fake": v["p_fake"], "flagged": v["flagged"], "frames": v["frames"]} for k, v in out.items()}
    return {**out, "threshold": det.threshold, "domain": det.domain or "not recorded"}


