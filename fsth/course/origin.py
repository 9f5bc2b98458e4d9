"""Where a learner's answer comes from: the code it needs, fsth's code pasted into it, fsth's
internals it runs.

* :func:`closure` walks an answer (a function, a class, an instance) and everything it calls from
  the learner's namespace — helper functions and classes, recursively — and says how each global
  name can be defined again: a learner's source text, an import, a literal value. ``keep`` stores
  it, so ``mine()`` runs the learner's whole solution; grading and the checks read the code objects.
* :func:`copied_from_fsth` compares every learner function in that closure with every function of
  the ``fsth`` and ``detector`` packages, by bytecode with the names normalised (local names are
  positions; global names are numbered in order of first use; docstrings, comments, blank lines
  and the function's own name don't count). Functions shorter than :data:`MIN_INSTRUCTIONS` are
  left out: a one-line loss written from the paper may well be fsth's line.
* :class:`Fence` watches the learner's code run (``sys.setprofile``) and records every fsth
  function it enters from outside fsth: the checks refuse fsth's own implementation of the
  exercise, and for some exercises anything but what the lesson allows (the networks, earlier
  lessons' losses).

The ``detector`` package's files are read and compiled here, never imported (fsth never imports
detector).
"""
from __future__ import annotations

import ast
import builtins
import dis
import fnmatch
import inspect
import linecache
import os
import sys
import sysconfig
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # fsth/
REPOSITORY = os.path.dirname(PACKAGE)
DETECTOR = os.path.join(REPOSITORY, "detector")
HARNESS = (os.path.join(PACKAGE, "course") + os.sep, os.path.join(PACKAGE, "exercises.py"))
MIN_INSTRUCTIONS = 35  # shorter functions are not compared: a short formula has few ways to be written


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")} | {sys.prefix, sys.base_prefix,
                                                                                     sys.exec_prefix}
    return tuple(os.path.abspath(d) + os.sep for d in dirs if d)


LIBRARY = _library_dirs()


def is_fsth_file(filename: str) -> bool:
    """A file of the fsth or detector packages (the course's own harness included)."""
    path = os.path.abspath(filename)
    return path.startswith((PACKAGE + os.sep, DETECTOR + os.sep))


def is_learner_code(code: types.CodeType) -> bool:
    """Code the learner (or a teacher, or a test) wrote: not fsth's, not a library's."""
    name = code.co_filename
    if name.startswith("<"):
        return not name.startswith("<frozen")
    path = os.path.abspath(name)
    return not (is_fsth_file(path) or path.startswith(LIBRARY))


# ----------------------------------------------------------------------------------------
# The closure of an answer
# ----------------------------------------------------------------------------------------

@dataclass
class Needed:
    """How the global ``name`` is defined again: ``kind`` is "source" (``text`` is the learner's
    code, which defines ``defines``), "module" (``text`` is the module's name), "object"
    (``module:qualname``), "value" (a literal's repr) or "missing" (why it can't be)."""
    name: str
    kind: str
    text: str
    defines: str = ""

    def as_dict(self) -> dict:
        out = {"name": self.name, self.kind: self.text}
        if self.defines and self.defines != self.name:
            out["defines"] = self.defines
        return out


@dataclass
class Closure:
    root: str  # the answer's own name
    source: str | None  # its source text (None: can't be found, e.g. exec'd from a string)
    needs: list[Needed] = field(default_factory=list)  # dependencies first
    codes: list[tuple[str, types.CodeType]] = field(default_factory=list)  # (qualname, code) of learner functions

    @property
    def missing(self) -> list[Needed]:
        return [n for n in self.needs if n.kind == "missing"]


def _functions_of(obj) -> list[types.FunctionType]:
    """The Python functions behind a function, a class (its methods and properties) or a wrapper."""
    out = []
    for value in (vars(obj).values() if inspect.isclass(obj) else [obj]):
        for item in (value.fget, value.fset, value.fdel) if isinstance(value, property) else (value,):
            item = getattr(item, "__func__", item)  # staticmethod, classmethod, bound method
            item = inspect.unwrap(item) if callable(item) else item
            if isinstance(item, types.FunctionType):
                out.append(item)
    return out


