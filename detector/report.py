"""The study's report: report.md (every number with its interval), results.json and figures.

Notation in every table: ``0.91 [0.88, 0.94]`` is a pooled out-of-fold estimate with its
95 % cluster-bootstrap interval (resampling groups: identities or pairs), ``0.91 ± 0.03``
a mean ± sd over folds × seeds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .controls import CONTROL_FRAMES, MEMORISATION_FRAMES, PERTURBATIONS


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
    sections = (_introduction, _headline, _real_faces, _shipped_cnn, _controls, _curves, _matrices, _marks,
                _closing_note)
    return "\n".join(line for section in sections for line in section(r))


def _introduction(r: dict) -> list[str]:
    """The title, what was measured and how, the notation and the ROC figure."""
    s, c = r["settings"], r["counts"]
    p, src = s["protocol"], s["sources"]
    lines = ["# How detectable are fsth's talking heads?", "",
             f"Generator: `{r.get('model') or 'your own data'}`. {c['identities']} identities in {c['groups']} groups "
             f"({c['videos']} videos of {src['window']} contiguous frames, {c['images']} images, "
             f"{c['fake share']:.0%} fake: balanced, so accuracy-type figures are at prevalence 50 %). "
             f"Identity-grouped {p['folds']}-fold cross-validation × {len(p['seeds'])} seed(s): every group is tested "
             "once per seed by a detector that never saw it; puppets and their drivers share a group. "
             f"Calibration and the operating threshold (P(fake) above which a face is called fake: "
             f"{p['target_fpr']:.0%} false positives on validation reals) are fitted on validation groups only. "
             "Every image, real or fake, is JPEG q95 once.", ""]
    if r.get("check"):
        lines += [f"Unseen by the generator: {r['check']}.", ""]
    return lines + ["Notation: `0.91 [0.88, 0.94]` pooled out-of-fold estimate (seed 0) with its 95 % "
                    "cluster-bootstrap interval over groups; `0.91 ± 0.03` mean ± sd over folds × seeds.", "",
                    "![ROC and reliability, out of fold](roc.png)", ""]


def _headline(r: dict) -> list[str]:
    """Every detector's out-of-fold figures on SynthHeads, then its AUC by kind of fake."""
    dets = r["detectors"]
    lines = ["## Headline: SynthHeads, out of fold", ""]
    rows = [[n, fmt(d["auc"]), fmt(d["auc_folds"]), f"{fmt(d['video_auc'])} ({d['videos_per_class'][0]}/"
             f"{d['videos_per_class'][1]})", fmt(d["tpr"]), fmt(d["fpr"]), fmt(d["ece"])] for n, d in dets.items()]
    lines += _table(["detector", "AUC", "AUC per fold", "video AUC (videos real/fake)", "TPR at threshold",
                     "FPR at threshold", "ECE"], rows)
    if any(d.get("auc_by_kind") for d in dets.values()):
        lines += ["", "By kind of fake (each against every real, out of fold): a self-reenactment re-renders a "
                  "person's own motion from K of their frames; a puppet is driven by its pair partner's landmarks.",
                  ""]
        rows = [[n, fmt(d.get("auc_by_kind", {}).get("self")), fmt(d.get("auc_by_kind", {}).get("puppet"))]
                for n, d in dets.items()]
        lines += _table(["detector", "AUC, self-reenactment fakes", "AUC, puppet fakes"], rows)
    return lines


def _real_faces(r: dict) -> list[str]:
    """False positives on real faces no detector trained on: sample videos and photos."""
    dets = r["detectors"]
    if not any("photos" in d for d in dets.values()):
        return []
    lines = ["", "## The two real classes and real photos", "",
             "No detector trains on these; each statistic is averaged over the folds × seeds detectors, "
             "the interval resamples the sample (few groups: read the intervals, not the points).", ""]
    rows = []
    for n, d in dets.items():
        clips, photos = d.get("clips"), d.get("photos")
        rows.append([n, fmt(clips and clips.get("auc")), fmt(clips and clips["fpr"]),
                     fmt(clips and clips.get("tpr")), fmt(photos and photos["fpr"]),
                     fmt(photos and photos["p_fake_real"])])
    some = next(d for d in dets.values() if "photos" in d)
    lines += _table(["detector", "real sample videos: AUC vs their fakes", "FPR on them", "TPR on their fakes",
                     f"FPR on {some['photos']['n']} real photos", "mean P(fake), real photos"], rows)
    seen = r.get("clips_seen", {})
    return lines + ["", f"Real sample videos: {', '.join(some['clips']['names']) if 'clips' in some else '–'} "
                    "(share of frames found in the generator's training data: "
                    + (", ".join(f"{k} {v:.0%}" for k, v in seen.items()) or "not checked") + "; its fakes of a "
                    f"seen person are easier than of a new one); photos: {', '.join(some['photos']['names'])} "
                    "(each at 0.5×, 1× and 2× source scale)."]


