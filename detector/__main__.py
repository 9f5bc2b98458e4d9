"""``python -m detector study|score``: the detectability study, or scoring media with a saved detector.

Errors end as one line ``detector CMD: error: ...`` (exit 2: wrong command line, 1: failed
run; ``--verbose`` adds the traceback), the same path as the ``fsth`` command (fsth.errors).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from fsth.errors import output_folder, run_command


def cmd_study(args) -> int:
    from fsth.person import load_model
    from fsth.reenact import held_out_clips

    from .data import FaceSet
    from .study import FAKE_SETTINGS, StudySettings, make_faces, run_study

    settings = StudySettings(detectors=tuple(args.detectors), targets=args.targets, epochs=args.epochs,
                             seed=args.seed, ft_steps=args.ft_steps)
    out = output_folder(args.out, "--out")
    cache = out / "faces.npz"
    if cache.exists() and not args.regenerate:
        faces = FaceSet.load(cache)
    else:
        model = load_model(args.checkpoint)
        need = max(s[2] for s in FAKE_SETTINGS) + args.targets
        clips = held_out_clips(args.data, model, min_frames=need, max_clips=args.max_clips)
        if len(clips) < 3:
            raise ValueError(f"need clips of at least 3 identities with {need} frames in {args.data}")
        started = time.perf_counter()
        faces = make_faces(model, clips, settings)
        faces.save(cache)
        print(f"made {len(faces)} faces from {len(clips)} clips in {time.perf_counter() - started:.0f} s")
    results = run_study(faces, out, settings)
    print((out / "report.md").read_text())
    print(f"wrote {out / 'report.md'} and {out / 'results.json'} in {results['seconds']:.0f} s")
    return 0


def cmd_score(args) -> int:
    import numpy as np

    from fsth.io.images import read_image
    from fsth.io.video import is_video, read_frames

    from . import models
    from .faces import face_crops

    det = models.load(args.detector)
    path = Path(args.input)
    frames = list(read_frames(path)) if (path.is_dir() or is_video(path)) else [read_image(path)]
    crops = face_crops(frames, args.size, str(path))
    scores = det.predict_proba(crops)
    if not np.isfinite(scores).all():
        raise ValueError(f"{args.detector}: gives P(fake) = nan for {path}; the detector file is damaged")
    for i, s in enumerate(scores):
        if len(scores) > 1 and args.verbose:
            print(f"frame {i}: P(fake) = {s:.3f}")
    print(f"{path}: P(fake) = {float(np.mean(scores)):.3f} (mean over {len(scores)} frame(s); "
          f"{(scores >= 0.5).mean():.0%} of frames above 0.5)")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m detector", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("study", help="generate fakes, train detectors, write the report")
    p.add_argument("--checkpoint", help="fsth training checkpoint that makes the fakes")
    p.add_argument("--data", help="clips of held-out identities (the checkpoint's hold-out list is used)")
    p.add_argument("--out", default="detector-study")
    p.add_argument("--detectors", nargs="+", default=["frequency", "resnet18"])
    p.add_argument("--targets", type=int, default=8)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--ft-steps", type=int, default=100, help="fine-tuning steps of the ft-* fakes")
    p.add_argument("--max-clips", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--regenerate", action="store_true", help="make the fakes again even if OUT/faces.npz exists")
    p.set_defaults(func=cmd_study)
    p = sub.add_parser("score", help="P(fake) of an image or a video with a saved detector")
    p.add_argument("input")
    p.add_argument("--detector", required=True, help="saved detector (.pt for timm, .json for frequency)")
    p.add_argument("--size", type=int, default=64, help="face crop size the detector was trained on")
    p.add_argument("-v", "--verbose", action="store_true", help="a score per frame, and tracebacks of errors")
    p.set_defaults(func=cmd_score)
    sub.choices["study"].add_argument("-v", "--verbose", action="store_true", help="tracebacks of errors")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_command(f"detector {args.command}", args.func, args, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
