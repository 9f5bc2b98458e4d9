"""``fsth detect study|score|heldout``: the detector package's commands, plugged into ``fsth``
through the ``fsth.commands`` entry point (``python -m detector`` is the same).

    fsth detect study --checkpoint fsth/pretrained/MODEL.pt --out docs/detector --ship
    fsth detect study --checkpoint ... --fast              # the course's few-minute version
    fsth detect study --real DIR --fake DIR --out my-study  # your own videos or images
    fsth detect score fake.mp4 --detector fsth/pretrained/frequency.json --compare real.mp4

Errors end as one line ``fsth detect CMD: error: ...`` (exit 2: wrong command line, 1: failed
run; ``-v`` adds the traceback), the same path as every ``fsth`` command (fsth.errors).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from fsth import SHIPPED_DETECTORS
from fsth.assets import PRETRAINED
from fsth.errors import UsageError, output_folder
from fsth.flags import Command, add_flags, add_subcommands, command_group, option

log = logging.getLogger("detector")


@dataclass(frozen=True)
class StudyOptions:
    """``fsth detect study``: unset numbers keep the study's defaults (or --fast's)."""
    checkpoint: str = option("", "fsth model (training checkpoint or shipped file) that makes the fakes")
    other: str = option("", "a second fsth generator (e.g. fsth/pretrained/talking_heads_tiny.pt) whose fakes "
                        "of the baseline pairs join the cross-generator matrix")
    data: str = option("", "the generator's training data folder (default: the one its checkpoint names): "
                       "test identities and real faces are checked against it")
    other_data: str = option("", "--other's training data folder (default: the one its checkpoint names)")
    unseen_unchecked: bool = option(False, "run even where a generator's training data is not here (the report "
                                    "then says the test faces were not checked as unseen)")
    real: str = option("", "your own real face videos/images: DIR/<identity>/<video>.mp4, .../<video>/*.png, "
                       "FaceForensics++'s original_sequences/youtube/c23/videos or a DeepfakeBench <dataset>/real")
    fake: str = option("", "your own fake face videos/images: manipulated_sequences/<method>/c23/videos, a "
                       "DeepfakeBench <dataset>/fake, or laid out like --real")
    size: int = option(64, "face crop size for --real/--fake")
    match_processing: bool = option(False, "--real/--fake: put the reals through the fakes' pipeline (their face "
                                    "resolution and codec), so neither can tell the classes apart")
    render_size: int | None = option(None, "side the fakes are rendered at and real faces cropped at (default: "
                                     "256, as fsth animate renders)",
                                     check=(lambda v: v is None or 16 <= v <= 1024, "from 16 to 1024"))
    detector_size: int | None = option(None, "side the detectors see, after the fakes' processing (default: 128; "
                                       "0: the render size)",
                                       check=(lambda v: v is None or v == 0 or 16 <= v <= 1024,
                                              "0 or from 16 to 1024"))
    pretrained: tuple[str, ...] = option((), "ImageNet weights of a timm backbone, as NAME=FILE (e.g. "
                                         "resnet50=resnet50_a1_0-14fe96d1.pth) or FILE when the study has one "
                                         "timm backbone; loaded by timm's own loader, no download")
    input_size: int | None = option(None, "input side of the timm backbones (default: each one's own, e.g. 299 for "
                                    "legacy_xception, 224 for resnet50)",
                                    check=(lambda v: v is None or 16 <= v <= 1024, "from 16 to 1024"))
    out: str = option("detector-study", "folder for report.md, results.json, figures and detectors")
    fast: bool = option(False, "every section, on small axes (a few minutes)")
    detectors: tuple[str, ...] = option((), "detector names (default: frequency residual): any timm "
                                        "name (legacy_xception, xception41, efficientnet_b0, efficientnet_b4, "
                                        "resnet50), fine-tuned at its own input size, or probe:NAME, a linear probe "
                                        "on its frozen features (needs --pretrained)")
    pairs: int | None = option(None, "SynthHeads pairs (2 identities each)")
    window: int | None = option(None, "contiguous frames per video, both classes")
    k: int | None = option(None, "shots of each fake")
    ft_steps: int | None = option(None, "fine-tuning steps of each fake")
    folds: int | None = option(None, "cross-validation folds")
    seeds: tuple[int, ...] = option((), "seeds of the repeated cross-validation")
    epochs: int | None = option(None, "CNN training epochs per fold")
    curve_ft_steps: tuple[int, ...] = option((), "fine-tuning steps along the fine-tuning curve")
    synth_seed: int | None = option(None, "SynthHeads seed of the test identities")
    cache: str = option("", "folder for the faces (default: one per model and settings in fsth's cache)")
    regenerate: bool = option(False, "make the faces again even if the cache has them")
    ship: bool = option(False, "copy the retrained detectors into fsth/pretrained/ (only those that pass the "
                        "no-generator control; none: exit 1, nothing copied)")


@dataclass(frozen=True)
class ScoreOptions:
    input: str = option("", "image, video or folder (each image and video in it scored on its own)", positional=True)
    detector: str = option("", "saved detector (.pt for the CNNs, .json for frequency), e.g. "
                           f"fsth/pretrained/{SHIPPED_DETECTORS['frequency']}", required=True)
    compare: tuple[str, ...] = option((), "real media to score side by side (the driving video, the portrait)")
    json: str = option("", "also write the scores to this JSON file")
    max_frames: int | None = option(None, "score at most this many frames of each video, spread evenly over it "
                                    "(default: all)", check=(lambda v: v is None or v >= 1, "at least 1"))


@dataclass(frozen=True)
class HeldoutOptions:
    detector: tuple[str, ...] = option((), "saved detector(s) (default: the shipped ones)")
    cache: str = option("", "folder for the held-out video's face crops (default: fsth's cache)")
    json: str = option("", "also write the figures to this JSON file")


def study_settings(args: "StudyOptions"):
    from .study import FAST, STANDARD

    s = FAST if args.fast else STANDARD
    src = replace(s.sources, **{k: v for k, v in {"pairs": args.pairs, "window": args.window, "k": args.k,
                                                   "steps": args.ft_steps, "seed": args.synth_seed,
                                                   "render_size": args.render_size,
                                                   "detector_size": args.detector_size}.items()
                                if v is not None})
    detectors = tuple(args.detectors) if args.detectors else s.detectors
    p = replace(s.protocol, **{k: v for k, v in {"folds": args.folds, "epochs": args.epochs,
                                                  "seeds": tuple(args.seeds) if args.seeds else None,
                                                  "input_size": args.input_size,
                                                  "pretrained": pretrained_pairs(args.pretrained, detectors)
                                                  }.items() if v is not None})
    extra = {"detectors": tuple(args.detectors) if args.detectors else None,
             "ft_steps": tuple(args.curve_ft_steps) if args.curve_ft_steps else None}
    return replace(s, sources=src, protocol=p, **{k: v for k, v in extra.items() if v is not None})


def pretrained_pairs(given: tuple[str, ...], detectors: tuple[str, ...]) -> tuple[tuple[str, str], ...] | None:
    """``--pretrained`` as (timm name, file) pairs: NAME=FILE, or FILE alone when the study has one
    timm backbone. A linear probe (probe:NAME) needs weights: it measures nothing on random ones."""
    from .models import REGISTRY

    backbones = sorted({d.split(":", 1)[1] if d.startswith("probe:") else d for d in detectors} - set(REGISTRY))
    pairs = []
    for item in given:
        name, sep, file = item.partition("=")
        if not sep:
            if len(backbones) != 1:
                raise UsageError(f"--pretrained {item}: say which backbone it is for, NAME=FILE (the study's timm "
                                 f"backbones: {', '.join(backbones) or 'none'})")
            name, file = backbones[0], item
        if name not in backbones:
            raise UsageError(f"--pretrained {item}: {name} is not a backbone of this study "
                             f"({', '.join(backbones) or 'none'}; add it to --detectors)")
        if not Path(file).is_file():
            raise UsageError(f"--pretrained {item}: {file}: no such file")
        pairs.append((name, file))
    for d in detectors:
        if d.startswith("probe:") and d.split(":", 1)[1] not in dict(pairs):
            raise UsageError(f"--detectors {d}: a linear probe needs the backbone's ImageNet weights, "
                             f"--pretrained {d.split(':', 1)[1]}=FILE (on random weights it measures nothing)")
    return tuple(pairs) if given else None


def study_cache(args, settings) -> Path:
    """Where the faces are kept between runs: one folder per generator file and face settings
    (in fsth's cache, not next to the report), so a new model or setting makes new faces."""
    import hashlib
    from dataclasses import asdict

    from fsth.io.cache import cache_dir, sha256

    made_by = sha256(args.checkpoint) if args.checkpoint else f"{Path(args.real).resolve()}|{Path(args.fake).resolve()}"
    if args.checkpoint and args.other:
        made_by += "+" + sha256(args.other)
    what = {"by": made_by, "sources": asdict(settings.sources), "ks": settings.ks, "ft_steps": settings.ft_steps,
            "curve_pairs": settings.curve_pairs, "steps_pairs": settings.steps_pairs, "identity": settings.identity}
    return cache_dir() / "detector-study" / hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def cmd_study(args: "StudyOptions") -> int:
    from .study import run_study

    if bool(args.real) != bool(args.fake):
        raise UsageError("give both --real DIR and --fake DIR (or neither, to make fakes with --checkpoint)")
    if args.other and not args.checkpoint:
        raise UsageError("--other needs --checkpoint (it is a second generator next to that one)")
    if not args.real and not args.checkpoint:
        raise UsageError("--checkpoint MODEL is needed to make fakes (e.g. the shipped talking-head model in "
                         "fsth/pretrained/), or give --real DIR --fake DIR")
    if args.match_processing and not args.real:
        raise UsageError("--match-processing is for --real/--fake: the study's own faces are processed alike already")
    settings = study_settings(args)
    out = output_folder(args.out, "--out")
    cache = Path(args.cache) if args.cache else study_cache(args, settings)
    started = time.perf_counter()
    extra = {}
    if args.real:
        made, name, extra = own_faces(args, settings, cache)
    else:
        made, name, extra = generated_faces(args, settings, cache)
    faces_seconds = time.perf_counter() - started
    extra.update(faces_seconds=faces_seconds)
    results = run_study(made, out, settings, model_name=name, extra=extra)
    print((out / "report.md").read_text())
    print(f"wrote {out / 'report.md'} and {out / 'results.json'}; faces {faces_seconds:.0f} s, "
          f"study {results['seconds']:.0f} s, total {time.perf_counter() - started:.0f} s")
    if args.ship:
        ship_files(results, out)
    return 0


def own_faces(args: "StudyOptions", settings, cache: Path) -> tuple[dict, str, dict]:
    """``--real DIR --fake DIR``: the faces (checked: :mod:`detector.folders`), no generator name,
    and what the report says about them."""
    from .folders import folder_faces, study_splits

    faces, rows, info = folder_faces(args.real, args.fake, args.size, settings.sources.window, cache,
                                     match=args.match_processing,
                                     splits=study_splits(settings.protocol, settings.matrix_folds))
    check = "your own data: identities are read from the folders (not checked against any generator)"
    return {"synth": (faces, rows)}, "", {"byo": info, "check": check,
                                          "processing": f"faces cropped at {args.size} px by fsth preprocess"
                                          + (f"; reals {info['matched']}" if info["matched"] else
                                             "; each class as its files were (no --match-processing)")}


def generated_faces(args: "StudyOptions", settings, cache: Path) -> tuple[dict, str, dict]:
    """Faces made by ``--checkpoint`` (and ``--other``), checked unseen by both
    (:mod:`detector.unseen`), made once and cached."""
    from fsth import load_model

    from .sources import processing
    from .study import load_study_faces, make_study_faces
    from .unseen import generator_training_keys, merge, near_duplicates

    model = load_model(args.checkpoint)
    name = Path(args.checkpoint).name
    keys = [generator_training_keys(model, args.data or None, args.unseen_unchecked, "--data", name)]
    extra, other = {}, None
    if args.other:
        other = load_model(args.other)
        if other.config.image_size != model.config.image_size:
            raise UsageError(f"--other {args.other}: makes {other.config.image_size} px faces, "
                             f"--checkpoint {args.checkpoint} {model.config.image_size} px; they must match")
        extra["other_model"] = Path(args.other).name
        keys.append(generator_training_keys(other, args.other_data or None, args.unseen_unchecked, "--other-data",
                                            extra["other_model"]))
    trained_on = merge(keys)
    made = make_study_faces(model, settings, cache, trained_on, other=other,
                            have={} if args.regenerate else load_study_faces(cache))
    checks = [f"{generator}: {k['checked']}" for generator, k in zip([name, extra.get("other_model")], keys)]
    extra["check"] = (f"test identities are SynthHeads seed {settings.sources.seed}, checked against each "
                      f"generator's training data — " + "; ".join(checks))
    extra["unseen_checked"] = all(k["folder"] for k in keys)
    extra["near_duplicates"] = near_duplicates(made, trained_on)
    extra["processing"] = processing(model, settings.sources).describe()
    return made, name, extra


def ship_files(results: dict, out: Path) -> None:
    """``--ship``: copy the retrained detectors into fsth/pretrained/ with a new model card, only if
    every one of them passed the no-generator control and, by its own threshold, the held-out
    real media (:mod:`detector.heldout`); otherwise nothing is copied (no card next to a stale
    file) and the run fails (exit 1) saying which failed and why. A shipped file this release
    did not retrain (the CNN, when only the frequency model was studied) is removed: every
    shipped detector is one the new card describes."""
    from fsth.io import atomic_write

    from .heldout import lines as heldout_lines
    from .report import card, write_text

    refused = dict(results.get("refused", {}))
    for name, saved in results["shipped"].items():  # the release test: real media no detector ever saw
        if "heldout" in saved and not saved["heldout"]["passes"]:
            refused[name] = "misses the held-out real-media goal (" + "; ".join(
                heldout_lines(name, saved["heldout"])) + ")"
    if refused or not results["shipped"]:  # all or nothing: no card beside a stale file
        why = "; ".join(f"{n}: {w}" for n, w in refused.items()) or "no detector was trained"
        raise ValueError(f"--ship: nothing shipped, fsth/pretrained/ left as it was: {why} (see {out / 'report.md'})")
    released = {v["file"] for v in results["shipped"].values()}
    for file in sorted(released):
        with atomic_write(PRETRAINED / file) as f:
            f.write((out / file).read_bytes())
        print(f"shipped {PRETRAINED / file}")
    for file in sorted(set(SHIPPED_DETECTORS.values()) - released):  # the card describes this release only
        if (PRETRAINED / file).exists():
            (PRETRAINED / file).unlink()
            print(f"removed {PRETRAINED / file}: not part of this release (a detector of an older study)")
    write_text(PRETRAINED / "DETECTOR_CARD.md", card(results))
    print(f"wrote {PRETRAINED / 'DETECTOR_CARD.md'}")


def cmd_score(args: "ScoreOptions") -> int:
    from . import models
    from .scoring import describe, line

    det = models.load(args.detector)
    results, labels = {}, {}
    for n, given in enumerate([args.input, *args.compare]):
        for path, result in _scores(det, given, args.max_frames).items():
            results[path], labels[path] = result, path if n == 0 else f"  compare {path}"
    for path, result in results.items():
        if log.isEnabledFor(logging.DEBUG):  # fsth -v
            print("\n".join(f"  frame {j}: P(fake) = {s:.3f}" for j, s in enumerate(result["scores"])))
        print(line(labels[path], result, result["threshold"]))
    print(f"detector {args.detector}: {describe(det)}")
    if args.json:
        from .report import write_text

        write_text(Path(args.json), json.dumps({p: {k: v for k, v in r.items() if k != "scores"}
                                                for p, r in results.items()}, indent=2))
    return 0


def _scores(det, given: str, max_frames: int | None) -> dict[str, dict]:
    """{path: score} of an image or video, or of each image and video in a folder, scored one by one:
    a folder's stills may show different people, so nothing is pooled across its files."""
    from .scoring import media_files, score_media

    if not Path(given).is_dir():
        return {str(given): score_media(det, given, max_frames=max_frames)}
    files = media_files(given)
    print(f"{given}: {len(files)} file(s), each scored on its own (a video as one clip); a folder's images "
          "may show different people, so no score is pooled across files")
    scored = {}
    for path in files:
        try:
            scored[str(path)] = score_media(det, path, max_frames=max_frames)
        except ValueError as err:  # a file without a face, or unreadable: said, the others still scored
            print(f"  {' '.join(str(err).split())}: not scored")
    if not scored:
        raise ValueError(f"{given}: no file in the folder could be scored (each one's reason is above)")
    return scored


def cmd_heldout(args: "HeldoutOptions") -> int:
    """Each detector's own verdicts on real faces it never saw (:mod:`detector.heldout`); exit 1
    when one misses the shipping line."""
    from fsth.io.cache import cache_dir

    from . import heldout, models

    files = list(args.detector) or [str(PRETRAINED / f) for f in SHIPPED_DETECTORS.values()
                                    if (PRETRAINED / f).exists()]
    folder = Path(args.cache) if args.cache else cache_dir() / "heldout"
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for file in files:
        results[file] = heldout.figures(models.load(file), folder)
        print("\n".join(heldout.lines(file, results[file])))
    if args.json:
        from .report import write_text

        write_text(Path(args.json), json.dumps(results, indent=2))
    return 0 if all(r["passes"] for r in results.values()) else 1


SUBCOMMANDS = {
    "study": Command("make fakes, cross-validate detectors, run the controls, write the report",
                     lambda p: add_flags(p, StudyOptions), cmd_study, StudyOptions),
    "score": Command("P(fake) of an image, a video, or each image and video of a folder, with a saved detector",
                     lambda p: add_flags(p, ScoreOptions), cmd_score, ScoreOptions),
    "heldout": Command("each detector's own verdicts on real photos and a real video no detector ever saw",
                       lambda p: add_flags(p, HeldoutOptions), cmd_heldout, HeldoutOptions),
}


def add_commands(parser) -> None:
    add_subcommands(parser, SUBCOMMANDS, "all", "detect_command")


def commands() -> dict[str, Command]:
    """The ``fsth.commands`` entry point: ``fsth detect``."""
    return {"detect": command_group("how detectable are the fakes: fsth detect study | score | heldout", SUBCOMMANDS,
                                    "detect_command", torch=True)}
