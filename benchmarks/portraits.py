"""One-shot, cross-identity: portraits driven by a real clip, per method, with figures.

For each portrait (default: the Mona Lisa, Grace Hopper, the astronaut) and one driving
clip (default: wolfgang, never trained on), the driver's landmarks are adapted to the
portrait (``relative``) and rendered by each method:

- ``warp``: the landmark-warp baseline (no learning, ``fsth.warp``);
- every ``--model NAME=CHECKPOINT``: the model fine-tuned on the one portrait (``--ft-steps``).

Per portrait and method: ``verified`` (share of frames dlib calls the portrait's person:
descriptor distance < 0.6), CSIM, and how well the face follows the landmarks asked for —
NME over all 68 points and over the mouth (points 48–67), both / the eye-corner distance,
measured by dlib on the result (``detected``: share of frames where it found a face).

    python benchmarks/portraits.py --model "paper G=fsth/pretrained/talking_heads_tiny.pt" \\
        --model "warping G=fsth/pretrained/talking_heads_tiny_warp.pt" --out docs/portraits

Writes ``table.md``, ``results.json`` and ``<portrait>.png`` strips (rows: driving face,
landmarks asked for, then one row per method), all marked synthetic.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from fsth.animation import driving_landmarks
from fsth.data import samples
from fsth.evaluate import Scorer
from fsth.io.crop import crop_face, face_box
from fsth.io.images import read_image, save_image
from fsth.io.video import probe, read_frames
from fsth.landmarks import create_detector, draw_landmarks
from fsth.landmarks.adapt import adapt_landmarks
from fsth.metrics import nme
from fsth.person import crop_shots, load_model
from fsth.train.finetune import finetune
from fsth.warp import WarpedPortrait

MOUTH = slice(48, 68)


def mouth_nme(found: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Mean error of the 20 mouth points / outer-eye-corner distance of ``wanted``: (T,)."""
    ocular = np.linalg.norm(wanted[:, 36] - wanted[:, 45], axis=-1)
    return np.linalg.norm(found[:, MOUTH] - wanted[:, MOUTH], axis=-1).mean(-1) / ocular


def score(scorer: Scorer, frames: np.ndarray, wanted: np.ndarray, reference: np.ndarray) -> dict:
    """Identity against the portrait's own descriptor; landmark errors against ``wanted``."""
    embeddings = scorer.embedder(frames, wanted)
    distance = np.linalg.norm(embeddings - reference, axis=-1)
    found = scorer.detected_landmarks(frames)
    seen = np.isfinite(found).all(axis=(1, 2))

    def mean(values):
        return float(np.nanmean(values)) if seen.any() else float("nan")
    return {"verified": float((distance < 0.6).mean()), "distance": float(distance.mean()),
            "csim": float((embeddings @ reference / np.linalg.norm(embeddings, axis=1)
                           / np.linalg.norm(reference)).mean()),
            "nme": mean(nme(found[seen], wanted[seen])), "mouth_nme": mean(mouth_nme(found[seen], wanted[seen])),
            "detected": float(seen.mean())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT")
    parser.add_argument("--portraits", nargs="+", default=["monalisa", "grace_hopper", "astronaut"])
    parser.add_argument("--driving", default="wolfgang")
    parser.add_argument("--frames", type=int, default=96, help="driving frames rendered")
    parser.add_argument("--ft-steps", type=int, default=100, help="fine-tuning steps on the portrait")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--out", default="docs/portraits")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = dict(spec.split("=", 1) for spec in args.model)
    detector, scorer = create_detector("dlib"), Scorer()
    source = samples.fetch(args.driving)
    frames = list(read_frames(source, range(min(args.frames, probe(source).frames))))
    drive = driving_landmarks(frames, detector, args.driving)
    loaded = {name: load_model(path) for name, path in models.items()}
    sizes = {m.config.image_size for m in loaded.values()} or {64}
    if len(sizes) != 1:
        raise SystemExit(f"the models differ in image size {sorted(sizes)}: compare models of one size")
    size = sizes.pop()
    pick = np.linspace(0, len(frames) - 1, args.columns).round().astype(int)
    results = []
    for portrait in args.portraits:
        shots, points = crop_shots([read_image(samples.fetch(portrait))], size, detector, names=[portrait])
        reference = scorer.embedder(shots, points)[0]
        wanted = adapt_landmarks(drive, points[0], mode="relative", reference="best")
        rows = [[crop_face(frames[i], face_box(drive[i]), size)[0] for i in pick],
                [draw_landmarks(wanted[i], size) for i in pick]]
        methods = {"warp": lambda: WarpedPortrait(shots, points)}
        methods.update({name: (lambda m=m: finetune(m, shots, points, steps=args.ft_steps, progress=False))
                        for name, m in loaded.items()})
        for method, make in methods.items():
            started = time.perf_counter()
            rendered = make().render(wanted)
            seconds = time.perf_counter() - started
            results.append({"portrait": portrait, "method": method, "seconds": round(seconds, 1),
                            **score(scorer, rendered, wanted, reference)})
            print(json.dumps(results[-1]))
            rows.append([rendered[i] for i in pick])
        strip = np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
        side = np.concatenate([shots[0]] + [np.zeros_like(shots[0])] * (len(rows) - 1), axis=0)
        save_image(out / f"{portrait}.png", np.concatenate([side, strip], axis=1), synthetic=True)
    (out / "results.json").write_text(json.dumps({"driving": args.driving, "frames": len(frames),
                                                   "steps": args.ft_steps, "models": models, "rows": results},
                                                  indent=2))
    lines = [f"Driven by `{args.driving}` ({len(frames)} frames, adaptation `relative`); models fine-tuned "
             f"{args.ft_steps} steps on the one portrait. Strips: `<portrait>.png` (rows: driving face, landmarks "
             "asked for, then " + ", ".join(methods) + ").", "",
             "| portrait | method | verified ↑ | distance ↓ | CSIM ↑ | NME ↓ | mouth NME ↓ | detected ↑ |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['portrait']} | {r['method']} | {r['verified']:.2f} | {r['distance']:.3f} | {r['csim']:.3f} | "
              f"{r['nme']:.3f} | {r['mouth_nme']:.3f} | {r['detected']:.2f} |" for r in results]
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
