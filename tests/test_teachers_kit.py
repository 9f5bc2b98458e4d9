"""docs/teachers.md answers every question of every notebook, and its table agrees with the notebooks
(learner time, prerequisites) and with their measured run times (docs/notebook_times.json)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TEACHERS = (ROOT / "docs" / "teachers.md").read_text(encoding="utf-8")


def questions(path: Path) -> list[int]:
    """The numbers of the notebook's questions (its "## Exercises" list)."""
    nb = nbformat.read(path, as_version=4)
    text = next(c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    return [int(n) for n in re.findall(r"^(\d+)\. ", text, re.M)]


def answers(number: str) -> list[int]:
    """The numbers of the answers under "### NN · ..." in docs/teachers.md."""
    section = re.search(rf"^### {number} · .*?\n(.*?)(?=^### |\Z)", TEACHERS, re.M | re.S)
    assert section, f"docs/teachers.md has no answers for notebook {number}"
    return [int(n) for n in re.findall(r"^(\d+)\. ", section.group(1), re.M)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_teachers_md_answers_every_question_of_the_notebook(path):
    asked = questions(path)
    assert asked == list(range(1, len(asked) + 1)), f"{path.name}: questions numbered {asked}"
    assert answers(path.stem[:2]) == asked, f"docs/teachers.md: answer every question of {path.name}"


def _table() -> dict[str, list[str]]:
    rows = {}
    for line in TEACHERS.splitlines():
        match = re.match(r"^\| (\d\d) · [^|]+\|(.*)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_the_notebook_table_agrees_with_the_notebooks_and_their_measured_times():
    times = json.loads((ROOT / "docs" / "notebook_times.json").read_text())
    rows = _table()
    assert sorted(rows) == [p.stem[:2] for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        learner, run, prerequisites, hardware = rows[path.stem[:2]]
        header = nbformat.read(path, as_version=4).cells[1].source
        minutes = re.search(r"About (\d+) minutes", header).group(1)
        assert learner == f"{minutes} min", path.name
        expected = f"{times['seconds'][path.stem]} s / {times['seconds_avx2'][path.stem]} s"
        assert run == expected, f"{path.name}: docs/teachers.md says {run}, docs/notebook_times.json {expected}"
        needed = re.search(r"\*\*Prerequisites\.\*\*(.*?)\n", header).group(1)
        assert re.findall(r"\d\d", prerequisites) == re.findall(r"\d\d", needed), path.name
        assert hardware
    total = f"{times['total_seconds']} s native, {times['total_seconds_avx2']} s AVX2"
    assert total in TEACHERS
