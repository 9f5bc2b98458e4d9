"""The student notebooks are made from the solution notebooks (nbgrader's BEGIN/END SOLUTION markers),
and the marked solutions pass every check."""
from __future__ import annotations

import linecache
import shutil

import nbformat
import pytest

from fsth.course import build
from fsth.course.grade import check_calls, is_check_cell

SOLVED = build.sources()


def test_the_student_notebooks_are_what_the_solution_notebooks_make(capsys):
    from fsth.course.grade import main

    assert [p.stem for p in SOLVED] == ["03_embedder", "04_generator_and_adain", "05_discriminator_hinge_fm",
                                        "06_meta_learning", "07_few_shot_finetuning"]
    assert build.build(check=True) == [], "notebooks/ differ from fsth/course/solutions/: run `fsth course build`"
    assert main(["build", "--check"]) == 0
    assert "match the 5 solution notebooks" in capsys.readouterr().out


def test_build_check_names_a_student_notebook_edited_by_hand(tmp_path, capsys):
    from fsth.course.grade import main

    for path in SOLVED:
        shutil.copy(build.NOTEBOOKS / path.name, tmp_path / path.name)
    edited = tmp_path / "04_generator_and_adain.ipynb"
    nb = nbformat.read(edited, as_version=4)
    nb.cells[0].source += " (edited)"
    nbformat.write(nb, edited)
    assert main(["build", "--check", "--out", str(tmp_path)]) == 1
    assert "04_generator_and_adain.ipynb" in capsys.readouterr().out
    assert main(["build", "--out", str(tmp_path)]) == 0  # and building puts it back
    assert build.build(out=tmp_path, check=True) == []


def test_a_solution_region_becomes_the_stub_at_its_indentation():
    source = ("def my_f(x):\n    y = x + 1\n    ### BEGIN SOLUTION\n    # your code here: double it\n"
              "    return 2 * y\n    ### END SOLUTION\n\n\nclass My:\n    def g(self):\n        ### BEGIN SOLUTION\n"
              "        return 1\n        ### END SOLUTION\n")
    assert build.student_source(source) == (
        "def my_f(x):\n    y = x + 1\n    raise NotImplementedError  # your code here: double it\n\n\n"
        "class My:\n    def g(self):\n        raise NotImplementedError  # your code here\n")
    for broken in ("    ### BEGIN SOLUTION\n    x = 1\n", "    x = 1\n    ### END SOLUTION\n",
                   "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n"):
        with pytest.raises(ValueError, match="SOLUTION"):
            build.student_source(broken)


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_every_exercise_cell_holds_a_solution_and_every_check_cell_is_the_students(path):
    solved = nbformat.read(path, as_version=4)
    student = nbformat.read(build.NOTEBOOKS / path.name, as_version=4)
    exercises = [c for c in solved.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert exercises and all(build.has_solution(c.source) for c in exercises)
    assert all(not c.get("outputs") for c in solved.cells if c.cell_type == "code")
    checks = [c.source for c in solved.cells if is_check_cell(c)]
    assert checks and checks == [c.source for c in student.cells if is_check_cell(c)]


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_the_marked_solutions_pass_every_check(path, tmp_path, monkeypatch, capsys):
    """The solution notebook's setup and exercise cells, run as cells, then each of its checks."""
    import fsth.course as course

    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    namespace = {"__name__": "__main__"}
    for number, c in enumerate(code):
        if number < 2 or "exercise" in c.metadata.get("tags", []):  # parameters, imports, exercises
            filename = f"<{path.stem} cell {number}>"
            linecache.cache[filename] = (len(c.source), None, c.source.splitlines(keepends=True), filename)
            exec(compile(c.source, filename, "exec"), namespace)
    calls = [call for c in code if is_check_cell(c) for call in check_calls(c.source)]
    assert calls
    capsys.readouterr()
    for check, answer in calls:
        ok = getattr(course, check)(eval(answer, namespace))
        out = capsys.readouterr().out
        assert ok is True, out
