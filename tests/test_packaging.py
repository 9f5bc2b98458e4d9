"""The install files agree with each other, and the README's commands are the ones CI runs."""
import re
import tomllib
from pathlib import Path

import yaml

from fsth.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch", "opencv": "opencv-python"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _bounds(requirements):
    return {_name(r): r[len(_name(r)):].strip() for r in requirements}


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and not d.startswith(("python", "pip"))]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    in_env = {CONDA_TO_PIP.get(_name(r), _name(r)): r[len(_name(r)):].strip() for r in conda}
    in_env.update(_bounds(pip))
    assert in_env == _bounds(wanted)
    assert "python=3.11" in env["dependencies"]


def test_design_card_dependencies_are_declared():
    names = set(_bounds(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]))
    card = {"torch", "jupyterlab", "ipywidgets", "face-alignment", "matplotlib", "scikit-learn", "timm",
            "dlib-bin", "face-recognition-models", "av"}
    assert card <= names


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- test-command -->\s*```(?:bash|sh)?\n(.+?)\n```", readme, re.S)
    assert block, "README must hold the test command in a fenced block after <!-- test-command -->"
    command = block.group(1).strip()
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith(("#", "set ", "cd ", "bash .ci/install-browser"))]
    assert ci == [command]


def test_every_subcommand_has_a_one_line_description():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert {"landmarks", "preprocess", "samples", "synth", "inspect", "train", "finetune", "animate",
            "evaluate"} <= set(helps)
    assert all(h and "\n" not in h for h in helps.values())
    text = parser.format_help()
    assert all(name in text for name in helps)
