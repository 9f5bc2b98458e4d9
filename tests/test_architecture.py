"""The house's floors (docs/architecture.md): no fsth module imports from a floor above its own,
every fsth module is on a floor, no fsth module imports ``detector`` (it plugs in through entry
points), ``detector`` uses only fsth's public API, and nothing in fsth, detector, benchmarks/,
teachers/ or notebooks/ imports ``tests`` (nor fsth or detector ``teachers`` or ``benchmarks``).

Every import is found with ``ast`` — including the ones inside functions, ``from fsth import cli``
(read as ``fsth.cli``) and string imports (``importlib.import_module("fsth.cli")``,
``__import__``) — so a lazy import can't hide a cycle. Notebooks are read cell by cell, shell
(``!``) and magic (``%``) lines left out. Each rule has a test that plants a violation and sees it
caught. Run alone: ``python -m pytest tests/test_architecture.py``.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# fsth's floors, ground first; a module may import its own floor and any floor below
FLOORS = [
    ["fsth.io", "fsth.hardware", "fsth.errors", "fsth.flags", "fsth.assets"],
    ["fsth.landmarks"],
    ["fsth.nn", "fsth.losses", "fsth.identity", "fsth.warp", "fsth.guardrails", "fsth.eyelids", "fsth.provenance",
     "fsth.render", "fsth.baselines"],
    ["fsth.data", "fsth.metrics", "fsth.viz"],
    ["fsth.person"],
    ["fsth.train"],
    ["fsth.reenact", "fsth.animation", "fsth.evaluate", "fsth.warp_hard", "fsth.live"],
    ["fsth.demo", "fsth.cli", "fsth.options", "fsth.course", "fsth.exercises", "fsth.__main__",
     "fsth"],
]
TOP = len(FLOORS) - 1
PACKAGE_TOP = "fsth"  # the package itself (its public API, lazily re-exported): on the top floor, by exact name only
# what detector/ may use of fsth besides the package top: public helper modules (to be tightened)
DETECTOR_MAY_USE = ("fsth.io", "fsth.hardware", "fsth.errors", "fsth.flags", "fsth.assets", "fsth.landmarks",
                    "fsth.data", "fsth.metrics", "fsth.nn", "fsth.provenance")
SEEN = ("fsth", "detector", "tests", "teachers", "benchmarks")  # the names the checks follow
NOT_FOR_PACKAGES = ("tests", "teachers", "benchmarks")  # what fsth and detector never import
NOT_FOR_SCRIPTS = ("tests",)  # what benchmarks/ and teachers/ never import
NOT_FOR_NOTEBOOKS = ("tests", "teachers")  # a lesson never sees the tests or the solutions
CELL_MAGICS_WITH_PYTHON = ("%%time", "%%timeit", "%%capture")  # other %% cells are not Python


def floor_of(module: str) -> int:
    """The floor of an fsth module; AssertionError for one on no floor.

    ``fsth`` itself counts only by its exact name: ``fsth.new_module`` is on no floor until
    FLOORS names it (it does not fall onto the top floor by prefix).
    """
    best, floor = "", None
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            matches = module == prefix or (prefix != PACKAGE_TOP and module.startswith(prefix + "."))
            if matches and len(prefix) > len(best):
                best, floor = prefix, level
    if floor is None:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS and docs/architecture.md")
    return floor


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of the repository (not a name defined in one)."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or path.is_dir()


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """Absolute names of the repository modules ``path`` imports (see :func:`imports_in`)."""
    return imports_in(path.read_text(), module_name(path, root), path.name == "__init__.py", str(path))


def imports_in(source: str, module: str, is_package: bool = False, filename: str = "<source>") -> set[str]:
    """Absolute names of the repository modules ``source`` (the text of ``module``) imports.

    Relative imports are resolved; ``from fsth import cli`` is ``fsth.cli`` (a submodule), while
    ``from fsth import load_model`` is ``fsth`` (a name of the package top); string imports
    (``importlib.import_module``, ``__import__``) count when their names are literals.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join((package[:len(package) - node.level + 1] if node.level else []) +
                            ([node.module] if node.module else []))
            found.update(_from_import(base, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Call):
            found.update(_string_import(node, ".".join(package)))
    return {n for n in found if n.split(".")[0] in SEEN}


def _from_import(base: str, names: list[str]) -> set[str]:
    """``from base import names``: each submodule by its own name, anything else as ``base``."""
    return {f"{base}.{name}" if is_module(f"{base}.{name}") else base for name in names}


def _string_import(call: ast.Call, package: str) -> set[str]:
    """What ``import_module("x")``, ``import_module(".x", "pkg")`` or ``__import__("x", fromlist=[...])`` imports."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if called not in ("import_module", "__import__") or not call.args or not _literal(call.args[0]):
        return set()
    name = call.args[0].value
    if called == "import_module" and name.startswith("."):
        anchor = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords
                                                               if k.arg == "package"), None)
        dots = len(name) - len(name.lstrip("."))
        base = (anchor.value if _literal(anchor) else package).split(".")
        name = ".".join(base[:len(base) - dots + 1] + [name.lstrip(".")]).rstrip(".")
    fromlist = next((k.value for k in call.keywords if k.arg == "fromlist"), None)
    if called == "__import__" and isinstance(fromlist, (ast.List, ast.Tuple)):
        return _from_import(name, [e.value for e in fromlist.elts if _literal(e)])
    return {name}


def _literal(node) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def sources(package: str, root: Path = ROOT) -> list[Path]:
    return sorted((root / package).rglob("*.py"))


def notebook_sources(path: Path) -> list[tuple[str, str]]:
    """(``path`` cell N, Python source) of each code cell; shell and magic lines become ``pass``."""
    cells = json.loads(path.read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = source.splitlines()
        if cell["cell_type"] != "code" or (lines and lines[0].startswith("%%")
                                           and lines[0].split()[0] not in CELL_MAGICS_WITH_PYTHON):
            continue
        python = [_indent(line) + "pass" if line.lstrip().startswith(("!", "%")) else line for line in lines]
        found.append((f"{path.name} cell {index}", "\n".join(python)))
    return found


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


# -- the rules: each returns one line per problem -------------------------------------------------

def floor_problems(module: str, names: set[str]) -> list[str]:
    """An fsth module importing from a floor above its own, or importing a module on no floor."""
    problems = []
    mine = floor_of(module)
    for name in sorted(n for n in names if n.split(".")[0] == "fsth"):
        try:
            theirs = floor_of(name)
        except AssertionError as err:
            problems.append(f"{module} imports {name}: {err}")
            continue
        if theirs > mine:
            problems.append(f"{module} (floor {mine}) imports {name} (floor {theirs})")
    return problems


def forbidden(module: str, names: set[str], roots: tuple[str, ...], why: str) -> list[str]:
    """``module`` importing anything under ``roots``."""
    return [f"{module} imports {name}: {why}" for name in sorted(names) if name.split(".")[0] in roots]


def detector_problems(module: str, names: set[str]) -> list[str]:
    """A detector module using fsth beyond its package top and DETECTOR_MAY_USE."""
    return [f"{module} imports {name}: detector uses only `fsth` and {', '.join(DETECTOR_MAY_USE)}"
            for name in sorted(names) if _under(name, ("fsth",)) and not _under(name, DETECTOR_MAY_USE)
            and name != PACKAGE_TOP]


def _under(name: str, modules: tuple[str, ...]) -> bool:
    """Whether ``name`` is one of ``modules`` or inside one (``fsth.iox`` is not inside ``fsth.io``)."""
    return any(name == m or name.startswith(m + ".") for m in modules)


def package_problems(package: str, rule, root: Path = ROOT) -> list[str]:
    """``rule(module, names)`` over every module of ``package``."""
    return [problem for path in sources(package, root) for problem in rule(module_name(path, root), imports(path, root))]


def script_problems(root: Path = ROOT) -> list[str]:
    """benchmarks/ and teachers/ importing ``tests``."""
    return [problem for folder in ("benchmarks", "teachers") for path in sources(folder, root)
            for problem in forbidden(module_name(path, root), imports(path, root), NOT_FOR_SCRIPTS,
                                     "move what both need out of tests/ (e.g. benchmarks/browser.py)")]


def notebook_problems(root: Path = ROOT) -> list[str]:
    """Notebooks importing ``tests`` or ``teachers``."""
    return [problem for path in sorted((root / "notebooks").glob("*.ipynb"))
            for cell, source in notebook_sources(path)
            for problem in forbidden(cell, imports_in(source, "__main__", filename=cell), NOT_FOR_NOTEBOOKS,
                                     "a lesson never sees the tests or the solutions")]


def modules_on_no_floor(root: Path = ROOT) -> list[str]:
    found = []
    for path in sources("fsth", root):
        try:
            floor_of(module_name(path, root))
        except AssertionError:
            found.append(module_name(path, root))
    return found


def _no_detector(module: str, names: set[str]) -> list[str]:
    return forbidden(module, names, ("detector",), "no fsth module imports detector; it plugs in through "
                                                  "entry points (docs/architecture.md)")


def _no_tests_teachers_benchmarks(module: str, names: set[str]) -> list[str]:
    return forbidden(module, names, NOT_FOR_PACKAGES, "fsth and detector never import tests, teachers or benchmarks")


def _floors(module: str, names: set[str]) -> list[str]:
    try:
        floor_of(module)
    except AssertionError as err:
        return [str(err)]
    return floor_problems(module, names)


# -- the tree as it is ------------------------------------------------------------------------------

def test_no_fsth_module_imports_from_a_higher_floor():
    problems = package_problems("fsth", _floors)
    assert not problems, "\n".join(problems)


def test_every_module_is_on_a_floor():
    assert not modules_on_no_floor(), [f"{m} is on no floor: add it to FLOORS and docs/architecture.md"
                                       for m in modules_on_no_floor()]


def test_no_fsth_module_imports_detector():
    problems = package_problems("fsth", _no_detector)
    assert not problems, "\n".join(problems)


def test_detector_uses_only_fsths_public_api():
    problems = package_problems("detector", detector_problems)
    assert not problems, "\n".join(problems)


def test_fsth_and_detector_never_import_tests_teachers_or_benchmarks():
    problems = package_problems("fsth", _no_tests_teachers_benchmarks) + \
        package_problems("detector", _no_tests_teachers_benchmarks)
    assert not problems, "\n".join(problems)


def test_benchmarks_and_teachers_never_import_tests():
    assert sources("benchmarks") and sources("teachers")
    problems = script_problems()
    assert not problems, "\n".join(problems)


def test_notebooks_never_import_tests_or_teachers():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks and all(notebook_sources(path) for path in notebooks)  # every lesson is read
    problems = notebook_problems()
    assert not problems, "\n".join(problems)


def test_data_and_landmarks_do_not_depend_on_each_other_both_ways():
    landmarks_to_data = [f"{module_name(p)} imports {n}" for p in sources("fsth/landmarks") for n in imports(p)
                         if n.startswith("fsth.data")]
    assert not landmarks_to_data, landmarks_to_data


# -- each check against a planted violation --------------------------------------------------------

def test_from_fsth_import_a_submodule_is_that_submodule():
    assert imports_in("from fsth import cli", "fsth.io.planted") == {"fsth.cli"}
    assert imports_in("from .. import cli, io", "fsth.io.planted") == {"fsth.cli", "fsth.io"}
    assert imports_in("from . import atomic", "fsth.io", is_package=True) == {"fsth.io.atomic"}
    assert imports_in("from fsth.io.clips import load_clip", "fsth.io.planted") == {"fsth.io.clips"}
    assert floor_problems("fsth.io.planted", imports_in("from fsth import cli", "fsth.io.planted")) == \
        [f"fsth.io.planted (floor 0) imports fsth.cli (floor {TOP})"]


def test_a_name_of_the_package_top_is_the_top_floor():
    names = imports_in("def f():\n    from fsth import load_model", "fsth.io.planted")
    assert names == {"fsth"} == imports_in("import fsth", "fsth.io.planted")
    assert floor_problems("fsth.io.planted", names) == [f"fsth.io.planted (floor 0) imports fsth (floor {TOP})"]
    assert floor_problems("fsth.cli", names) == []
    assert detector_problems("detector.planted", names) == []  # the public API is detector's to use


@pytest.mark.parametrize("source", [
    'importlib.import_module("fsth.cli")',
    'from importlib import import_module\nimport_module(".cli", "fsth")',
    'importlib.import_module("..cli", package="fsth.io")',
    'importlib.import_module("..cli", __package__)',
    '__import__("fsth.cli")',
    '__import__("fsth", fromlist=["cli"])',
    'def later():\n    return __import__("fsth.cli")',  # inside a function
])
def test_string_imports_are_seen(source):
    names = imports_in(source, "fsth.io.planted")
    assert "fsth.cli" in names
    assert f"fsth.io.planted (floor 0) imports fsth.cli (floor {TOP})" in floor_problems("fsth.io.planted", names)


def test_a_module_on_no_floor_fails(tmp_path):
    assert floor_of("fsth.io.clips") == 0 and floor_of("fsth") == TOP
    with pytest.raises(AssertionError, match="fsth.planted is on no floor"):
        floor_of("fsth.planted")
    assert floor_problems("fsth.io.x", {"fsth.planted"}) == \
        ["fsth.io.x imports fsth.planted: fsth.planted is on no floor: add it to FLOORS and docs/architecture.md"]
    assert _floors("fsth.planted", set()) == \
        ["fsth.planted is on no floor: add it to FLOORS and docs/architecture.md"]
    for relative in ("fsth/planted.py", "fsth/io/planted.py", "fsth/newpackage/__init__.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("")
    assert modules_on_no_floor(tmp_path) == ["fsth.newpackage", "fsth.planted"]


@pytest.mark.parametrize("source", ["import detector", "from detector import models",
                                    "from detector.models import create", 'importlib.import_module("detector.models")'])
def test_any_fsth_module_importing_detector_is_caught(source):
    for module in ("fsth.cli", "fsth.demo", "fsth", "fsth.io.planted"):  # the top floor included
        assert _no_detector(module, imports_in(source, module)), (module, source)


@pytest.mark.parametrize("source, allowed", [
    ("from fsth import load_model", True),
    ("import fsth", True),
    ("from fsth.io import atomic_write", True),
    ("from fsth.person import load_model", False),  # through the public API: from fsth import load_model
    ("from fsth import io", True),
    ("from fsth import cli", False),
    ("import fsth.train.meta", False),
    ("from fsth.iox import thing", False),  # a prefix of an allowed name is not enough
    ('importlib.import_module("fsth.evaluate")', False),
])
def test_detector_may_use_only_fsths_public_api(source, allowed):
    assert (detector_problems("detector.planted", imports_in(source, "detector.planted")) == []) == allowed


@pytest.mark.parametrize("source", ["from tests.helpers import SMALL_MODEL", "import teachers.solutions",
                                    "from benchmarks import notebook_screenshots",
                                    'importlib.import_module("tests.test_browser")'])
def test_fsth_and_detector_importing_tests_teachers_or_benchmarks_is_caught(source):
    for module in ("fsth.cli", "fsth.io.planted", "detector.planted"):
        assert _no_tests_teachers_benchmarks(module, imports_in(source, module)), (module, source)


def test_a_script_importing_tests_is_caught(tmp_path):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "teachers").mkdir()
    (tmp_path / "benchmarks" / "shots.py").write_text("import fsth\nfrom detector import models\n"
                                                       "from tests.test_browser import jupyterlab\n")
    (tmp_path / "teachers" / "solutions.py").write_text("def f():\n    import tests.helpers\n")
    assert script_problems(tmp_path) == [
        "benchmarks.shots imports tests.test_browser: move what both need out of tests/ (e.g. benchmarks/browser.py)",
        "teachers.solutions imports tests.helpers: move what both need out of tests/ (e.g. benchmarks/browser.py)"]


def test_a_notebook_importing_tests_or_teachers_is_caught(tmp_path):
    cells = [("markdown", "from tests import nothing"),  # prose, not code
             ("code", "!pip install fsth\n%matplotlib inline\nimport fsth\nif True:\n    !ls\n    x = 1"),
             ("code", "%%bash\nfrom tests import not_python"),
             ("code", "%%time\nfrom tests.test_browser import browser_missing"),
             ("code", "from teachers.solutions import hinge_loss\nfrom detector.models import create")]
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_planted.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": kind, "source": source.splitlines(keepends=True), "metadata": {}}
                   for kind, source in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert notebook_problems(tmp_path) == [
        "01_planted.ipynb cell 3 imports tests.test_browser: a lesson never sees the tests or the solutions",
        "01_planted.ipynb cell 4 imports teachers.solutions: a lesson never sees the tests or the solutions"]
