"""Every file write in fsth/ and detector/ goes through ``fsth.io.atomic`` (docs/architecture.md).

A write made any other way can leave a half-written file after a crash, or write through a
symlink planted at the target. The scan below reads every module with ``ast`` and fails on each
direct write, naming it ``file:line``: ``open``/``Path.open`` for writing, ``Path.write_text`` /
``write_bytes`` / ``touch``, ``torch.save``, ``np.save``/``savez``, ``savefig``, PIL's ``.save``,
``json.dump``/``pickle.dump`` to a file, ``cv2.imwrite``, imageio writers, ``shutil`` copies
and moves, archive extraction.

A write is fine when its target is something the helper handed out (``with atomic_write(...) as
f`` or ``with atomic_path(...) as tmp``), an in-memory buffer (``io.BytesIO()``), ``sys.stdout``
or ``sys.stderr``, or a parameter of a function that every caller in the module passes one of
those (``_write_gif(tmp, ...)`` inside ``with atomic_path(path) as tmp``). ``os.replace`` is not
a write: it is the step the helper itself ends with, and it never follows a symlink.
"""
from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import pytest

from fsth.io import atomic_write, atomic_write_text, save_figure

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("fsth", "detector")
HELPER = "fsth/io/atomic.py"  # the one place that writes files itself

# (file, the call as written) -> why it is not a direct write. Keep it short; every entry must
# still match a call in the tree (test_every_allowed_write_still_exists).
ALLOWED = {
    ("detector/study.py", "faces.save"): "detector.data.FaceSet.save writes through atomic_write",
    ("detector/study.py", "det.save"): "detector.models' save methods write through atomic_write",
    ("fsth/train/lock.py", "os.open"): "the run folder's lock file: flock needs one file that stays put "
                                       "(opened O_NOFOLLOW); it only ever holds the holder's pid",
    ("fsth/live/session.py", "path.write_bytes"): "a photo uploaded to the live page, in a private "
                                                  "TemporaryDirectory deleted as soon as read_image has read it",
}