def _codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _global_names(code: types.CodeType) -> list[str]:
    names = []
    for c in _codes(code):
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL") and ins.argval not in names:
                names.append(ins.argval)
    return names


def _definition(obj) -> tuple[str | None, ast.AST | None]:
    """The source text of a function or class the learner defined (a notebook cell: IPython keeps
    its text in linecache; a file: read from it) and its ast node."""
    for f in _functions_of(obj):
        filename = f.__code__.co_filename
        text = "".join(linecache.getlines(filename))
        if not text:
            continue
        first = min(g.__code__.co_firstlineno for g in _functions_of(obj) if g.__code__.co_filename == filename)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return None, None
        kind = ast.ClassDef if inspect.isclass(obj) else (ast.FunctionDef, ast.AsyncFunctionDef)
        for node in ast.walk(tree):
            if isinstance(node, kind) and node.name == obj.__name__ and \
                    min([node.lineno] + [d.lineno for d in node.decorator_list]) <= first <= node.end_lineno:
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                lines = text.splitlines(keepends=True)[start - 1:node.end_lineno]
                return textwrap.dedent("".join(lines)), node
        return None, None
    return None, None


def _statement_names(node: ast.AST | None) -> list[str]:
    """Names a def or class statement evaluates where it stands (decorators, defaults, annotations,
    base classes, class-level statements) — what its functions' bytecode doesn't show."""
    if node is None:
        return []
    parts: list[ast.AST] = list(node.decorator_list)
    if isinstance(node, ast.ClassDef):
        parts += node.bases + [k.value for k in node.keywords]
        for statement in node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                parts += _statement_parts(statement)
            elif not isinstance(statement, ast.ClassDef):
                parts.append(statement)
    else:
        parts += _statement_parts(node)[len(node.decorator_list):]
    names = []
    for part in parts:
        for sub in ast.walk(part):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in names:
                names.append(sub.id)
    return names


def _statement_parts(node) -> list[ast.AST]:
    a = node.args
    every = a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]
    return list(node.decorator_list) + a.defaults + [d for d in a.kw_defaults if d] + \
        [x.annotation for x in every if x.annotation] + ([node.returns] if node.returns else [])


