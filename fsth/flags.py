"""Command-line flags derived from config dataclasses, so a new config field needs no second edit.

    add_flags(parser, TrainConfig, aliases={"max_minutes": ["--minutes"]})
    overrides = collect(args, TrainConfig)     # {"steps": 7, "optim": {"amp": "none"}}: only what was given

Scalar fields become ``--field-name``; fields that are dataclasses themselves (``optim``,
``loss``) become ``--optim-lr-g``, ``--loss-pixel``; booleans get ``--x/--no-x``. Values are
checked by the config itself when it is built (types, ranges), with its own messages.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing

_SKIP = (dict, list, tuple)  # e.g. TrainConfig.model, optim.betas: these belong in the YAML file


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _scalar(kind):
    """(argparse type, is_bool) for a field's type hint; None for what has no flag."""
    args = set(typing.get_args(kind)) - {type(None)} or {kind}
    if args <= {bool}:
        return None, True
    if bool in args:  # e.g. bool | str ("auto"): read as a string, the config interprets it
        return _bool_or_str, False
    for t in (int, float, str):
        if args == {t} or (t is str and args <= {str}):
            return t, False
    return None, False


def _bool_or_str(text: str):
    return {"true": True, "false": False}.get(text.lower(), text)


def add_flags(parser: argparse.ArgumentParser, cls, prefix: str = "", aliases: dict | None = None,
              helps: dict | None = None, choices: dict | None = None) -> None:
    """One flag per field of the dataclass ``cls`` (nested dataclasses flattened with a prefix)."""
    aliases, helps, choices = aliases or {}, helps or {}, choices or {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key, kind = prefix + f.name, hints[f.name]
        if dataclasses.is_dataclass(kind):
            add_flags(parser, kind, key + "_", aliases, helps, choices)
            continue
        if kind in _SKIP or typing.get_origin(kind) in _SKIP:
            continue
        parse, is_bool = _scalar(kind)
        names = [_flag(key), *aliases.get(key, [])]
        text = helps.get(key, f"{cls.__name__}.{f.name}")
        if is_bool:
            parser.add_argument(*names, dest=key, action=argparse.BooleanOptionalAction, default=None, help=text)
        elif parse is not None:
            parser.add_argument(*names, dest=key, type=parse, default=None, choices=choices.get(key), help=text)


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
            out[f.name] = getattr(args, key)
    return out
