"""The student notebooks are made from the solution notebooks (nbgrader's BEGIN/END SOLUTION markers),
and the marked solutions pass every check."""
from __future__ import annotations

import ast
import linecache
import shutil

import nbformat
import pytest

from fsth.course import build
from fsth.course.grade import check_calls, is_check_cell

SOLVED = build.sources()


def test_the_student_notebooks_are_what_the_solution_notebooks_make(capsys):
    from fsth.course.grade import main

    # every lesson with an exercise is made from its solution notebook: all of notebooks/
    assert [p.name for p in SOLVED] == sorted(p.name for p in build.NOTEBOOKS.glob("*.ipynb"))
    assert [p.stem for p in SOLVED] == ["00_tour", "01_landmarks", "02_data_and_episodes", "03_embedder",
                                        "04_generator_and_adain", "05_discriminator_hinge_fm", "06_meta_learning",
                                        "07_few_shot_finetuning", "08_puppeteering_and_adaptation",
                                        "09_detectability", "10_warping", "11_live"]
    assert build.build(check=True) == [], "notebooks/ differ from fsth/course/solutions/: run `fsth course build`"
    assert main(["build", "--check"]) == 0
    assert "match the 12 solution notebooks" in capsys.readouterr().out


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


def _imports(source: str) -> str:
    """A cell's top-level import statements (``import cv2``, ``from fsth.landmarks import PARTS``)."""
    tree = ast.parse(source)
    return "\n".join(ast.get_source_segment(source, node) for node in tree.body
                     if isinstance(node, (ast.Import, ast.ImportFrom)))


@pytest.mark.parametrize("path", SOLVED, ids=lambda p: p.stem)
def test_the_marked_solutions_pass_every_check(path, tmp_path, monkeypatch, capsys):
    """The solution notebook's parameters, every name the lesson imports, and its exercise cells, run as
    cells (not the lesson's data, detectors or training: the checks bring their own cases), then each of
    its checks."""
    import fsth.course as course

    monkeypatch.setenv("FSTH_COURSE_DIR", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    namespace = {"__name__": "__main__"}
    for number, c in enumerate(code):
        exercise = "exercise" in c.metadata.get("tags", [])
        source = c.source if number == 0 or exercise else _imports(c.source)  # parameters, imports, exercises
        filename = f"<{path.stem} cell {number}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        exec(compile(source, filename, "exec"), namespace)
    calls = [call for c in code if is_check_cell(c) for call in check_calls(c.source)]
    assert calls
    capsys.readouterr()
    for check, answer in calls:
        ok = getattr(course, check)(eval(answer, namespace))
        out = capsys.readouterr().out
        assert ok is True, out
