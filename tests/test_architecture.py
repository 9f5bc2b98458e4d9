"""The house's floors: no module imports from a floor above its own, nothing in fsth's core
imports ``detector``, and ``detector`` uses only fsth's public modules (docs/architecture.md).

Every import is found with ``ast`` — including the ones inside functions — so a lazy import
can't hide a cycle. Run alone: ``python -m pytest tests/test_architecture.py``.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# fsth's floors, ground first; a module may import its own floor and any floor below
FLOORS = [
    ["fsth.io", "fsth.hardware", "fsth.errors"],
    ["fsth.landmarks"],
    ["fsth.nn", "fsth.losses", "fsth.identity", "fsth.warp", "fsth.provenance"],
    ["fsth.data", "fsth.metrics", "fsth.viz"],
    ["fsth.person"],
    ["fsth.train"],
    ["fsth.reenact", "fsth.animate", "fsth.evaluate"],
    ["fsth.demo", "fsth.cli", "fsth.flags", "fsth.course", "fsth.exercises", "fsth.__main__",
     "fsth"],
]
TOP = len(FLOORS) - 1
# what detector/ may use of fsth: the public, lower floors
DETECTOR_MAY_USE = ("fsth.io", "fsth.hardware", "fsth.errors", "fsth.landmarks", "fsth.data", "fsth.person",
                    "fsth.reenact", "fsth.metrics", "fsth.nn", "fsth.provenance")


def floor_of(module: str) -> int:
    best, floor = "", None
    for level, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
                best, floor = prefix, level
    if floor is None:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS and docs/architecture.md")
    return floor


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            found.add(name)
            if node.module is None or node.level:  # "from . import x" may import submodules
                found.update(f"{name}.{alias.name}" for alias in node.names)
    return {n for n in found if n.split(".")[0] in ("fsth", "detector") and n != "fsth"}


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_no_fsth_module_imports_from_a_higher_floor():
    problems = []
    for path in sources("fsth"):
        here = module_name(path)
        mine = floor_of(here)
        for name in imports(path):
            if name.startswith("detector"):
                if mine != TOP:
                    problems.append(f"{here} imports {name}: only the top floor (demo, cli, course) may")
                continue
            try:
                theirs = floor_of(name)
            except AssertionError:  # e.g. "fsth.io.clips.load_clip" resolves by prefix anyway
                continue
            if theirs > mine:
                problems.append(f"{here} (floor {mine}) imports {name} (floor {theirs})")
    assert not problems, "\n".join(problems)


def test_detector_uses_only_fsths_public_modules():
    problems = [f"{module_name(p)} imports {name}" for p in sources("detector") for name in imports(p)
                if name.startswith("fsth") and not name.startswith(DETECTOR_MAY_USE)]
    assert not problems, "\n".join(problems)


def test_data_and_landmarks_do_not_depend_on_each_other_both_ways():
    landmarks_to_data = [f"{module_name(p)} imports {n}" for p in sources("fsth/landmarks") for n in imports(p)
                         if n.startswith("fsth.data")]
    assert not landmarks_to_data, landmarks_to_data


def test_every_module_is_on_a_floor():
    for path in sources("fsth"):
        floor_of(module_name(path))