def _importable(obj) -> str | None:
    """``module:qualname`` when importing it gives this very object back."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module is None and type(obj).__name__ == "ufunc":  # numpy's ufuncs don't say where they live
        module, qualname = "numpy", obj.__name__
    if not isinstance(module, str) or not isinstance(qualname, str) or module == "__main__" or "<locals>" in qualname:
        return None
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    return f"{module}:{qualname}" if found is obj and found is not None else None


def _literal(value) -> str | None:
    if isinstance(value, (bool, int, float, complex, str, bytes, type(None), tuple, list, dict, set, frozenset)):
        text = repr(value)
        try:
            if ast.literal_eval(text) == value and len(text) < 10_000:
                return text
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
    return None


def _is_learners(obj) -> bool:
    """A function or class the learner defined (in the notebook, with exec, or in a file of their
    own) — judged by where its code was compiled, whatever module name its globals claim."""
    if isinstance(obj, types.FunctionType):
        return is_learner_code(obj.__code__)
    if not inspect.isclass(obj):
        return False
    # dataclasses write their __init__, __repr__, ... with exec: those say nothing about the author
    compiled = [f.__code__ for f in _functions_of(obj)
                if not getattr(f.__code__, "co_qualname", "").startswith("__create_fn__")]
    if compiled:
        return all(is_learner_code(c) for c in compiled)
    module = getattr(obj, "__module__", None)
    path = getattr(sys.modules.get(module), "__file__", None) if isinstance(module, str) else None
    if path and module != "__main__":
        path = os.path.abspath(path)
        return not (is_fsth_file(path) or path.startswith(LIBRARY))
    return module == "__main__"


def closure(answer) -> Closure:
    """The learner's answer and everything it calls from their namespace (see the module's doc)."""
    root = answer if (inspect.isclass(answer) or isinstance(answer, types.FunctionType)) else \
        getattr(answer, "__func__", None) or type(answer)
    result = Closure(getattr(root, "__name__", "answer"), None)
    done: dict[int, str] = {}  # learner objects visited: id -> the name they define
    bound: dict[str, Needed] = {}

    def bind(needed: Needed) -> None:
        if needed.name not in bound:
            bound[needed.name] = needed
            result.needs.append(needed)

    def visit(obj) -> tuple[str | None, str]:
        """Visit a learner function or class (dependencies bound first): (source, name it defines)."""
        if id(obj) in done:
            return None, done[id(obj)]
        done[id(obj)] = obj.__name__
        functions = _functions_of(obj)
        for f in functions:
            result.codes += [(f"{f.__qualname__}" if c is f.__code__ else f"{f.__qualname__}.{c.co_name}", c)
                             for c in _codes(f.__code__)]
        source, node = _definition(obj)
        names: list[str] = []
        for f in functions:
            names += [(n, f.__globals__) for n in _global_names(f.__code__)]
        scope = functions[0].__globals__ if functions else {}
        names += [(n, scope) for n in _statement_names(node)]
        if inspect.isclass(obj):
            for base in obj.__bases__:
                if _is_learners(base):
                    resolve(base.__name__, base)
        for f in functions:
            for name, cell in zip(f.__code__.co_freevars, f.__closure__ or ()):
                if name != "__class__":
                    try:
                        resolve(name, cell.cell_contents)
                    except ValueError:
                        bind(Needed(name, "missing", "an empty closure cell"))
        for name, scope in names:
            if name in bound or name == obj.__name__:
                continue
            if name in scope:
                resolve(name, scope[name])
            elif not hasattr(builtins, name):
                bind(Needed(name, "missing", "not defined"))
        return source, obj.__name__

    def resolve(name: str, value) -> None:
        if name in bound:
            return
        if isinstance(value, types.ModuleType):
            bind(Needed(name, "module", value.__name__))
            return
        target = getattr(value, "__func__", value)
        if _is_learners(target):
            if id(target) in done:  # visited already (or being visited: it is bound when its visit ends)
                if done[id(target)] != name:
                    bind(Needed(name, "source", "", done[id(target)]))  # another name for it
                return
            source, defines = visit(target)
            bind(Needed(name, "source" if source is not None else "missing",
                        source if source is not None else "its source can't be found (defined with exec?)", defines))
            return
        where = _importable(value)
        if where is not None:
            bind(Needed(name, "object", where))
            return
        text = _literal(value)
        if text is not None:
            bind(Needed(name, "value", text))
            return
        bind(Needed(name, "missing", f"a {type(value).__name__}, which can't be written down as code"))

    if _is_learners(root):
        result.source, _ = visit(root)
    return result


def define(namespace: dict, needs: list[dict]) -> None:
    """Define stored needs (``Needed.as_dict``) in ``namespace``, dependencies first."""
    import importlib

    for need in needs:
        name = need["name"]
        if "module" in need:
            namespace[name] = importlib.import_module(need["module"])
        elif "object" in need:
            module, qualname = need["object"].split(":")
            obj = importlib.import_module(module)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            namespace[name] = obj
        elif "value" in need:
            namespace[name] = ast.literal_eval(need["value"])
        elif "source" in need:
            if need["source"]:
                filename = f"<your {need.get('defines', name)}>"
                linecache.cache[filename] = (len(need["source"]), None, need["source"].splitlines(keepends=True),
                                             filename)  # for tracebacks, and to be kept again
                exec(compile(need["source"], filename, "exec"), namespace)
            if need.get("defines", name) != name:
                namespace[name] = namespace[need["defines"]]


# ----------------------------------------------------------------------------------------
# fsth's code pasted under a new name
# ----------------------------------------------------------------------------------------

_SKIP = {"RESUME", "NOP", "CACHE", "PRECALL", "EXTENDED_ARG", "PUSH_NULL", "KW_NAMES", "COPY_FREE_VARS", "MAKE_CELL"}
_GLOBAL_OPS = {"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "STORE_NAME", "DELETE_GLOBAL", "DELETE_NAME"}


def fingerprint(code: types.CodeType) -> tuple:
    """The bytecode of a function with its names normalised: locals by position, globals numbered
    in order of first use, constants by value (nested functions by their own fingerprint), jumps by
    instruction. A method call and an attribute call count the same (the compiler picks one or the
    other depending on whether the module imports the name, so a copy in a notebook cell differs)."""
    instructions = [ins for ins in dis.get_instructions(code) if ins.opname not in _SKIP]
    position = {ins.offset: i for i, ins in enumerate(instructions)}
    globals_seen: dict[str, int] = {}
    tokens = []
    for ins in instructions:
        op = ins.opname
        if op in ("LOAD_CONST", "RETURN_CONST"):
            value = ins.argval
            arg = fingerprint(value) if isinstance(value, types.CodeType) else repr(value)
        elif op in _GLOBAL_OPS:
            arg = globals_seen.setdefault(ins.argval, len(globals_seen))
        elif op in ("LOAD_ATTR", "STORE_ATTR", "DELETE_ATTR", "LOAD_METHOD", "LOAD_SUPER_ATTR", "IMPORT_NAME",
                    "IMPORT_FROM"):
            op, arg = ("LOAD_ATTR" if op == "LOAD_METHOD" else op), ins.argval
        elif ins.opcode in _JUMPS:
            arg = position.get(ins.argval, ins.argval)
        else:
            arg = ins.arg
        tokens.append((op, arg))
    return _shape(code), tuple(tokens)


def _shape(code: types.CodeType) -> tuple:
    """What renaming can't change: argument counts, number of locals and of names used."""
    return (code.co_argcount, code.co_kwonlyargcount, code.co_nlocals, len(code.co_names),
            code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS))


