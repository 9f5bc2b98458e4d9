"""Grading: run the checks on each learner's definitions, in a fresh kernel, and write a CSV.

    fsth course grade alice/04_generator_and_adain.ipynb bob/04_*.ipynb --out grades.csv

Nothing printed in the learner's notebook is trusted. Each notebook is executed again from the top
in a new kernel (FAST mode, a course folder of its own), every cell as the learner wrote it *except*
the check cells: those are replaced by the course's own check cells (found by their nbgrader
``grade_id`` in ``notebooks/``; a learner's edits to a locked cell don't count, and a deleted one
is graded anyway) in which every ``check_x(my_x)`` becomes a call that runs the check on ``my_x``
as defined at that point, with fresh copies of the checks (a notebook that patched them changes
nothing), and hands back the verdict the check returned — not what was printed. A check whose
answer isn't defined (its cell raised, or never ran) scores 0 with that reason.

The CSV has one row per check — student, notebook, exercise, grade_id, result (✓/✗), points,
max_points, message, hint — and one ``TOTAL`` row per student and notebook. The student is the
notebook's folder (``alice/04.ipynb`` → alice; nbgrader's ``submitted/alice/ps1/04.ipynb`` → alice).

Not a sandbox: a learner's code runs with the grader's rights, and code written to deceive the
checks from inside the kernel can still try. Grade untrusted notebooks in a container.

With nbgrader instead: ``FSTH_STRICT=1 nbgrader autograde ...`` — in strict mode a failing check
raises AssertionError, so its cell scores 0 (:func:`fsth.course.compare.strict`).
"""
from __future__ import annotations

import argparse
import ast
import copy
import csv
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError, run_command
from ..flags import Command, add_flags, add_subcommands, from_args, option
from ..io.atomic import atomic_write

MIME = "application/vnd.fsth.grade+json"
CALL = re.compile(r"^check_\w+\(", re.M)
REFERENCE = Path(__file__).resolve().parents[2] / "notebooks"  # the course as shipped (a repository checkout)
COLUMNS = ["student", "notebook", "exercise", "grade_id", "result", "points", "max_points", "message", "hint"]


# ----------------------------------------------------------------------------------------
# Inside the learner's kernel
# ----------------------------------------------------------------------------------------

def _fresh_course():
    """fsth.course's checks imported afresh from disk: whatever the notebook did to the loaded
    modules (``check_adain = lambda f: True``) doesn't reach them."""
    import importlib
    import sys

    for name in [m for m in sys.modules if m == "fsth.exercises" or m.startswith("fsth.course")]:
        del sys.modules[name]
    return importlib.import_module("fsth.course")


def grade_in_kernel(check: str, answer, grade_id: str = "") -> dict:
    """Run the course's ``check`` on the learner's answer (``answer()`` gives it: a NameError there
    means it isn't defined) and publish the verdict as a display of type :data:`MIME`."""
    import contextlib
    import io

    import sys

    course = _fresh_course()
    compare = sys.modules["fsth.course.compare"]  # the fresh copy (fsth.course.compare is also a function's name)

    printed = io.StringIO()
    result = {"function": check, "check": check.removeprefix("check_"), "grade_id": grade_id, "ok": False,
              "message": "", "hint": None}
    try:
        value = answer()
    except NameError as err:
        result["message"] = f"NameError: {err} — its cell raised, or never ran"
    except Exception as err:  # noqa: BLE001 — the learner's code, reported
        result["message"] = f"getting your answer raised {type(err).__name__}: {err}"
    else:
        try:
            with contextlib.redirect_stdout(printed), compare.lenient():
                ok = getattr(course, check)(value)
            verdict = compare.last_result()
            result.update(ok=ok is True, message=verdict.message if verdict else "", hint=verdict.hint if verdict else None)
            if verdict is not None:
                result["check"] = verdict.check
        except TypeError as err:  # misuse: not a function
            result["message"] = str(err)
        except Exception as err:  # noqa: BLE001
            result["message"] = f"the check raised {type(err).__name__}: {err}"
    print(printed.getvalue() or f"{'✓' if result['ok'] else '✗'} {result['check']}: {result['message']}", end="")
    from IPython.display import display

    display({MIME: result, "text/plain": f"graded: {result['check']} {'✓' if result['ok'] else '✗'}"}, raw=True)
    return result


