"""``fsth demo``: the Mona Lisa comes alive, and we measure how detectable she is.

Offline, on a CPU, in a few minutes: fetch the sample media, fine-tune the shipped
pretrained model on one shot (the painting), animate it with a real talking clip using
landmark adaptation, write ``fsth-demo/monalisa.mp4`` (driving | landmarks | result) and
a gif — all marked synthetic — and, given a ``score`` callable (``fsth demo`` passes the
detector package's, found through the ``fsth.scorers`` entry point), score the result next
to the real driving faces and the real portrait.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .assets import SHIPPED_MODEL, pretrained_path
from .io import atomic_write
from .io.images import save_image

log = logging.getLogger(__name__)
# score(rendered uint8 (T, S, S, 3), portrait crop (1, S, S, 3), driving video, frames used, face detector)
#   -> {detector name: {"fake (this demo)": {...}, "driving video (real)": {...}, "portrait (real)": {...}, ...}}
DemoScorer = Callable[..., dict]


def run_demo(out: str | Path = "fsth-demo", portrait: str = "monalisa", driving: str = "wolfgang",
             seconds: float = 6.0, steps: int = 25, backend: str = "dlib",
             amp: str = "auto", score: DemoScorer | None = None, size: int = 256) -> dict:
    """The whole demo; returns the paths and figures it printed (``detectors``: what ``score``
    returned, empty without one)."""
    from .animation import animate
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
    shots, landmarks = crop_shots([image], size, face_detector, names=[portrait])  # the model samples these
    person = finetune(model, shots, landmarks, steps=steps, amp=amp)
    source = samples.fetch(driving)
    frames = int(min(probe(source).frames, seconds * probe(source).fps))
    result = animate(person, source, out / f"{portrait}.mp4", face_detector, adapt="relative", reference="best",
                     side_by_side=True, max_frames=frames, gif=out / f"{portrait}.gif", watermark=True)
    strip = np.concatenate(list(result["rendered"][:: max(1, len(result["rendered"]) // 6)][:6]), axis=1)
    save_image(out / f"{portrait}_strip.png", strip, synthetic=True)

    scores = score(result["rendered"], shots, source, frames, face_detector) if score is not None else {}
    p_fake = {name: s["fake (this demo)"]["p_fake"] for name, s in scores.items()}
    summary = {"video": str(out / f"{portrait}.mp4"), "gif": str(out / f"{portrait}.gif"),
               "strip": str(out / f"{portrait}_strip.png"), "frames": result["frames"],
               "finetune_steps": steps, "p_fake": p_fake, "detectors": scores,
               "seconds": time.perf_counter() - started}
    with atomic_write(out / "summary.json", "w") as f:
        json.dump(summary, f, indent=2)
    return summary