_JUMPS = set(dis.hasjrel) | set(dis.hasjabs)


def size(code: types.CodeType) -> int:
    """Instructions that do something (not bookkeeping)."""
    return sum(1 for ins in dis.get_instructions(code) if ins.opname not in _SKIP and ins.opname != "RETURN_VALUE")


_INDEX: dict | None = None
_FINGERPRINTS: dict[types.CodeType, tuple] = {}


def _index() -> dict[int, list[tuple[types.CodeType, str]]]:
    """Every function of fsth and detector (compiled from their files, not imported), by what
    renaming doesn't change (:func:`_shape`), as (code, ``module.qualname``)."""
    global _INDEX
    if _INDEX is not None:
        return _INDEX
    index: dict[int, list] = {}
    files = sorted(Path(PACKAGE).rglob("*.py")) + sorted(Path(DETECTOR).rglob("*.py"))
    for path in files:
        try:
            module_code = compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
        except (OSError, SyntaxError, ValueError):
            continue
        module = ".".join(path.relative_to(REPOSITORY).with_suffix("").parts).removesuffix(".__init__")
        for code in _codes(module_code):
            if code is not module_code and not code.co_name.startswith("<"):
                index.setdefault(_shape(code), []).append(
                    (code, f"{module}.{getattr(code, 'co_qualname', code.co_name)}"))
    _INDEX = index
    return index


def copied_from_fsth(answer) -> tuple[str, str] | None:
    """(the learner's function, the fsth function it is a copy of), or None. Only functions of at
    least :data:`MIN_INSTRUCTIONS` instructions count."""
    for qualname, code in closure(answer).codes:
        candidates = _index().get(_shape(code))
        if not candidates or code.co_name.startswith("<") or size(code) < MIN_INSTRUCTIONS:
            continue
        mine = fingerprint(code)
        for theirs, name in candidates:
            if theirs not in _FINGERPRINTS:
                _FINGERPRINTS[theirs] = fingerprint(theirs)
            if _FINGERPRINTS[theirs] == mine:
                return qualname, name
    return None