SAFE_MAKERS = {"atomic_write", "atomic_path"}  # context managers whose ``as`` name is a safe target
MEMORY = {"BytesIO", "StringIO"}  # in-memory files
SAFE_STREAMS = {"sys.stdout", "sys.stderr"}
OPENERS = {"open", "ZipFile", "TarFile", "GzipFile", "BZ2File", "LZMAFile"}
OS_WRITE_FLAGS = {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"}
# methods whose first argument (or a PATH_KEYWORDS keyword) is the file they write
PATH_FIRST = {"save", "savez", "savez_compressed", "savetxt", "savefig", "imwrite", "imsave", "mimwrite",
              "mimsave", "get_writer", "tofile", "to_csv", "to_json", "to_parquet", "extractall"}
PATH_KEYWORDS = ("file", "fname", "fp", "filename", "uri", "path", "fid", "path_or_buf", "f", "stream", "dst")
SERIALIZERS = {"json", "pickle", "yaml", "marshal"}  # X.dump(obj, file)
SHUTIL_WRITERS = {"copy", "copy2", "copyfile", "copytree", "move"}  # shutil.X(src, dst)


# -- what is a write, and what does it write to -------------------------------------------------

NOT_A_WRITE = object()
UNKNOWN = None  # a write whose target can't be seen (e.g. extractall() into the working folder)


def written_target(call: ast.Call):
    """The expression ``call`` writes a file to, UNKNOWN, or NOT_A_WRITE."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    receiver = ast.unparse(func.value) if isinstance(func, ast.Attribute) else ""
    if receiver == "os" and name == "open":
        return _os_open_target(call)
    if name in OPENERS:
        return _opener_target(call, func)
    if name in ("write_text", "write_bytes", "touch") and isinstance(func, ast.Attribute):
        return func.value
    if receiver == "torch" and name == "save":
        return _argument(call, 1)
    if receiver in SERIALIZERS and name in ("dump", "safe_dump"):
        return _argument(call, 1)
    if receiver == "shutil" and name in SHUTIL_WRITERS:
        return _argument(call, 1)
    if (name in PATH_FIRST and isinstance(func, ast.Attribute)) or name in ("imwrite", "imsave"):
        target = _argument(call, 0)
        if target is NOT_A_WRITE and name == "extractall":
            return UNKNOWN  # extracts into the working folder
        return target
    return NOT_A_WRITE


def _argument(call: ast.Call, index: int):
    """The ``index``-th positional argument or a path-like keyword; NOT_A_WRITE when neither is given
    (``yaml.dump(obj)``, ``df.to_csv()``: they return the text instead of writing it)."""
    if len(call.args) > index:
        return call.args[index]
    for keyword in call.keywords:
        if keyword.arg in PATH_KEYWORDS:
            return keyword.value
    return NOT_A_WRITE


def _opener_target(call: ast.Call, func: ast.expr):
    """``open(path, "w")``, ``Path.open("a")``, ``av.open(path, mode="w")``, ``ZipFile(path, "w")``."""
    mode = next((k.value for k in call.keywords if k.arg == "mode"), None)
    position = next((i for i, a in enumerate(call.args[:2]) if _is_mode(a)), None)
    if mode is None and position is not None:
        mode = call.args[position]
    if mode is None and len(call.args) > 1 and not isinstance(call.args[1], ast.Constant):
        mode = call.args[1]  # open(path, mode): a mode that isn't a literal may write
    if mode is None:
        return NOT_A_WRITE  # opened for reading
    if isinstance(mode, ast.Constant) and not _writes(mode.value):
        return NOT_A_WRITE
    if position == 0 and isinstance(func, ast.Attribute):  # Path(...).open("w"): the path is the receiver
        return func.value
    return call.args[0] if call.args else UNKNOWN  # a mode that isn't a literal counts as a write


def _is_mode(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        re.fullmatch(r"[rwaxbt+]{1,3}(?:[:|]\w*)?", node.value) is not None


def _writes(mode) -> bool:
    return isinstance(mode, str) and bool(set(re.split(r"[:|]", mode)[0]) & set("wax+"))


def _os_open_target(call: ast.Call):
    nodes = list(ast.walk(call.args[1])) if len(call.args) > 1 else []
    flags = {getattr(n, "attr", getattr(n, "id", "")) for n in nodes}
    return call.args[0] if flags & OS_WRITE_FLAGS else NOT_A_WRITE


# -- which names are safe targets, per function ---------------------------------------------------

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def own_nodes(scope: ast.AST):
    """The nodes of ``scope`` outside the functions nested in it."""
    for child in ast.iter_child_nodes(scope):
        yield child
        if not isinstance(child, SCOPES):
            yield from own_nodes(child)


def safely_bound(scope: ast.AST) -> set[str]:
    """Names ``scope`` binds to a helper-made target or an in-memory file."""
    names = set()
    for node in own_nodes(scope):
        if isinstance(node, (ast.With, ast.AsyncWith)):
            names.update(item.optional_vars.id for item in node.items
                         if _called(item.context_expr) in SAFE_MAKERS and isinstance(item.optional_vars, ast.Name))
        elif isinstance(node, ast.Assign) and _called(node.value) in MEMORY:
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _called(node: ast.expr) -> str:
    """The last name of the function ``node`` calls ('' when it is not a call)."""
    if not isinstance(node, ast.Call):
        return ""
    return node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")


def _is_safe(target, safe: set[str]) -> bool:
    if target is UNKNOWN:
        return False
    if _called(target) in ("str", "fspath", "Path") and len(target.args) == 1:  # av.open(str(tmp), "w")
        target = target.args[0]
    return isinstance(target, ast.Name) and target.id in safe or ast.unparse(target) in SAFE_STREAMS


def safe_parameters(tree: ast.Module) -> dict[str, set[str]]:
    """Function name -> its parameters that every call of it in the module fills with a safe name.

    Repeated until nothing changes, so a temp path handed down two helpers stays safe.
    """
    functions = {f.name: f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    safe_params: dict[str, set[str]] = {}
    while True:
        calls = _calls_by_callee(tree, functions, safe_params)
        found = {name: _always_safe(functions[name], uses) for name, uses in calls.items()}
        if found == safe_params:
            return found
        safe_params = found


def calls_with_safe_names(tree: ast.Module, safe_params: dict[str, set[str]]):
    """Every call in ``tree``, with the names that are safe targets where it is made (a nested
    function sees its own, its enclosing functions' and its safe parameters)."""
    def visit(scope, safe):
        for node in own_nodes(scope):
            if isinstance(node, SCOPES):
                yield from visit(node, safe | safely_bound(node) | safe_params.get(getattr(node, "name", ""), set()))
            elif isinstance(node, ast.Call):
                yield node, safe

    yield from visit(tree, safely_bound(tree))


def _calls_by_callee(tree, functions, safe_params) -> dict[str, list[tuple[ast.Call, set[str]]]]:
    """Each call of a module function, with the safe names where the call is made."""
    calls: dict[str, list] = {}
    for call, safe in calls_with_safe_names(tree, safe_params):
        if isinstance(call.func, ast.Name) and call.func.id in functions:
            calls.setdefault(call.func.id, []).append((call, safe))
    return calls


def _always_safe(function, uses) -> set[str]:
    params = [a.arg for a in function.args.posonlyargs + function.args.args]
    safe = set()
    for index, param in enumerate(params):
        passed = [(call.args[index] if index < len(call.args) else
                   next((k.value for k in call.keywords if k.arg == param), UNKNOWN), names) for call, names in uses]
        if all(_is_safe(value, names) for value, names in passed):
            safe.add(param)
    return safe


# -- the scan ---------------------------------------------------------------------------------------

def direct_writes(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, call) of every write in ``source`` that does not go through fsth.io.atomic."""
    tree = ast.parse(source, filename)
    found = []
    for call, safe in calls_with_safe_names(tree, safe_parameters(tree)):
        target = written_target(call)
        if target is not NOT_A_WRITE and not _is_safe(target, safe):
            found.append((call.lineno, ast.unparse(call)))
    return sorted(found)


def scanned_files(root: Path = ROOT) -> list[Path]:
    return sorted(p for package in SCANNED for p in (root / package).rglob("*.py")
                  if p.relative_to(root).as_posix() != HELPER)


def _allowed(relative: str, call: str) -> bool:
    return any(relative == file and call.startswith(callee + "(") for file, callee in ALLOWED)


def write_problems(root: Path = ROOT) -> list[str]:
    """``file:line: call`` of each direct write under ``root``'s fsth/ and detector/, less ALLOWED."""
    problems = []
    for path in scanned_files(root):
        relative = path.relative_to(root).as_posix()
        for line, call in direct_writes(path.read_text(), str(path)):
            if not _allowed(relative, call):
                problems.append(f"{relative}:{line}: {textwrap.shorten(call, 100)}")
    return problems


def test_no_direct_writes_in_fsth_or_detector():
    problems = write_problems()
    assert not problems, ("write these through fsth.io.atomic (atomic_write, atomic_path, atomic_write_text, "
                          "save_figure) or, with a reason, add them to ALLOWED:\n" + "\n".join(problems))


def test_every_allowed_write_still_exists():
    for file, callee in ALLOWED:
        calls = [call for _, call in direct_writes((ROOT / file).read_text())]
        assert any(call.startswith(callee + "(") for call in calls), f"ALLOWED entry {file}: {callee} is stale"


# -- the scanner against planted writes -------------------------------------------------------------

PLANTED = {
    "open for writing": 'open(path, "w").write("x")',
    "open for appending": 'with open(path, "a") as f:\n    f.write("x")',
    "open exclusive, binary": 'open(path, mode="xb")',
    "open read-write": 'open(path, "r+b")',
    "a mode that isn't a literal": "open(path, mode)",
    "Path.open": 'Path(path).open("w")',
    "os.open": "os.open(path, os.O_WRONLY | os.O_CREAT)",
    "write_text": 'Path(path).write_text("x")',
    "write_bytes": '(out / "a.bin").write_bytes(b"x")',
    "touch": "Path(path).touch()",
    "torch.save": "torch.save(state, path)",
    "np.save": "np.save(path, array)",
    "np.savez": "np.savez(path, a=array)",
    "np.savez_compressed": "np.savez_compressed(file=path, a=array)",
    "savefig": 'fig.savefig(out / "plot.png", dpi=90)',
    "plt.savefig": 'plt.savefig("plot.png")',
    "PIL save": "Image.fromarray(array).save(path)",
    "json.dump to an open file": 'with open(path, "w") as f:\n    json.dump(data, f)',
    "json.dump to a file from elsewhere": "json.dump(data, handle)",
    "pickle.dump": "pickle.dump(data, handle)",
    "cv2.imwrite": "cv2.imwrite(path, image)",
    "imageio": "imageio.mimwrite(path, frames)",
    "av for writing": 'with av.open(str(path), mode="w") as container:\n    pass',
    "tarfile for writing": 'tarfile.open(path, "w:gz")',
    "zipfile for writing": 'zipfile.ZipFile(path, "w")',
    "shutil.copyfile": "shutil.copyfile(source, target)",
    "extractall": "tf.extractall()",
    "inside a function": 'def save(path):\n    Path(path).write_text("x")',
    "inside a method": 'class A:\n    def save(self, path):\n        torch.save(self.state, path)',
    "a name bound safely elsewhere": ('def a(p):\n    with atomic_path(p) as tmp:\n        pass\n'
                                      'def b(tmp):\n    Path(tmp).write_text("x")\n    tmp.write_text("x")'),
    "a helper one caller gives a plain path": ('def _write(path):\n    path.write_text("x")\n'
                                                'def a(p):\n    with atomic_path(p) as tmp:\n        _write(tmp)\n'
                                                'def b(p):\n    _write(p)'),
}

FINE = {
    "open for reading": 'open(path).read(); open(path, "rb"); Path(path).open(); Image.open(path); av.open(str(p))',
    "atomic_write": 'with atomic_write(path, "w") as f:\n    json.dump(data, f)\n    f.write("x")',
    "atomic_write, binary": "with atomic_write(path) as f:\n    np.savez(f, a=array)\n    torch.save(state, f)",
    "atomic_path": "with atomic_path(path) as tmp:\n    image.save(tmp)\n    tmp.write_text('x')",
    "savefig into atomic_write": 'with atomic_write(path) as f:\n    fig.savefig(f, format="png")',
    "the helpers": 'atomic_write_text(path, "x"); save_figure(fig, path); save_image(path, image)',
    "a safe path as a string": 'with atomic_path(p) as tmp:\n    av.open(str(tmp), mode="w")',
    "in memory": "buffer = io.BytesIO()\nnp.save(buffer, array)\nav.open(buffer, 'w', format='mp4')",
    "to stdout": "json.dump(data, sys.stdout)",
    "text, not a file": "yaml.dump(data); frame.to_csv(); json.dumps(data)",
    "a temp path handed to a helper": ('def _write(path, frames):\n    Image.new("L", (1, 1)).save(path)\n'
                                        'def write(p):\n    with atomic_path(p) as tmp:\n        _write(tmp, [])'),
    "down two helpers": ('def _inner(path):\n    path.write_text("x")\ndef _outer(path):\n    _inner(path)\n'
                         'def write(p):\n    with atomic_path(p) as tmp:\n        _outer(tmp)'),
    "os.replace and reading flags": "os.replace(a, b); os.open(path, os.O_RDONLY)",
    "dict.copy": "settings.copy(); copy.copy(x)",
}


@pytest.mark.parametrize("kind", PLANTED)
def test_the_scan_catches_a_planted_direct_write(kind, tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(f"import os\n\n{PLANTED[kind]}\n")
    found = direct_writes(planted.read_text(), str(planted))
    assert found, f"{kind}: not caught"
    assert all(line >= 3 for line, _ in found)  # the line of the write, for the report


@pytest.mark.parametrize("kind", FINE)
def test_the_scan_accepts_writes_through_the_helper(kind):
    assert direct_writes(FINE[kind]) == []


def test_the_tree_scan_names_file_and_line_and_skips_only_the_helper(tmp_path):
    for relative in ("fsth/planted.py", "detector/sub/planted.py", HELPER):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text('"""A module."""\n\n\ndef report(out):\n    out.write_text("x")\n')
    assert write_problems(tmp_path) == ["detector/sub/planted.py:5: out.write_text('x')",
                                        "fsth/planted.py:5: out.write_text('x')"]


# -- the helpers the conversions use -------------------------------------------------------------------

def test_atomic_write_text_replaces_a_symlink_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    target = tmp_path / "out" / "table.md"
    target.parent.mkdir()
    target.symlink_to(victim)
    atomic_write_text(target, "| CSIM ↑ |\n")
    assert victim.read_text() == "precious"
    assert not target.is_symlink() and target.read_text(encoding="utf-8") == "| CSIM ↑ |\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.md"]


def test_atomic_write_passes_newline_and_encoding_in_text_mode_only(tmp_path):
    target = tmp_path / "grades.csv"
    with atomic_write(target, "w", newline="", encoding="utf-8") as f:
        f.write("a,✓\r\n")
    assert target.read_bytes() == "a,✓\r\n".encode()
    with pytest.raises(ValueError, match="text mode"):
        with atomic_write(target, "wb", encoding="utf-8"):
            pass
    assert target.read_bytes() == "a,✓\r\n".encode()


@pytest.mark.parametrize("name, magic", [("plot.png", b"\x89PNG"), ("plot.pdf", b"%PDF"), ("plot", b"\x89PNG")])
def test_save_figure_writes_exactly_the_name_given_in_its_format(name, magic, tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1])
    target = save_figure(fig, tmp_path / name, dpi=20)
    assert target == tmp_path / name and target.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no extension added, no temp left


def test_a_failed_figure_leaves_the_old_file(tmp_path):
    class Broken:
        def savefig(self, f, **kwargs):
            f.write(b"half")
            raise RuntimeError("renderer failed")

    target = tmp_path / "plot.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="renderer"):
        save_figure(Broken(), target)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]

