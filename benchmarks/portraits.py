"""One-shot, cross-identity: portraits driven by a real clip, per method, with figures.

For each portrait (default: the Mona Lisa, Grace Hopper, the astronaut) and one driving
clip (default: wolfgang, never trained on; ``--driving`` also takes the path of any video or
image folder), the driver's landmarks are smoothed in time as ``fsth animate`` does
(``--smooth``, default ``savgol``), adapted to the portrait (``relative``) and rendered at
``--size`` px (default 256; the portraits are cropped at that size) by each method:

- ``--baselines`` (default ``warp guided-warp``): renderers without learning (``fsth.baselines``):
  the landmark warp, and the warp on guard-rails (``fsth.guardrails``);
- every ``--model NAME=CHECKPOINT``: the model fine-tuned on the one portrait (``--ft-steps``).
  Each model works at its own size and renders at ``--size``, sampling the full-resolution
  crop (``fsth.person.Person.render``), so models of different sizes compare.

Per portrait and method, measured with dlib on the result (``detected``: share of frames
where it found a face):

- identity: ``verified`` (share of frames dlib calls the portrait's person: descriptor
  distance < 0.6), ``distance`` (mean descriptor distance), CSIM;
- following the landmarks asked for: NME over all 68 points and over the mouth (points
  48-67), both / the eye-corner distance;
- moving like the driver (``fsth.metrics``, result against the driver's smoothed landmarks):
  ``mouth_span`` (the result's mouth-opening span over the driver's: 1 opens as much, near 0
  a mouth that stays shut), ``mouth_corr`` (correlation of the two opening series),
  ``blink`` (the result's eye opening on the driver's blink frames over its median: ~1 the
  eyes stay open through the driver's blinks, lower blinks too; NaN when the driver never
  blinks in the frames used), ``flicker`` (mean |change| between consecutive frames over the
  driver's face crops': well above 1 flickers; compare methods with each other);
- ``blink_mesh`` (with ``--mesh-python``): ``blink`` read by a second instrument, MediaPipe's
  Face Mesh (``benchmarks/mesh_eyes.py``, in its own environment): dlib's eye points lean on
  its shape prior and, on a painting, stay where open lids would be when the eyes are shut.
  The driver's blink frames are still dlib's; the caption says how the mesh reads the driver's
  own blinks, which is how far to trust it;
- ``bright``, ``dark`` (``fsth.metrics.mouth_interior``, read on dlib's points of the result, as
  on the driver's): the shares of the open mouth brighter than the cheeks (teeth, mostly) and
  far darker (a shadowed cavity). Landmarks do not say whether a mouth shows its teeth: the
  driver's own shares are in the caption, the nearer the better;
- ``synth_in_mouth``: for a generator with a synthesis path (``return_parts``), its mean
  mask weight inside the target's mouth interior (at the model's size) over the frames where
  the driver's mouth is open (above its median): whether the model paints the inside of the
  mouth rather than stretching the closed lips. NaN for the warp and for pure synthesis.

    python benchmarks/portraits.py --model "paper G=fsth/pretrained/talking_heads_tiny.pt" \\
        --model "warping G=fsth/pretrained/talking_heads_tiny_warp.pt" --out docs/portraits

Writes ``table.md``, ``results.json`` (NaN as null) and ``<portrait>.png`` strips (rows:
driving face, landmarks asked for, then one row per method; the portrait crop on the left),
all marked synthetic.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from fsth.animation import reuse_last_face
from fsth.data import samples
from fsth.evaluate import Scorer
from fsth.io.atomic import atomic_write_text
from fsth.io.crop import crop_face, face_box, smooth_boxes
from fsth.io.images import read_image, save_image
from fsth.io.tensors import resize_frames, to_tensor
from fsth.io.video import probe, read_frames
from fsth.landmarks import SMOOTHING_METHODS, create_detector, draw_landmarks, smooth_landmarks
from fsth.landmarks.adapt import adapt_landmarks
from fsth.landmarks.regions import mouth_masks
from fsth.metrics import (blink_ratio, blink_ratio_of, detected_landmarks, eye_opening, flicker, mouth_interior,
                          mouth_opening, mouth_span_ratio, nme)
from fsth.nn.conditioning import build as build_conditioning
from fsth.person import crop_shots, load_model
from fsth.train.finetune import finetune
from fsth.baselines import BASELINES, create_baseline

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository's benchmarks package
    sys.path.insert(0, str(ROOT))
from benchmarks.mesh_eyes import mesh_eye_opening  # noqa: E402

MOUTH = slice(48, 68)

# (key, header, format) of table.md, in order; ↑ / ↓: which way is better, ≈: the nearer the driver's the better
COLUMNS = [("verified", "verified ↑", ".2f"), ("distance", "distance ↓", ".3f"), ("csim", "CSIM ↑", ".3f"),
           ("nme", "NME ↓", ".3f"), ("mouth_nme", "mouth NME ↓", ".3f"), ("detected", "detected ↑", ".2f"),
           ("mouth_span", "mouth span ↑", ".2f"), ("mouth_corr", "mouth corr ↑", ".2f"),
           ("blink", "blink ↓", ".2f"), ("blink_mesh", "blink (mesh) ↓", ".2f"), ("flicker", "flicker ↓", ".2f"),
           ("bright", "bright ≈", ".2f"), ("dark", "dark ≈", ".2f"), ("synth_in_mouth", "synth in mouth ↑", ".2f")]


def media(name_or_path: str, kind: str) -> Path:
    """A sample's name (``fsth.data.samples``) or the path of a file or folder of one's own."""
    if name_or_path in samples.SAMPLES:
        return samples.fetch(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        names = sorted(n for n, s in samples.SAMPLES.items() if s.kind == kind and not s.test_only)
        raise SystemExit(f"{name_or_path!r} is neither a sample {kind} ({', '.join(names)}) nor an existing path")
    return path


def mouth_nme(found: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Mean error of the 20 mouth points / outer-eye-corner distance of ``wanted``: (T,)."""
    ocular = np.linalg.norm(wanted[:, 36] - wanted[:, 45], axis=-1)
    return np.linalg.norm(found[:, MOUTH] - wanted[:, MOUTH], axis=-1).mean(-1) / ocular


