"""The student notebooks, made from the solution notebooks: ``fsth course build``.

The course's source for the lessons with exercises is ``fsth/course/solutions/NN_name.ipynb``: the
whole lesson with the reference solutions in its exercise cells, each between nbgrader's markers::

    def my_adain(x, psi, eps=1e-5):
        scale, bias = psi[:, :, None, None].chunk(2, dim=1)  # (B, C, 1, 1) each
        ### BEGIN SOLUTION
        # your code here: normalise over dims (2, 3), then scale and shift
        mean = x.mean(dim=(2, 3), keepdim=True)
        ...
        ### END SOLUTION

``fsth course build`` writes ``notebooks/NN_name.ipynb`` with each region replaced by one line at
its indentation, ``raise NotImplementedError  # your code here…`` — the region's first line when it
is a ``# your code here`` comment says what the stub says. Everything else is copied as it is
(outputs cleared), so nbgrader (``nbgrader generate_assignment`` on the solution notebooks, with
``c.ClearSolutions.code_stub = {"python": STUB}``) and this command make the same assignment but for
the task text nbgrader drops (docs/teachers.md; ``tests/test_nbgrader.py``). ``--check`` only
compares: it exits 1, naming the notebooks, when notebooks/ isn't what the solutions make
(``tests/test_course_build.py`` runs it).

The solution notebooks are files of the repository, not of the installed package (package data
lists only the pretrained models): a learner's ``import`` can't reach them.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..flags import Command, add_flags, option
from ..io.atomic import atomic_write_text

SOLUTIONS = Path(__file__).resolve().parent / "solutions"
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = "raise NotImplementedError  # your code here"
_TASK = re.compile(r"^#\s*your code here\b(.*)$", re.I)


def student_source(source: str) -> str:
    """``source`` with every BEGIN/END SOLUTION region replaced by the stub."""
    out, region = [], None
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if region is not None:
                raise ValueError(f"line {number}: {BEGIN} inside another solution region")
            region = {"indent": line[: len(line) - len(line.lstrip())], "lines": []}
            continue
        if stripped.startswith(END):
            if region is None:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            first = region["lines"][0].strip() if region["lines"] else ""
            task = _TASK.match(first)
            out.append(region["indent"] + STUB + (task.group(1) if task else ""))
            region = None
            continue
        if region is not None:
            region["lines"].append(line)
        else:
            out.append(line)
    if region is not None:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)


def has_solution(source: str) -> bool:
    return any(line.strip().startswith(BEGIN) for line in source.split("\n"))


def student_notebook(nb):
    """The student version of a solution notebook (a copy; outputs cleared)."""
    nb = copy.deepcopy(nb)
    for number, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if has_solution(cell.source):
            try:
                cell.source = student_source(cell.source)
            except ValueError as err:
                raise ValueError(f"cell {number}: {err}") from None
    return nb


def sources(folder: Path = SOLUTIONS) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))


def text_of(nb) -> str:
    """A notebook as stored in the repository (nbformat's JSON and a final newline)."""
    import nbformat

    return nbformat.writes(nb) + "\n"


def build(source: Path = SOLUTIONS, out: Path = NOTEBOOKS, check: bool = False) -> list[Path]:
    """Write (or, with ``check``, compare) the student notebook of every solution notebook in
    ``source``; returns the ones that differed."""
    import nbformat

    differ = []
    for path in sources(source):
        made = text_of(student_notebook(nbformat.read(path, as_version=4)))
        target = out / path.name
        if not target.is_file() or target.read_text(encoding="utf-8") != made:
            differ.append(target)
            if not check:
                atomic_write_text(target, made)
    return differ


@dataclass(frozen=True)
class BuildOptions:
    source: str = option(str(SOLUTIONS), "folder of solution notebooks (nbgrader's BEGIN/END SOLUTION markers)")
    out: str = option(str(NOTEBOOKS), "folder for the student notebooks")
    check: bool = option(False, "only compare: exit 1 when a student notebook isn't what its solution makes")


def run_build(args: BuildOptions) -> int:
    source, out = Path(args.source), Path(args.out)
    if not sources(source):
        raise UsageError(f"no solution notebooks (*.ipynb) in {source}")
    if not out.is_dir():
        raise UsageError(f"no such folder: {out}")
    differ = build(source, out, args.check)
    names = ", ".join(p.name for p in differ)
    if args.check:
        print(f"{len(differ)} student notebook(s) differ from their solutions: {names}" if differ
              else f"notebooks/ match the {len(sources(source))} solution notebooks")
        return 1 if differ else 0
    print(f"wrote {len(differ)} student notebook(s){': ' + names if differ else ''} "
          f"({len(sources(source)) - len(differ)} unchanged)")
    return 0


COMMANDS = {"build": Command("make the student notebooks from the solution notebooks (BEGIN/END SOLUTION)",
                             lambda p: add_flags(p, BuildOptions), run_build, BuildOptions, torch=False)}
