"""``python -m detector study|score``: the detectability study, or scoring media with a saved detector.

    python -m detector study --checkpoint fsth/pretrained/MODEL.pt --out docs/detector --ship
    python -m detector study --checkpoint ... --fast              # the course's few-minute version
    python -m detector study --real DIR --fake DIR --out my-study  # your own videos or images
    python -m detector score fake.mp4 --detector fsth/pretrained/detector_residual.pt --compare real.mp4

Errors end as one line ``detector CMD: error: ...`` (exit 2: wrong command line, 1: failed
run; ``--verbose`` adds the traceback), the same path as the ``fsth`` command (fsth.errors).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from fsth.errors import UsageError, output_folder, run_command

PRETRAINED = Path(__file__).resolve().parents[1] / "fsth" / "pretrained"  # where --ship puts the detectors


def study_settings(args):
    from .study import FAST, StudySettings

    s = FAST if args.fast else StudySettings()
    src = replace(s.sources, **{k: v for k, v in {"pairs": args.pairs, "window": args.window,
                                                   "seed": args.synth_seed}.items() if v is not None})
    p = replace(s.protocol, **{k: v for k, v in {"folds": args.folds, "epochs": args.epochs,
                                                  "seeds": tuple(args.seeds) if args.seeds else None}.items()
                               if v is not None})
    extra = {"detectors": tuple(args.detectors) if args.detectors else None,
             "ft_steps": tuple(args.ft_steps) if args.ft_steps else None}
    return replace(s, sources=src, protocol=p, **{k: v for k, v in extra.items() if v is not None})


def study_cache(args, settings) -> Path:
    """Where the faces are kept between runs: one folder per generator file and face settings
    (in fsth's cache, not next to the report), so a new model or setting makes new faces."""
    import hashlib
    from dataclasses import asdict

    from fsth.data.samples import sha256
    from fsth.io.cache import cache_dir

    made_by = sha256(args.checkpoint) if args.checkpoint else f"{Path(args.real).resolve()}|{Path(args.fake).resolve()}"
    if args.checkpoint and args.other:
        made_by += "+" + sha256(args.other)
    what = {"by": made_by, "sources": asdict(settings.sources), "ks": settings.ks, "ft_steps": settings.ft_steps,
            "curve_pairs": settings.curve_pairs, "steps_pairs": settings.steps_pairs, "identity": settings.identity}
    return cache_dir() / "detector-study" / hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def cmd_study(args) -> int:
    from .study import load_study_faces, make_study_faces, run_study

    if (args.real is None) != (args.fake is None):
        raise UsageError("give both --real DIR and --fake DIR (or neither, to make fakes with --checkpoint)")
    if args.other and not args.checkpoint:
        raise UsageError("--other needs --checkpoint (it is a second generator next to that one)")
    if args.real is None and not args.checkpoint:
        raise UsageError("--checkpoint MODEL is needed to make fakes (e.g. the shipped talking-head model in "
                         "fsth/pretrained/), or give --real DIR --fake DIR")
    settings = study_settings(args)
    out = output_folder(args.out, "--out")
    cache = Path(args.cache) if args.cache else study_cache(args, settings)
    started = time.perf_counter()
    extra = {}
    if args.real is not None:
        from .sources import folder_faces

        made = {"synth": folder_faces(args.real, args.fake, args.size, settings.sources.window, cache)}
        name, check = "", "your own data: identities are the sub-folders (not checked against any generator)"
    else:
        from fsth.person import load_model

        from .sources import generator_training_keys

        model = load_model(args.checkpoint)
        keys = generator_training_keys(model, args.data)
        name = Path(args.checkpoint).name
        check = (f"test identities are SynthHeads seed {settings.sources.seed}; checked against {keys['checked']}"
                 f" ({len(keys['synth'])} training identities)")
        other = None
        if args.other:
            other = load_model(args.other)
            if other.config.image_size != model.config.image_size:
                raise UsageError(f"--other {args.other}: makes {other.config.image_size} px faces, "
                                 f"--checkpoint {args.checkpoint} {model.config.image_size} px; they must match")
            other_keys = generator_training_keys(other)  # its fakes' identities must be unseen by it too
            keys = {**keys, **{k: keys[k] | other_keys[k] for k in ("synth", "hashes")}}
            extra["other_model"] = Path(args.other).name
            check += (f"; for {extra['other_model']}: {other_keys['checked']} "
                      f"({len(other_keys['synth'])} training identities)")
        made = None if args.regenerate else load_study_faces(cache)
        if made is None:
            made = make_study_faces(model, settings, cache, keys, other=other)
    faces_seconds = time.perf_counter() - started
    extra.update(check=check, faces_seconds=faces_seconds)
    results = run_study(made, out, settings, model_name=name, extra=extra)
    if args.ship:
        from fsth.io import atomic_write

        from .report import card, write_text

        for file in (v["file"] for v in results["shipped"].values()):
            with atomic_write(PRETRAINED / file) as f:
                f.write((out / file).read_bytes())
            print(f"shipped {PRETRAINED / file}")
        write_text(PRETRAINED / "DETECTOR_CARD.md", card(results))
        print(f"wrote {PRETRAINED / 'DETECTOR_CARD.md'}")
    print((out / "report.md").read_text())
    print(f"wrote {out / 'report.md'} and {out / 'results.json'}; faces {faces_seconds:.0f} s, "
          f"study {results['seconds']:.0f} s, total {time.perf_counter() - started:.0f} s")
    return 0


def cmd_score(args) -> int:
    from . import models
    from .scoring import describe, line, score_media

    det = models.load(args.detector)
    results = {str(p): score_media(det, p) for p in [args.input, *args.compare]}
    for i, (path, result) in enumerate(results.items()):
        if args.verbose:
            print("\n".join(f"  frame {j}: P(fake) = {s:.3f}" for j, s in enumerate(result["scores"])))
        print(line(path if i == 0 else f"  compare {path}", result, det.threshold))
    print(f"detector {args.detector}: {describe(det)}")
    if args.json:
        from .report import write_text

        write_text(Path(args.json), json.dumps({p: {k: v for k, v in r.items() if k != "scores"}
                                                for p, r in results.items()}, indent=2))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m detector", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("study", help="make fakes, cross-validate detectors, run the controls, write the report")
    p.add_argument("--checkpoint", help="fsth model (training checkpoint or shipped file) that makes the fakes")
    p.add_argument("--other", help="a second fsth generator (e.g. fsth/pretrained/talking_heads_tiny.pt) whose "
                   "fakes of the baseline pairs join the cross-generator matrix")
    p.add_argument("--data", help="the generator's training data folder (default: the one its checkpoint names): "
                   "test identities are checked against it")
    p.add_argument("--real", help="your own real face videos/images: DIR/<identity>/<video>.mp4 or .../<video>/*.png")
    p.add_argument("--fake", help="your own fake face videos/images, laid out like --real")
    p.add_argument("--size", type=int, default=64, help="face crop size for --real/--fake")
    p.add_argument("--out", default="detector-study")
    p.add_argument("--fast", action="store_true", help="every section, on small axes (a few minutes)")
    p.add_argument("--detectors", nargs="+",
                   help="detector names (default: frequency residual resnet10t; resnet18 and any timm name work)")
    p.add_argument("--pairs", type=int, help="SynthHeads pairs (2 identities each)")
    p.add_argument("--window", "--targets", type=int, help="contiguous frames per video, both classes")
    p.add_argument("--folds", type=int)
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--epochs", type=int, help="CNN training epochs per fold")
    p.add_argument("--ft-steps", type=int, nargs="+", help="fine-tuning steps of the steps curve")
    p.add_argument("--synth-seed", type=int, help="SynthHeads seed of the test identities")
    p.add_argument("--cache", help="folder for the faces (default: one per model and settings in fsth's cache)")
    p.add_argument("--regenerate", action="store_true", help="make the faces again even if the cache has them")
    p.add_argument("--ship", action="store_true", help="copy the retrained detectors into fsth/pretrained/")
    p.add_argument("-v", "--verbose", action="store_true", help="tracebacks of errors")
    p.set_defaults(func=cmd_study)
    p = sub.add_parser("score", help="P(fake) of an image, a video or an image folder with a saved detector")
    p.add_argument("input")
    p.add_argument("--detector", required=True, help="saved detector (.pt for the CNNs, .json for frequency)")
    p.add_argument("--compare", nargs="*", default=[], help="real media to score side by side (the driving "
                   "video, the portrait)")
    p.add_argument("--json", help="also write the scores to this JSON file")
    p.add_argument("-v", "--verbose", action="store_true", help="a score per frame, and tracebacks of errors")
    p.set_defaults(func=cmd_score)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_command(f"detector {args.command}", args.func, args, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