def driver_crops(frames: list[np.ndarray], detected: np.ndarray, size: int, fps: float) -> np.ndarray:
    """The driver's face, (T, size, size, 3): boxes around its landmarks smoothed over time
    as ``fsth animate --side-by-side`` does, so the crop itself does not tremble."""
    boxes = smooth_boxes(face_box(detected), sigma=0.3 * fps)
    return np.stack([crop_face(f, b, size)[0] for f, b in zip(frames, boxes)])


def open_mouth_frames(drive: np.ndarray) -> np.ndarray:
    """Indices of the frames where the driver's mouth opening is above its median."""
    opening = mouth_opening(drive)
    return np.flatnonzero(opening > np.nanmedian(opening))


@torch.no_grad()
def synthesis_in_mouth(renderer, wanted: np.ndarray, frames: np.ndarray, batch: int = 16) -> float:
    """Mean synthesis-mask weight of ``renderer``'s generator inside the target mouth interior
    (``mouth_masks`` > 0.5 at the model's size) over ``frames`` of ``wanted`` (T, 68, 2) in
    the renderer's crop pixels. Reproduces ``Person.render`` at the model's size with
    ``return_parts=True``; NaN for a renderer without a generator, a generator that has no
    parts (pure synthesis), or no mouth interior in those frames."""
    G = getattr(renderer, "generator", None)
    if G is None or not len(frames):
        return float("nan")
    device = next(G.parameters()).device
    G.eval()
    model_size, size = G.config.image_size, renderer.size
    small, small_points = resize_frames(renderer.shots, renderer.landmarks, model_size)
    shots = to_tensor(small)
    targets = (np.asarray(wanted, np.float32)[frames] + 0.5) * (model_size / size) - 0.5
    weight, area = 0.0, 0
    for start in range(0, len(targets), batch):
        chunk = targets[start:start + batch]
        drawn = to_tensor(draw_landmarks(chunk, model_size)).to(device)
        inputs = build_conditioning(G.conditioning, shots, small_points, chunk, model_size)
        inputs = {k: v.to(device) for k, v in inputs.items()}
        try:
            parts = G(drawn, None, return_parts=True, **inputs)
        except TypeError as error:
            if "return_parts" in str(error):
                return float("nan")
            raise
        if not isinstance(parts, dict) or "mask" not in parts:
            return float("nan")
        mask = parts["mask"][:, -1].float().cpu().numpy().reshape(len(chunk), model_size, model_size)
        inside = mouth_masks(chunk, model_size) > 0.5
        weight += float(mask[inside].sum())
        area += int(inside.sum())
    return weight / area if area else float("nan")


