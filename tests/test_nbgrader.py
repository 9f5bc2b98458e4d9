"""One real nbgrader round on a solution notebook: ``nbgrader generate_assignment`` makes the student
notebook ``fsth course build`` makes, and ``FSTH_STRICT=1 nbgrader autograde`` gives a passing check
its points and a failing or unfilled one 0 (docs/teachers.md, "With nbgrader")."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import nbformat
import pytest

from fsth.course import build

pytest.importorskip("nbgrader")

NOTEBOOK = "04_generator_and_adain.ipynb"  # three exercises, a lesson that runs in seconds
CONFIG = '''\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "fsth"
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError  # your code here"}  # fsth course build's stub
c.Execute.timeout = 300  # seconds a cell may run (nbgrader's default, 30, is tight on a busy two-core CPU)
'''
RIGHT_ADAIN = """\
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * scale + bias"""
WRONG_RESBLOCK_UP = """\
        p1, p2 = psi[:, : 2 * x.shape[1]], psi[:, 2 * x.shape[1]:]
        h = F.interpolate(F.relu(my_adain(x, p1)), scale_factor=2, mode="nearest")
        h = self.conv2(my_adain(self.conv1(h), p2))  # wrong: no ReLU before conv2
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))"""


def _nbgrader(course, *args, strict=False):
    env = {**os.environ, "FSTH_COURSE_DIR": str(course / "fsth-course"), "HF_HUB_OFFLINE": "1",
           # nbgrader runs its database migrations with the `alembic` command: the environment's scripts must be
           # on PATH even when the suite runs as .venv/bin/python -m pytest without an activated venv (CI)
           "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])}
    env.pop("FSTH_STRICT", None)
    env.pop("MPLBACKEND", None)
    if strict:
        env["FSTH_STRICT"] = "1"
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _without_task(source: str) -> str:
    """A stub without the task text ``fsth course build`` keeps (nbgrader's stub is the bare line)."""
    return re.sub(r"(raise NotImplementedError  # your code here)\b.*", r"\1", source)


def test_nbgrader_generates_the_assignment_and_autogrades_a_failing_check_to_zero(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path
    (course / "nbgrader_config.py").write_text(CONFIG)
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(build.SOLUTIONS / NOTEBOOK, course / "source" / "ps1" / NOTEBOOK)
    _nbgrader(course, "generate_assignment", "ps1")

    released = nbformat.read(course / "release" / "ps1" / NOTEBOOK, as_version=4)
    student = nbformat.read(build.NOTEBOOKS / NOTEBOOK, as_version=4)
    assert [(c.cell_type, _without_task(c.source)) for c in released.cells] == \
        [(c.cell_type, _without_task(c.source)) for c in student.cells]  # the same assignment as fsth course build

    submitted = course / "submitted" / "alice" / "ps1" / NOTEBOOK  # alice: adain right, ResBlockUp wrong,
    submitted.parent.mkdir(parents=True)  # ResBlock left as released
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "my_adain":
            cell.source = cell.source.replace("    raise NotImplementedError  # your code here", RIGHT_ADAIN)
        elif grade_id == "MyResBlockUp":
            cell.source = cell.source.replace("        raise NotImplementedError  # your code here", WRONG_RESBLOCK_UP)
    nbformat.write(released, submitted)
    _nbgrader(course, "autograde", "ps1", strict=True)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        graded = gradebook.find_submission_notebook(NOTEBOOK.removesuffix(".ipynb"), "ps1", "alice")
        scores = {g.name: (g.auto_score, g.max_score) for g in graded.grades}
        total = (graded.score, graded.max_score)
    assert scores == {"check_adain": (1, 1), "check_resblock_up": (0, 1), "check_resblock": (0, 1)}
    assert total == (1, 3)
    autograded = nbformat.read(course / "autograded" / "alice" / "ps1" / NOTEBOOK, as_version=4)
    errors = {c.metadata["nbgrader"]["grade_id"]: o for c in autograded.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"}
    assert set(errors) == {"check_resblock_up", "check_resblock"}  # strict mode: the failing checks raised
    assert all(e["ename"] == "AssertionError" for e in errors.values())
    assert "not implemented yet" in errors["check_resblock"]["evalue"]
    assert "max difference" in errors["check_resblock_up"]["evalue"]