# ----------------------------------------------------------------------------------------
# Preparing and reading the notebook
# ----------------------------------------------------------------------------------------

def _grading(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_check_cell(cell) -> bool:
    return cell.cell_type == "code" and bool(_grading(cell).get("grade") or "check" in cell.metadata.get("tags", [])
                                             or CALL.search(cell.source))


def check_calls(source: str) -> list[tuple[str, str]]:
    """(check function, answer expression) of every top-level ``check_x(answer)`` in a cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    calls = []
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Name) and node.value.func.id.startswith("check_") and node.value.args:
            calls.append((node.value.func.id, ast.get_source_segment(source, node.value.args[0])))
    return calls


def graded_source(source: str, grade_id: str) -> str:
    """A check cell with each ``check_x(answer)`` replaced by a graded call (other lines kept)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    out = ["from fsth.course.grade import grade_in_kernel as __fsth_grade__"]
    for node in tree.body:
        segment = "\n".join(lines[node.lineno - 1:node.end_lineno])
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Name) and node.value.func.id.startswith("check_") and node.value.args:
            answer = ast.get_source_segment(source, node.value.args[0])
            out.append(f"__fsth_grade__({node.value.func.id!r}, lambda: ({answer}), {grade_id!r})")
        else:
            out.append(segment)
    return "\n".join(out)


def reference_checks(name: str, reference: Path | None) -> dict[str, object]:
    """The course's own check cells of notebook ``name``, by grade_id (empty when not found)."""
    import nbformat

    folder = reference or REFERENCE
    path = folder / name
    if not path.is_file():  # a renamed copy: 04_generator_and_adain-alice.ipynb is still lesson 04
        found = sorted(folder.glob(f"{name[:3]}*.ipynb")) if re.match(r"\d\d_", name) else []
        if len(found) != 1:
            return {}
        path = found[0]
    nb = nbformat.read(path, as_version=4)
    return {_grading(c).get("grade_id") or f"cell {i}": c for i, c in enumerate(nb.cells) if is_check_cell(c)}


def prepare(nb, reference: dict) -> tuple[object, list[dict]]:
    """The notebook to run (check cells swapped for graded ones) and what each graded cell should
    report: [{"cell": index, "grade_id", "checks": [...], "points"}]."""
    nb = copy.deepcopy(nb)
    expected, seen = [], set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if not is_check_cell(cell):
            continue
        grade_id = _grading(cell).get("grade_id") or f"cell {i}"
        canonical = reference.get(grade_id, cell)
        seen.add(grade_id)
        calls = check_calls(canonical.source)
        if not calls:
            continue  # a graded cell without a check (none in the course): left as it is
        cell.source = graded_source(canonical.source, grade_id)
        expected.append({"cell": i, "grade_id": grade_id, "checks": [c for c, _ in calls],
                         "points": _grading(canonical).get("points", 1)})
    import nbformat

    for grade_id, canonical in reference.items():  # check cells the learner deleted: graded at the end
        calls = check_calls(canonical.source)
        if grade_id in seen or not calls:
            continue
        nb.cells.append(nbformat.v4.new_code_cell(graded_source(canonical.source, grade_id)))
        expected.append({"cell": len(nb.cells) - 1, "grade_id": grade_id, "checks": [c for c, _ in calls],
                         "points": _grading(canonical).get("points", 1), "deleted": True})
    return nb, expected


def results(nb, expected: list[dict]) -> list[dict]:
    """The verdict each graded cell published for each of its checks — the last one (it comes after
    the learner's code has returned) — and a ✗ for each check that published none."""
    rows = []
    for spec in expected:
        cell = nb.cells[spec["cell"]]
        published = [o["data"][MIME] for o in cell.get("outputs", []) if o.get("output_type") == "display_data"
                     and MIME in o.get("data", {}) and isinstance(o["data"][MIME], dict)]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        share = _number(spec["points"] / len(spec["checks"]))
        for check in spec["checks"]:
            mine = [r for r in published if r.get("function") == check and r.get("grade_id") == spec["grade_id"]]
            verdict = mine[-1] if mine else None
            if verdict is None:
                why = f"{errors[0]['ename']}: {errors[0]['evalue']}" if errors else "the check did not run"
                verdict = {"check": check.removeprefix("check_"), "ok": False, "message": why, "hint": None}
            note = " (its check cell was missing from the notebook)" if spec.get("deleted") else ""
            rows.append({"exercise": verdict.get("check") or check.removeprefix("check_"), "grade_id": spec["grade_id"],
                         "result": "✓" if verdict.get("ok") is True else "✗",
                         "points": share if verdict.get("ok") is True else 0, "max_points": share,
                         "message": (verdict.get("message") or "") + note, "hint": verdict.get("hint") or ""})
    return rows