def score(scorer: Scorer, frames: np.ndarray, wanted: np.ndarray, reference: np.ndarray,
          drive: np.ndarray, crops: np.ndarray) -> dict:
    """Identity against the portrait's own descriptor; landmark errors against ``wanted``;
    mouth, blink and flicker against the driver (smoothed landmarks ``drive``, face ``crops``)."""
    embeddings = scorer.embedder(frames, wanted)
    distance = np.linalg.norm(embeddings - reference, axis=-1)
    found = scorer.detected_landmarks(frames)
    seen = np.isfinite(found).all(axis=(1, 2))

    def mean(values):
        return float(np.nanmean(values)) if seen.any() else float("nan")
    span, corr = mouth_span_ratio(found, drive)
    inside = mouth_interior(frames[seen], found[seen])
    return {"verified": float((distance < 0.6).mean()), "distance": float(distance.mean()),
            "csim": float((embeddings @ reference / np.linalg.norm(embeddings, axis=1)
                           / np.linalg.norm(reference)).mean()),
            "nme": mean(nme(found[seen], wanted[seen])), "mouth_nme": mean(mouth_nme(found[seen], wanted[seen])),
            "detected": float(seen.mean()), "mouth_span": span, "mouth_corr": corr,
            "blink": blink_ratio(found, drive), "flicker": flicker(frames, crops),
            "bright": inside["bright"], "dark": inside["dark"]}


def refiner_variants(renderer, ablate: bool) -> list[tuple[str, dict]]:
    """(name suffix, {switch: on}) to render: the renderer as it is, and with ``ablate`` each
    learned refiner of its generator (``REFINERS``, e.g. the guided model's eyes and mouth)
    switched off, then all of them."""
    refiners = getattr(getattr(renderer, "generator", None), "REFINERS", ())
    switches = [switch for _, switch in refiners]
    everything = dict.fromkeys(switches, True)
    variants = [("", everything)]
    if ablate and switches:
        variants += [(f", {part} refiner off", {**everything, switch: False}) for part, switch in refiners]
        if len(switches) > 1:
            variants.append((", refiners off", dict.fromkeys(switches, False)))
    return variants


