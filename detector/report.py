"""The study's report: report.md (every number with its interval), results.json and figures.

Notation in every table: ``0.91 [0.88, 0.94]`` is a pooled out-of-fold estimate with its
95 % cluster-bootstrap interval (resampling groups: identities or pairs), ``0.91 ± 0.03``
a mean ± sd over folds × seeds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .controls import PERTURBATIONS


def fmt(e, digits: int = 3) -> str:
    """An estimate {"value", "ci"} or a {"mean", "sd"} as text."""
    if e is None:
        return "–"
    if "mean" in e:
        return f"{e['mean']:.{digits}f} ± {e['sd']:.{digits}f}" if np.isfinite(e["sd"]) else f"{e['mean']:.{digits}f}"
    lo, hi = e["ci"]
    return f"{e['value']:.{digits}f} [{lo:.{digits - 1}f}, {hi:.{digits - 1}f}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def write_report(results: dict, cvs: dict, faces, out: Path) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1, default=_plain))
    _plots(results, cvs, faces, out)
    (out / "report.md").write_text(report(results))


def _plain(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def report(r: dict) -> str:
    s, c, dets = r["settings"], r["counts"], r["detectors"]
    p, src = s["protocol"], s["sources"]
    seeds = len(p["seeds"])
    lines = ["# How detectable are fsth's talking heads?", "",
             f"Generator: `{r.get('model') or 'your own data'}`. {c['identities']} identities in {c['groups']} groups "
             f"({c['videos']} videos of {src['window']} contiguous frames, {c['images']} images, "
             f"{c['fake share']:.0%} fake: balanced, so accuracy-type figures are at prevalence 50 %). "
             f"Identity-grouped {p['folds']}-fold cross-validation × {seeds} seed(s): every group is tested once "
             "per seed by a detector that never saw it; puppets and their drivers share a group. "
             f"Calibration and the operating threshold (P(fake) above which a face is called fake: "
             f"{p['target_fpr']:.0%} false positives on validation reals) are fitted on validation groups only. "
             "Every image, real or fake, is JPEG q95 once.", ""]
    if r.get("check"):
        lines += [f"Unseen by the generator: {r['check']}.", ""]
    lines += ["Notation: `0.91 [0.88, 0.94]` pooled out-of-fold estimate (seed 0) with its 95 % cluster-bootstrap "
              "interval over groups; `0.91 ± 0.03` mean ± sd over folds × seeds.", "",
              "![ROC and reliability, out of fold](roc.png)", "",
              "## Headline: SynthHeads, out of fold", ""]
    rows = [[n, fmt(d["auc"]), fmt(d["auc_folds"]), f"{fmt(d['video_auc'])} ({d['videos_per_class'][0]}/"
             f"{d['videos_per_class'][1]})", fmt(d["tpr"]), fmt(d["fpr"]), fmt(d["ece"])] for n, d in dets.items()]
    lines += _table(["detector", "AUC", "AUC per fold", "video AUC (videos real/fake)", "TPR at threshold",
                     "FPR at threshold", "ECE"], rows)
    if any("photos" in d for d in dets.values()):
        lines += ["", "## The two real classes and real photos", "",
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
        lines += ["", f"Real sample videos: {', '.join(some['clips']['names']) if 'clips' in some else '–'}; "
                  f"photos: {', '.join(some['photos']['names'])} (each at 0.5×, 1× and 2× source scale)."]
    best = next((n for n in r.get("shipped", {}) if n != "frequency"), None)
    if best:
        folds = dets[best]["per_fold"]
        lines += ["", f"## Shipped CNN ({best}): test AUC per fold", "",
                  ", ".join(f"seed {f['seed']} fold {f['fold']}: {f['auc']:.3f}" for f in folds) + ".",
                  f"Mean ± sd {fmt(dets[best]['auc_folds'])}; its false-positive rate on real photos at its "
                  f"threshold: {fmt(dets[best].get('photos', {}).get('fpr'))}."]
    lines += ["", "## Controls", "",
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
                  "scored on reals vs fakes: " + "; ".join(f"{n} AUC {fmt(e)}" for n, e in ups.items()) + "."]
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
    lines += ["", "![curves](curves.png)"] if r["sections"].get("k_curve") else []
    for key, title in (("compression", "Train × test compression (AUC; rows: trained on)"),
                       ("cross_generator", "Cross-generator (AUC; rows: trained on; fake = the fsth model, "
                                           "warp = landmark-warp baseline, mean = mean-frame baseline)")):
        for n, table in r["sections"].get(key, {}).items():
            cols = list(next(iter(table.values())))
            lines += ["", f"## {title}: {n}", ""]
            lines += _table(["trained on \\ tested on"] + cols, [[row] + [fmt(table[row][col]) for col in cols]
                                                                 for row in table])
    lines += ["", "## Closing note", ""] + closing(r)
    lines += ["", f"Study time: {r['seconds']:.0f} s (faces made in {r.get('faces_seconds', 0):.0f} s before that).",
              "", "Reproduce: `python -m detector study --out docs/detector --ship` (`--fast` for the course).", ""]
    return "\n".join(lines)


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
    for a, (x, y, t) in zip((ax, ax2), (("false-positive rate (real called fake)", "true-positive rate", "ROC, out of fold"),
                                        ("predicted P(fake)", "observed fraction fake", "Reliability (calibrated)"))):
        a.plot([0, 1], [0, 1], ":", color="grey")
        a.set(xlabel=x, ylabel=y, title=t)
        a.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=100)
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
    fig.savefig(out / "curves.png", dpi=100)