def _number(value: float):
    """Points as the CSV shows them: 1, not 1.0; 0.333 for a third."""
    value = round(float(value), 3)
    return int(value) if value.is_integer() else value


def student_of(path: Path) -> str:
    """The notebook's folder (``alice/04.ipynb``), or nbgrader's student folder
    (``submitted/alice/ps1/04.ipynb``), or the file's name when it has no folder."""
    parts = path.resolve().parts
    for marker in ("submitted", "autograded", "feedback"):
        if marker in parts[:-3]:
            return parts[parts.index(marker) + 1]
    folder = path.parent.name if path.parent != Path(".") else ""
    return folder or path.stem


def run(nb, folder: Path, timeout: int = 600):
    """Execute ``nb`` in a fresh kernel, errors allowed, with a course folder of its own."""
    from nbclient import NotebookClient

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("FSTH_STRICT", None)
    env.pop("MPLBACKEND", None)
    with tempfile.TemporaryDirectory(prefix="fsth-grade-") as course:
        env["FSTH_COURSE_DIR"] = course
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute(env=env)
    return nb


def grade(paths, out: Path, timeout: int = 600, reference: Path | None = None) -> list[dict]:
    import nbformat

    rows = []
    for path in map(Path, paths):
        nb = nbformat.read(path, as_version=4)
        prepared, expected = prepare(nb, reference_checks(path.name, reference))
        run(prepared, path.parent, timeout)
        student = student_of(path)
        mine = [{"student": student, "notebook": str(path), **row} for row in results(prepared, expected)]
        earned, possible = sum(r["points"] for r in mine), sum(r["max_points"] for r in mine)
        mine.append({"student": student, "notebook": str(path), "exercise": "TOTAL", "grade_id": "", "result": "",
                     "points": _number(earned), "max_points": _number(possible),
                     "message": f"{sum(r['result'] == '✓' for r in mine)} of {len(mine)} checks pass", "hint": ""})
        rows += mine
        print(f"{student}: {earned:g} of {possible:g} points ({path})")
    with atomic_write(out, "w", newline="", encoding="utf-8") as f:  # makes the folder too
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {out} ({len(rows)} rows)")
    return rows


@dataclass(frozen=True)
class GradeOptions:
    notebooks: tuple[str, ...] = option((), "learners' .ipynb files", positional=True, required=True)
    out: str = option("grades.csv", "the CSV to write")
    timeout: int = option(600, "seconds one cell may run before it counts as failed")
    reference: str = option("", "folder of the course's own notebooks, whose check cells are run "
                                "(default: notebooks/ beside the fsth package)")


def run_grade(args: GradeOptions) -> int:
    missing = [p for p in args.notebooks if not Path(p).is_file()]
    if missing:
        raise UsageError(f"no such notebook: {', '.join(missing)}")
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive; got {args.timeout}")
    grade(args.notebooks, Path(args.out), args.timeout, Path(args.reference) if args.reference else None)
    return 0


def _build_commands():
    from .build import COMMANDS as BUILD

    return BUILD


COMMANDS = {"grade": Command("run each learner's checks in a fresh kernel and write a CSV of points",
                             lambda p: add_flags(p, GradeOptions), run_grade, GradeOptions, torch=False),
            **_build_commands()}


def add_commands(parser: argparse.ArgumentParser) -> None:
    """``fsth course``'s sub-commands (``grade``, ``build``)."""
    add_subcommands(parser, COMMANDS, "all", "course_command")


def main(argv=None) -> int:
    """``python -m fsth.course grade ...``: the same as ``fsth course grade ...``."""
    parser = argparse.ArgumentParser(prog="python -m fsth.course", description="the course's classroom tools")
    add_commands(parser)
    args = parser.parse_args(argv)
    command = args.command_spec
    return run_command(f"fsth course {args.course_command}", command.run, from_args(args, command.options),
                       getattr(args, "verbose", False))