def _finite(value):
    """NaN and infinities as None (JSON null), everything else as it is."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _cell(value, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def table(results: list[dict], caption: str) -> str:
    lines = [caption, "", "| portrait | method | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    lines += [f"| {r['portrait']} | {r['method']} | " + " | ".join(_cell(r.get(k), f) for k, _, f in COLUMNS) + " |"
              for r in results]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT")
    parser.add_argument("--portraits", nargs="+", default=["monalisa", "grace_hopper", "astronaut"],
                        help="sample names or image paths")
    parser.add_argument("--driving", default="wolfgang", help="a sample video's name or the path of any video")
    parser.add_argument("--frames", type=int, default=96, help="driving frames rendered (0: all)")
    parser.add_argument("--start", type=int, default=0, help="first driving frame")
    parser.add_argument("--baselines", nargs="+", default=["warp", "guided-warp"], choices=sorted(BASELINES),
                        help="renderers without learning to compare (fsth.baselines)")
    parser.add_argument("--size", type=int, default=256, help="crop and render size in pixels")
    parser.add_argument("--smooth", default="savgol", choices=SMOOTHING_METHODS,
                        help="smoothing of the driving landmarks over time (as fsth animate)")
    parser.add_argument("--ft-steps", type=int, default=100, help="fine-tuning steps on the portrait")
    parser.add_argument("--mesh-python", metavar="PYTHON",
                        help="the Python of an environment with mediapipe 0.10.14 (benchmarks/mesh_eyes.py): "
                             "adds the blink read by Face Mesh")
    parser.add_argument("--refiners-off", action="store_true",
                        help="also render each model with each learned refiner switched off, and all of them "
                             "(same fine-tuned model; rows '<model>, eyes refiner off', ...)")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument("--out", default="docs/portraits")
    args = parser.parse_args()
    out, size = Path(args.out), args.size
    models = dict(spec.split("=", 1) for spec in args.model)
    detector, scorer = create_detector("dlib"), Scorer()
    source = media(args.driving, "video")
    info = probe(source)
    end = info.frames if args.frames <= 0 else min(args.start + args.frames, info.frames)
    frames = list(read_frames(source, range(args.start, end)))
    found = detected_landmarks(frames, detector, args.driving)  # NaN where no face
    detected = reuse_last_face(found, args.driving)
    drive = smooth_landmarks(detected, args.smooth, fps=info.fps)
    crops = driver_crops(frames, detected, size, info.fps)
    opened = open_mouth_frames(drive)
    opening = mouth_opening(drive)
    mesh_driver = None
    if args.mesh_python:  # how the second instrument reads the driver's own blinks (dlib's blink frames)
        mesh_driver = blink_ratio_of(mesh_eye_opening(np.stack(frames), args.mesh_python), eye_opening(detected))
    seen = np.isfinite(found).all(axis=(1, 2))
    driver_mouth = mouth_interior([f for f, ok in zip(frames, seen) if ok], found[seen])  # what its open mouth shows
    driver_span = float(np.percentile(opening, 90) - np.percentile(opening, 10))  # near 0: the mouth stays shut
    loaded = {name: load_model(path) for name, path in models.items()}
    pick = np.linspace(0, len(frames) - 1, args.columns).round().astype(int)
    results = []
    for portrait in args.portraits:
        name = Path(portrait).stem if portrait not in samples.SAMPLES else portrait
        shots, points = crop_shots([read_image(media(portrait, "image"))], size, detector, names=[name])
        reference = scorer.embedder(shots, points)[0]
        wanted = adapt_landmarks(drive, points[0], mode="relative", reference="best")
        rows = [[crops[i] for i in pick], [draw_landmarks(wanted[i], size) for i in pick]]
        methods = {name: (lambda name=name: create_baseline(name, shots, points)) for name in args.baselines}
        methods.update({method: (lambda m=m: finetune(m, shots, points, steps=args.ft_steps, progress=False))
                        for method, m in loaded.items()})
        for method, make in methods.items():
            started = time.perf_counter()
            renderer = make()
            made = time.perf_counter() - started  # fine-tuning, for a model
            in_mouth = synthesis_in_mouth(renderer, wanted, opened)  # G's own mask: no refiner changes it
            for variant, switches in refiner_variants(renderer, args.refiners_off):
                for switch, on in switches.items():
                    setattr(renderer.generator, switch, on)
                begun = time.perf_counter()
                rendered = renderer.render(wanted)
                seconds = made + time.perf_counter() - begun
                mesh = (blink_ratio_of(mesh_eye_opening(rendered, args.mesh_python), eye_opening(drive))
                        if args.mesh_python else float("nan"))
                results.append({"portrait": name, "method": method + variant, "seconds": round(seconds, 1),
                                **score(scorer, rendered, wanted, reference, drive, crops), "blink_mesh": mesh,
                                "synth_in_mouth": in_mouth})
                print(json.dumps({k: _finite(v) for k, v in results[-1].items()}))
                if not variant:
                    rows.append([rendered[i] for i in pick])
        strip = np.concatenate([np.concatenate(r, axis=1) for r in rows], axis=0)
        side = np.concatenate([shots[0]] + [np.zeros_like(shots[0])] * (len(rows) - 1), axis=0)
        save_image(out / f"{name}.png", np.concatenate([side, strip], axis=1), synthetic=True)
    summary = {"driving": args.driving, "start": args.start, "frames": len(frames), "fps": info.fps, "size": size, "smooth": args.smooth,
               "adapt": "relative", "steps": args.ft_steps, "models": models,
               "model_sizes": {name: m.config.image_size for name, m in loaded.items()},
               "mouth_open_frames": len(opened), "driver_mouth_span": driver_span,
               "driver_bright": _finite(driver_mouth["bright"]), "driver_dark": _finite(driver_mouth["dark"]),
               "driver_blink_by_mesh": _finite(mesh_driver) if mesh_driver is not None else None,
               "rows": [{k: _finite(v) for k, v in r.items()} for r in results]}
    atomic_write_text(out / "results.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    sizes = ", ".join(f"{name} {m.config.image_size} px" for name, m in loaded.items())
    caption = (f"Driven by `{args.driving}` ({len(frames)} frames from frame {args.start} at {info.fps:g} fps, landmarks smoothed "
               f"`{args.smooth}`, adaptation `relative`), every method rendered at {size} px from a {size} px crop"
               + (f" (models at their own size: {sizes}; fine-tuned {args.ft_steps} steps on the one portrait)"
                  if loaded else "") + ". Strips: `<portrait>.png` (rows: driving face, landmarks asked for, then "
               + ", ".join([*args.baselines, *loaded]) + "). Mouth span: the result's mouth-opening span over the driver's "
               f"(1: as much; the driver's own span: {driver_span:.3f} eye-corner distances, near 0 a closed mouth "
               "where span and corr measure noise); blink: the result's eye opening on the driver's blinks over "
               "its median (~1: no blink; – where the driver never blinks)"
               + (f"; blink (mesh): the same read by MediaPipe's Face Mesh instead of dlib (the mesh reads the "
                  f"driver's own blinks at {mesh_driver:.2f} of its median)" if mesh_driver is not None else "")
               + "; flicker: frame-to-frame change over the driver's (compare methods); bright, dark: shares "
               "of the open mouth brighter than the cheeks (teeth) and far darker (the driver's: "
               f"{_cell(driver_mouth['bright'], '.2f')}, {_cell(driver_mouth['dark'], '.2f')})"
               "; synth in mouth: the synthesis mask inside the open mouth "
               f"({len(opened)} frames; – without a synthesis mask).")
    text = table(results, caption)
    atomic_write_text(out / "table.md", text)
    print(text, end="")


if __name__ == "__main__":
    main()
