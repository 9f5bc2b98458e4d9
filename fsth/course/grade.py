"""Grading: run learners' notebooks and write one CSV row per check (✓ or ✗).

    python -m fsth.course grade alice/04_generator_and_adain.ipynb bob/04_*.ipynb --out grades.csv

Each notebook is executed again from the top in FAST mode (what was saved in it is not trusted);
``--as-saved`` reads the outputs already in the files instead (no execution). The CSV has the
columns notebook, check, result (✓/✗), points (1/0) and message; the check cells carry nbgrader
metadata (``grade_id``, ``points``), so the same notebooks also work with nbgrader.
"""
from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

LINE = re.compile(r"^([✓✗]) (\w+): (.*)$")
CALL = re.compile(r"^check_\w+\(", re.M)


def check_lines(nb) -> list[tuple[str, str, str]]:
    """(check, ✓/✗, message) for every check line printed by the notebook's check cells."""
    rows = []
    for cell in nb.cells:
        graded = cell.metadata.get("nbgrader", {}).get("grade")
        if cell.cell_type != "code" or not (graded or CALL.search(cell.source)):
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        found = [LINE.match(line) for line in text.splitlines()]
        found = [m for m in found if m]
        for m in found:
            rows.append((m.group(2), m.group(1), m.group(3)))
        if not found:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "check")
            why = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else "the check did not run"
            rows.append((grade_id, "✗", why))
    return rows


def run(path: Path, timeout: int = 600):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def grade(paths, out: Path, as_saved: bool = False) -> list[dict]:
    import nbformat

    rows = []
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4) if as_saved else run(path)
        for check, mark, message in check_lines(nb):
            rows.append({"notebook": str(path), "check": check, "result": mark, "points": int(mark == "✓"),
                         "message": message})
        print(f"{path}: {sum(r['points'] for r in rows if r['notebook'] == str(path))} of "
              f"{sum(1 for r in rows if r['notebook'] == str(path))} checks pass")
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, ["notebook", "check", "result", "points", "message"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out} ({len(rows)} rows)")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fsth.course", description="the course's classroom tools")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="run notebooks and write a CSV of ✓/✗ per check")
    g.add_argument("notebooks", nargs="+", help="learners' .ipynb files")
    g.add_argument("--out", default="grades.csv", help="the CSV to write (default: grades.csv)")
    g.add_argument("--as-saved", action="store_true", help="read the saved outputs instead of running the notebooks")
    args = parser.parse_args(argv)
    missing = [p for p in args.notebooks if not Path(p).is_file()]
    if missing:
        print(f"error: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    grade(args.notebooks, Path(args.out), args.as_saved)
    return 0