# ----------------------------------------------------------------------------------------
# fsth's internals run by the answer
# ----------------------------------------------------------------------------------------

_OTHER, _HARNESS, _FSTH = 0, 1, 2
_KINDS: dict[types.CodeType, int] = {}


def _kind(code: types.CodeType) -> int:
    kind = _KINDS.get(code)
    if kind is None:
        path = os.path.abspath(code.co_filename) if not code.co_filename.startswith("<") else ""
        kind = _HARNESS if path.startswith(HARNESS) else _FSTH if path and is_fsth_file(path) else _OTHER
        _KINDS[code] = kind
    return kind


def label(code: types.CodeType) -> str:
    """``module:qualname`` of an fsth function."""
    module = ".".join(Path(os.path.abspath(code.co_filename)).relative_to(REPOSITORY).with_suffix("").parts)
    return f"{module.removesuffix('.__init__')}:{getattr(code, 'co_qualname', code.co_name)}"


def own_codes(*references) -> set[types.CodeType]:
    """The code objects of fsth functions, methods or classes (their forward and __init__)."""
    codes = set()
    for ref in references:
        candidates = [getattr(ref, "forward", None), getattr(ref, "__init__", None), getattr(ref, "__call__", None)] \
            if inspect.isclass(ref) else [getattr(ref, "__func__", ref)]
        for fn in candidates:
            fn = inspect.unwrap(fn) if callable(fn) else fn
            code = getattr(fn, "__code__", None)
            if code is not None and is_fsth_file(code.co_filename) and _kind(code) == _FSTH:
                codes.add(code)
    return codes


class Fence:
    """While the learner's code runs, the fsth functions it enters (called from code outside fsth).

    ``own``: fsth's implementation of the exercise, refused wherever it runs. ``allow``: None —
    nothing else is refused; a tuple of ``module:qualname`` patterns (fnmatch) — every other fsth
    function entered from outside fsth is refused. ``refuse``: patterns refused even when allowed.
    After the block, ``offences`` lists the refused labels (the first few), ``offence`` is the first
    (None: clean) and ``own_seen`` says whether ``own`` ran."""

    def __init__(self, *own, allow: tuple[str, ...] | None = None, refuse: tuple[str, ...] = ()):
        self.codes = own_codes(*own)
        self.allow, self.refuse = allow, refuse
        self.offences: list[str] = []
        self.own_seen = False
        self._verdicts: dict[types.CodeType, bool] = {}

    def _refused(self, code: types.CodeType) -> bool:
        verdict = self._verdicts.get(code)
        if verdict is None:
            name = label(code)
            verdict = any(fnmatch.fnmatchcase(name, p) for p in self.refuse) or \
                (self.allow is not None and not any(fnmatch.fnmatchcase(name, p) for p in self.allow))
            self._verdicts[code] = verdict
        return verdict

    def _hook(self, frame, event, arg):
        if event != "call" or len(self.offences) >= 3:
            return
        code = frame.f_code
        if code in self.codes:
            self.own_seen = True
            self._offend(code)
            return
        if _kind(code) != _FSTH:
            return
        back = frame.f_back
        if back is not None and _kind(back.f_code) == _FSTH:
            return  # fsth calling itself
        if self._refused(code):
            self._offend(code)

    def _offend(self, code: types.CodeType) -> None:
        name = label(code)
        if name not in self.offences:
            self.offences.append(name)

    @property
    def offence(self) -> str | None:
        return self.offences[0] if self.offences else None

    def __enter__(self):
        self._previous = sys.getprofile()
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc):
        sys.setprofile(self._previous)
        return False

    @property
    def seen(self) -> bool:
        return self.offence is not None
