"""Command-line flags derived from config dataclasses, so a new config field needs no second edit.

    add_flags(parser, TrainConfig, aliases={"max_minutes": ["--minutes"]})
    overrides = collect(args, TrainConfig)     # {"steps": 7, "optim": {"amp": "none"}}: only what was given
    options = from_args(args, AnimateOptions)  # every field: given, else its default

Scalar fields become ``--field-name``; fields that are dataclasses themselves (``optim``,
``loss``) become ``--optim-lr-g``, ``--loss-pixel``; booleans get ``--x/--no-x``; tuples of
scalars take several values. A field's help is its ``option(help=...)`` or else the comment
after it in the class's source, so every flag explains itself. Values are checked by the
config itself when it is built (types, ranges), with its own messages.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from typing import Callable

from .errors import UsageError

_SKIP = (dict, list)  # e.g. TrainConfig.model: these belong in the YAML file


def option(default=dataclasses.MISSING, help: str = "", *, positional: bool = False, aliases=(), choices=None,
           required: bool = False, check=None):
    """A dataclass field with what its flag needs: help, positional, aliases, choices, and
    ``check``: (predicate, what it must be), tested by :func:`from_args` before any work."""
    meta = {"help": help, "positional": positional, "aliases": tuple(aliases), "choices": choices,
            "required": required, "check": check}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for a default of several values")
    return dataclasses.field(default=default, metadata=meta)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar(kind):
    """(argparse type, is_bool, several) for a field's type hint; None for what has no flag."""
    several = typing.get_origin(kind) is tuple
    if several:
        args = set(typing.get_args(kind)) - {Ellipsis}
        kind = args.pop() if len(args) == 1 else None
    args = set(typing.get_args(kind)) - {type(None)} or {kind}
    if args <= {bool}:
        return None, not several, several
    if bool in args:  # e.g. bool | str ("auto"): read as a string, the config interprets it
        return _bool_or_str, False, several
    for t in (int, float, str):
        if args == {t} or (t is str and args <= {str}):
            return t, False, several
    return None, False, several


def _bool_or_str(text: str):
    return {"true": True, "false": False}.get(text.lower(), text)


def field_comments(cls) -> dict[str, str]:
    """The comment after each field in the class's source (``steps: int = 5  # what it is``)."""
    found = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        name, line = None, -1
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME and tok.start[1] == 4 and tok.start[0] != line:
                name, line = tok.string, tok.start[0]
            elif tok.type == tokenize.COMMENT and tok.start[0] == line and name:
                found[name] = tok.string.lstrip("#").strip()
    return found


def add_flags(parser: argparse.ArgumentParser, cls, prefix: str = "", aliases: dict | None = None,
              helps: dict | None = None, choices: dict | None = None, skip=()) -> None:
    """One flag per field of the dataclass ``cls`` (nested dataclasses flattened with a prefix)."""
    aliases, helps, choices = aliases or {}, helps or {}, choices or {}
    hints, comments = typing.get_type_hints(cls), field_comments(cls)
    for f in dataclasses.fields(cls):
        key, kind, meta = prefix + f.name, hints[f.name], f.metadata
        if key in skip:
            continue
        if dataclasses.is_dataclass(kind):
            add_flags(parser, kind, key + "_", aliases, helps, choices, skip)
            continue
        if kind in _SKIP or typing.get_origin(kind) in _SKIP:
            continue
        parse, is_bool, several = _scalar(kind)
        if parse is None and not is_bool:
            continue
        text = helps.get(key) or meta.get("help") or comments.get(f.name) or f"{cls.__name__}.{f.name}"
        default = None if f.default is dataclasses.MISSING else f.default
        if default not in (None, "", (), False, 0) and "default" not in text:
            text += f" (default: {' '.join(map(str, default)) if several else default})"
        pick = choices.get(key) or meta.get("choices")
        if meta.get("positional"):
            nargs = ("+" if meta.get("required") or default != () else "*") if several else None
            parser.add_argument(key, type=parse, nargs=nargs, choices=pick, help=text)
            continue
        names = [_flag(key), *aliases.get(key, []), *meta.get("aliases", ())]
        if is_bool:
            parser.add_argument(*names, dest=key, action=argparse.BooleanOptionalAction, default=None, help=text)
        else:
            parser.add_argument(*names, dest=key, type=parse, default=None, choices=pick, help=text,
                                nargs="+" if several else None, required=meta.get("required", False))


def collect(args: argparse.Namespace, cls, prefix: str = "") -> dict:
    """The fields given on the command line, nested like the config (``optim``: {...})."""
    out = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, kind = prefix + f.name, hints[f.name]
        if dataclasses.is_dataclass(kind):
            nested = collect(args, kind, key + "_")
            if nested:
                out[f.name] = nested
        elif getattr(args, key, None) is not None:
            value = getattr(args, key)
            out[f.name] = tuple(value) if isinstance(value, list) else value
    return out


def from_args(args: argparse.Namespace, cls):
    """``cls`` built from the flags that were given (the rest keep their defaults), every
    field's ``check`` passed — else a UsageError naming the flag (exit 2, before any work)."""
    options = cls(**collect(args, cls))
    for f in dataclasses.fields(cls):
        check, value = f.metadata.get("check"), getattr(options, f.name)
        values = value if isinstance(value, tuple) else (value,)
        if check and not all(check[0](v) for v in values):
            name = f.name if f.metadata.get("positional") else _flag(f.name)
            raise UsageError(f"{name} {' '.join(map(str, values)) or '(none)'}: must be {check[1]}")
    return options


def at_least(low):
    return (lambda v: v >= low, f"at least {low}")


def between(low, high):
    return (lambda v: low <= v <= high, f"from {low} to {high}")


def suffix(*endings):
    """A file name's ending; an existing folder passes, so the command says "is a folder" instead."""
    import os

    return (lambda v: not v or str(v).lower().endswith(endings) or os.path.isdir(v),
            "a file name ending in " + " or ".join(endings))


@dataclasses.dataclass(frozen=True)
class Command:
    """One subcommand: its one-line help, how its flags are added, what runs it."""
    help: str
    add_flags: Callable[[argparse.ArgumentParser], None]
    run: Callable
    options: type | None = None  # the options dataclass the runner gets (None: the parsed namespace)
    torch: bool = True  # loads torch (its threads are configured before it runs)


def add_subcommands(parser: argparse.ArgumentParser, table: dict[str, Command], chosen, dest: str) -> None:
    """One sub-parser per command of ``table``; only ``chosen`` ones (a name, a set, or "all") get
    their flags, so building the parser for one command loads only what that command needs."""
    sub = parser.add_subparsers(dest=dest, required=True, metavar=dest.upper())
    for name, command in table.items():
        p = sub.add_parser(name, help=command.help, description=command.help)
        if chosen == "all" or name == chosen:
            command.add_flags(p)
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="more output, and tracebacks of errors")
        p.set_defaults(command_spec=command)


def command_group(help: str, table, dest: str, torch: bool = False) -> Command:
    """A command made of sub-commands (``fsth detect study|score``): argparse always picks one of
    ``table`` (a dict of Commands, or a function returning it, called only when the group's flags
    are built), whose own Command (options, runner) then replaces the group's."""

    def unreachable(args):
        raise AssertionError(f"{dest}: argparse requires a sub-command")

    def add(parser):
        add_subcommands(parser, table() if callable(table) else table, "all", dest)

    return Command(help, add, unreachable, torch=torch)