def _shipped_cnn(r: dict) -> list[str]:
    """The shipped CNN's AUC per fold, its false positives on real faces and why it was chosen."""
    dets = r["detectors"]
    best = next((n for n in r.get("shipped", {}) if n != "frequency"), None)
    if not best:
        return []
    return ["", f"## Shipped CNN ({best}): test AUC per fold", "",
            ", ".join(f"seed {f['seed']} fold {f['fold']}: {f['auc']:.3f}" for f in dets[best]["per_fold"]) + ".",
            f"Mean ± sd {fmt(dets[best]['auc_folds'])}; its false-positive rate on real photos at its "
            f"threshold: {fmt(dets[best].get('photos', {}).get('fpr'))}; on real sample videos: "
            f"{fmt(dets[best].get('clips', {}).get('fpr'))}.",
            "", f"Why this one: {r['shipped'][best].get('why', '–')}."]


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
               f"{r.get('faces_seconds', 0):.0f} s before that.",
               "", f"Reproduce: `fsth detect study --checkpoint fsth/pretrained/{r.get('model') or 'MODEL.pt'} "
               + (f"--other fsth/pretrained/{r['other_model']} " if r.get("other_model") else "")
               + "--out docs/detector --ship` (`--fast`: every section on small axes, for the course).", ""])


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
                f"{fmt(d['fpr'])} false positives on SynthHeads reals")
        if "photos" in d:
            text += f", {fmt(d['photos']['fpr'])} on real photos"
        if "clips" in d and "auc" in d["clips"]:
            text += f"; AUC {fmt(d['clips']['auc'])} on real sample videos vs their fakes"
        text += (f". Controls: spectrum-matched reals {fmt(d['spectrum_matched'])}, down→up {fmt(d['down_up'])}; "
                 f"P(fake) of reals train / unseen {fmt(d['memorisation']['train'], 2)} / "
                 f"{fmt(d['memorisation']['test'], 2)}.")
        out.append(text)
    return out


def _plots(results: dict, cvs: dict, faces, out: Path) -> None:
    from matplotlib.figure import Figure  # a bare Figure: never switches the caller's pyplot backend
    from sklearn.metrics import roc_curve

    from .metrics import reliability

    seed = results["settings"]["protocol"]["seeds"][0]
    fig = Figure(figsize=(8.4, 4))
    ax, ax2 = fig.subplots(1, 2)
    for name, cv in cvs.items():
        fpr, tpr, _ = roc_curve(faces.labels, cv["oof"][seed], drop_intermediate=False)
        ax.plot(fpr, tpr, label=name)
        rel = reliability(faces.labels, cv["oof"][seed])
        ax2.plot(rel["predicted"], rel["observed"], marker="o", label=name)
    titles = (("false-positive rate (real called fake)", "true-positive rate", "ROC, out of fold"),
              ("predicted P(fake)", "observed fraction fake", "Reliability (calibrated)"))
    for a, (x, y, t) in zip((ax, ax2), titles):
        a.plot([0, 1], [0, 1], ":", color="grey")
        a.set(xlabel=x, ylabel=y, title=t)
        a.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out / "roc.png")
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


