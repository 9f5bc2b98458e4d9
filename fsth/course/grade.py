"""Grading: run learners' notebooks and write one CSV row per check (✓ or ✗).

    fsth course grade alice/04_generator_and_adain.ipynb bob/04_*.ipynb --out grades.csv

Each notebook is executed again from the top in FAST mode (what was saved in it is not trusted);
``--as-saved`` reads the outputs already in the files instead (no execution). The CSV has the
columns notebook, check, result (✓/✗), points (1/0) and message; the check cells carry nbgrader
metadata (``grade_id``, ``points``), so the same notebooks also work with nbgrader.
"""
from __future__ import annotations

import argparse
import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError, run_command
from ..flags import Command, add_flags, add_subcommands, from_args, option
from ..io.atomic import atomic_write

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
    with atomic_write(out, "w", newline="", encoding="utf-8") as f:  # makes the folder too
        writer = csv.DictWriter(f, ["notebook", "check", "result", "points", "message"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out} ({len(rows)} rows)")
    return rows


@dataclass(frozen=True)
class GradeOptions:
    notebooks: tuple[str, ...] = option((), "learners' .ipynb files", positional=True, required=True)
    out: str = option("grades.csv", "the CSV to write")
    as_saved: bool = option(False, "read the saved outputs instead of running the notebooks")


def run_grade(args: GradeOptions) -> int:
    missing = [p for p in args.notebooks if not Path(p).is_file()]
    if missing:
        raise UsageError(f"no such notebook: {', '.join(missing)}")
    grade(args.notebooks, Path(args.out), args.as_saved)
    return 0


COMMANDS = {"grade": Command("run notebooks and write a CSV of ✓/✗ per check", lambda p: add_flags(p, GradeOptions),
                             run_grade, GradeOptions, torch=False)}


def add_commands(parser: argparse.ArgumentParser) -> None:
    """``fsth course``'s sub-commands (``grade``)."""
    add_subcommands(parser, COMMANDS, "all", "course_command")


def main(argv=None) -> int:
    """``python -m fsth.course grade ...``: the same as ``fsth course grade ...``."""
    parser = argparse.ArgumentParser(prog="python -m fsth.course", description="the course's classroom tools")
    add_commands(parser)
    args = parser.parse_args(argv)
    command = args.command_spec
    return run_command(f"fsth course {args.course_command}", command.run, from_args(args, command.options),
                       getattr(args, "verbose", False))
