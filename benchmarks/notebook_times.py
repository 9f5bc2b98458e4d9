"""How long each course notebook takes in FAST mode: wall seconds with nbclient, kernel start included.

    python benchmarks/notebook_times.py                      # every notebook, this CPU as it is
    python benchmarks/notebook_times.py 06 07 --avx2         # two notebooks, ATen and oneDNN limited to AVX2
    python benchmarks/notebook_times.py 06 --solved          # the solution notebook (a learner who solved it all)

Notebooks run in the order given (by default all, in course order) in one fresh course folder, as a
learner runs them: 07-08 find notebook 06's model there. ``--avx2`` sets ``ATEN_CPU_CAPABILITY=avx2`` and
``ONEDNN_MAX_CPU_ISA=AVX2`` in the kernels, which makes an AVX-512 machine compute as a laptop with AVX2
(no native bf16: fp32 throughout). The seconds are merged into ``docs/notebook_times.json`` ("seconds"
or "seconds_avx2"; only "as shipped" runs are written there, ``--solved`` runs are printed) and the
table ``docs/notebook_times.md`` is written from it. The course's time budget (three minutes a
notebook on a two-core AVX2 CPU) is checked here, not in the test suite: a test can't know what
else the machine is doing. Each run records the load average before it started, so a time measured
on a shared machine says so.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = ROOT / "fsth" / "course" / "solutions"
TIMES = ROOT / "docs" / "notebook_times.json"
TABLE = ROOT / "docs" / "notebook_times.md"
BUDGET = 180.0  # seconds a notebook may take in FAST mode on a two-core AVX2 CPU
AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
NOTE = ("wall seconds per notebook (as shipped) with nbclient, kernel start included; 'seconds': native, "
        "'seconds_avx2': with ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2; written by "
        "benchmarks/notebook_times.py (or FSTH_RECORD_TIMES=1 pytest tests/test_notebooks.py); "
        "07-08 fine-tune the shipped warping model and the course model of the learner's blocks "
        "(fsth/pretrained/course_tiny_synth.pt in FAST mode)")


def _pick(names: list[str]) -> list[Path]:
    every = sorted(NOTEBOOKS.glob("*.ipynb"))
    if not names:
        return every
    chosen = []
    for name in names:
        found = [p for p in every if p.stem == name or p.stem.startswith(name)]
        if len(found) != 1:
            raise SystemExit(f"{name!r} names {len(found)} notebooks of {NOTEBOOKS}")
        chosen.append(found[0])
    return chosen


def capability(env: dict) -> str:
    """What ATen computes with in a process with ``env`` (AVX512, AVX2, ...)."""
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.backends.cpu.get_cpu_capability())"],
                         env=env, capture_output=True, text=True, timeout=120)
    return out.stdout.strip() or "?"


def run(path: Path, env: dict, solved: bool = False) -> float:
    """Wall seconds of one notebook, top to bottom (raises if a cell does)."""
    import nbformat
    from nbclient import NotebookClient

    source = SOLUTIONS / path.name if solved and (SOLUTIONS / path.name).is_file() else path
    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.perf_counter()
    client.execute(env=env)
    return time.perf_counter() - started


def record(times: dict[str, float], avx2: bool, cpu: str, load: dict[str, float]) -> dict:
    import torch

    data = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    key = "seconds_avx2" if avx2 else "seconds"
    data.update({"mode": "FAST = True, PRESET = 'tiny', CPU", "cpus": os.cpu_count(), "machine": platform.machine(),
                 "torch": torch.__version__, "note": NOTE})
    data.setdefault(key, {}).update({name: round(s, 1) for name, s in times.items()})
    data[key] = dict(sorted(data[key].items()))
    data["total_" + key] = round(sum(data[key].values()), 1)
    runs = data.setdefault("runs", {})
    for name in times:
        runs.setdefault(key, {})[name] = {"capability": cpu, "load_average_before": round(load[name], 2),
                                          "date": time.strftime("%Y-%m-%d", time.gmtime())}
    runs[key] = dict(sorted(runs[key].items()))
    TIMES.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data


def table(data: dict) -> str:
    native, avx2 = data.get("seconds", {}), data.get("seconds_avx2", {})
    runs = data.get("runs", {})
    lines = ["# Notebook run times (FAST mode)", "",
             f"Written by `benchmarks/notebook_times.py` from `docs/notebook_times.json`: wall seconds per notebook "
             f"with nbclient, kernel start included, on {data.get('cpus', '?')} CPU cores; native and with ATen and "
             f"oneDNN limited to AVX2 (`--avx2`: a laptop without native bf16). Budget: {BUDGET:.0f} s a notebook "
             "on a two-core AVX2 CPU. Load average: of the machine (1 minute) when the run started — above 0 the "
             "cores were shared with other work, and the time is an upper bound.", "",
             "| notebook | native s | AVX2 s | load average before (native / AVX2 run) |", "|---|---|---|---|"]

    def load(key, name):
        info = runs.get(key, {}).get(name)
        return f"{info['load_average_before']:.1f} ({info['capability']})" if info else "–"
    for name in sorted(set(native) | set(avx2)):
        over = " (over budget)" if avx2.get(name, 0) > BUDGET else ""
        lines.append(f"| {name} | {native.get(name, '–')} | {avx2.get(name, '–')}{over} | "
                     f"{load('seconds', name)} / {load('seconds_avx2', name)} |")
    lines += ["", f"All: {data.get('total_seconds', '–')} s native, {data.get('total_seconds_avx2', '–')} s AVX2.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names or number prefixes (default: all)")
    parser.add_argument("--avx2", action="store_true", help="limit ATen and oneDNN to AVX2 (a laptop's CPU)")
    parser.add_argument("--solved", action="store_true", help="run the solution notebooks (printed, not recorded)")
    parser.add_argument("--course-dir", help="course folder the notebooks share (default: a fresh temporary one)")
    parser.add_argument("--no-write", action="store_true", help="print the times only")
    args = parser.parse_args(argv)

    course = Path(args.course_dir) if args.course_dir else Path(tempfile.mkdtemp(prefix="fsth-course-"))
    env = {**os.environ, "FSTH_COURSE_DIR": str(course), "HF_HUB_OFFLINE": "1", **(AVX2 if args.avx2 else {})}
    env.pop("MPLBACKEND", None)
    cpu = capability(env)
    print(f"ATen capability in the kernels: {cpu}; course folder {course}", flush=True)
    times, load = {}, {}
    for path in _pick(args.notebooks):
        load[path.stem] = os.getloadavg()[0]
        seconds = run(path, env, args.solved)
        times[path.stem] = seconds
        flag = "  OVER BUDGET" if args.avx2 and seconds > BUDGET else ""
        print(f"{path.stem:34s} {seconds:7.1f} s  (load average before: {load[path.stem]:.1f}){flag}", flush=True)
    if not args.no_write and not args.solved:
        data = record(times, args.avx2, cpu, load)
        TABLE.write_text(table(data))
        print(f"wrote {TIMES.relative_to(ROOT)} and {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