def card(results: dict) -> str:
    """fsth/pretrained/DETECTOR_CARD.md for the shipped detectors, from the study that trained them."""
    shipped, dets = results["shipped"], results["detectors"]
    p, src = results["settings"]["protocol"], results["settings"]["sources"]
    lines = ["# Shipped detectors: model card", "",
             "Written by `fsth detect study --ship` from the study that trained them; the full report with "
             "every table is `docs/detector/report.md`.", "",
             "| file | detector | operating threshold |", "|---|---|---|"]
    for name, s in shipped.items():
        lines.append(f"| `{s['file']}` | {name} | P(fake) > {s['threshold']:.3g} |")
    cnn = next((n for n in shipped if n != "frequency"), None)
    if cnn and shipped[cnn].get("why"):
        why = shipped[cnn]["why"]
        lines += ["", f"**Why {cnn}.** {why[:1].upper() + why[1:]}. Real faces = the worse of the real photos and the "
                  "real sample videos, at the operating threshold, averaged over the cross-validation detectors."]
    if any(s["threshold"] < 1e-3 for s in shipped.values()):
        lines += ["", "A threshold near 0: temperature scaling sharpened the CNN's scores (validation reals get "
                  "P(fake) ≈ 0), so the operating point sits near 0; only the ranking matters, and the false-positive "
                  "rates on real photos and real videos below say how it treats real faces outside its domain."]
    domain = next(iter(shipped.values()))["domain"] if shipped else "–"
    lines += ["", f"**Training domain.** {domain}. Retrained after cross-validation on every SynthHeads group "
              f"(a fifth of the groups held out for calibration and the threshold: {p['target_fpr']:.0%} false "
              "positives on those reals).", "",
              f"**Data.** {results['counts']['identities']} SynthHeads identities (seed {src['seed']}, checked "
              f"unseen by the generator: {results.get('check', 'not checked')}), in pairs; each identity one real "
              f"and one fake video of {src['window']} contiguous frames (self-reenactment or puppeteering by its pair "
              f"partner, K = {src['k']}); every image JPEG q95 once. Real sample videos and real photos are never "
              "trained on: they measure false positives outside the training domain.", "",
              f"**Protocol.** Identity-grouped {p['folds']}-fold cross-validation × {len(p['seeds'])} seed(s); "
              "temperature (CNNs) or Platt (frequency) calibration and the threshold fitted on validation groups "
              "only; 95 % cluster-bootstrap intervals over groups.", "", "**Results (out of fold).**", ""]
    for name in shipped:
        d = dets[name]
        folds = ", ".join(f"{f['auc']:.3f}" for f in d["per_fold"])
        lines += [f"- {name}: AUC {fmt(d['auc'])}; per fold (seed × fold) {folds} ({fmt(d['auc_folds'])}); "
                  f"video AUC {fmt(d['video_auc'])}; at the threshold TPR {fmt(d['tpr'])}, FPR on SynthHeads reals "
                  f"{fmt(d['fpr'])}" + (f", FPR on {d['photos']['n']} real photos {fmt(d['photos']['fpr'])}"
                                         if "photos" in d else "")
                  + (f", FPR on real sample videos {fmt(d['clips']['fpr'])}" if "clips" in d else "") + "."]
    lines += ["", "**Limits.** 64 px faces; trained on procedural SynthHeads and one generator: a score on real "
              "photographs or other generators is outside its domain (see the real-photo false-positive rate above "
              "and the cross-generator table of the report). The controls in the report say which cues it uses "
              "(spectrum, resampling). Never act on a single score: `fsth demo` and `fsth detect score "
              "--compare REAL...` print it next to the same detector's score on real faces.", "",
              "**Use.** `fsth detect score MEDIA --detector fsth/pretrained/detector_cnn.pt --compare "
              "REAL_MEDIA`; in Python `detector.models.load(path).predict_proba(face_crops)` (uint8 (N, 64, 64, 3), "
              "JPEG q95 first as in training: `detector.scoring.score_faces`).", "",
              "**Bring your own data.** `fsth detect study --real REAL_DIR --fake FAKE_DIR --out my-study` "
              "runs the same protocol on your folders, laid out like FaceForensics++ (one sub-folder per identity; "
              "videos or folders of frames inside):", "",
              "    REAL_DIR/000/000.mp4          FAKE_DIR/000/000_003.mp4", "    REAL_DIR/001/001.mp4          "
              "FAKE_DIR/001/001_870.mp4", "    REAL_DIR/002/frames/0001.png  ...", "",
              "Faces are found and cropped by `fsth preprocess` (dlib), cut into windows of `--window` contiguous "
              "frames, and split by sub-folder: a person's real and fake videos are always in the same fold.", ""]
    return "\n".join(lines)


def _save(fig, path: Path) -> None:
    from fsth.io import atomic_write

    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
