"""One command, one vocabulary: every flag of every (sub)command is derived from a dataclass,
explains itself, and means the same wherever it appears; ``fsth --help`` loads no torch."""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from fsth.cli import build_parser, main
from fsth.flags import add_flags, field_comments, from_args, option


def parsers(parser: argparse.ArgumentParser, path=("fsth",)):
    """Every parser below ``parser`` with its command path, nested sub-commands included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from parsers(child, path + (name,))


def flags_of(parser):
    return {opt: a for a in parser._actions for opt in a.option_strings}


ALL = dict(parsers(build_parser("all")))


def test_help_answers_without_importing_torch():
    code = ("import sys, contextlib, io\nfrom fsth.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "assert 'detect' in out.getvalue() and 'course' in out.getvalue(), out.getvalue()\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("argv", [["detect", "--help"], ["detect", "study", "--help"], ["detect", "score", "--help"],
                                  ["course", "--help"], ["course", "grade", "--help"], ["animate", "--help"]])
def test_every_command_answers_help(argv, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 0 and "usage: fsth " + " ".join(a for a in argv if a != "--help") in capsys.readouterr().out


def test_the_detector_and_the_course_are_subcommands_of_fsth():
    assert {("fsth", "detect", "study"), ("fsth", "detect", "score"), ("fsth", "course", "grade")} <= set(ALL)


def test_every_flag_and_argument_has_help():
    """No flag without help, nor with add_flags' placeholder ("TrainConfig.seed")."""
    import re

    missing = [f"{' '.join(path)} {a.option_strings or a.dest}" for path, p in ALL.items() for a in p._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))
               and (not a.help or re.fullmatch(r"[A-Z]\w*\.\w+", a.help))]
    assert not missing, missing


def test_words_mean_the_same_in_every_command():
    ft, steps, k = [], [], []
    for path, parser in ALL.items():
        flags = flags_of(parser)
        if "--ft-steps" in flags:
            ft.append((path[-1], flags["--ft-steps"].type, flags["--ft-steps"].nargs))
        if "--steps" in flags:
            steps.append(path[-1])
        if "--k" in flags:
            k.append((path[-1], flags["--k"].type, flags["--k"].nargs))
    assert steps == ["train"]  # meta-learning steps; fine-tuning steps are --ft-steps everywhere
    assert {name for name, _, _ in ft} >= {"demo", "finetune", "animate", "evaluate", "study"}
    assert all(kind is int and nargs is None for _, kind, nargs in ft + k), ft + k
    assert {name for name, _, _ in k} >= {"train", "finetune", "animate", "study"}


def test_the_options_tables_agree_with_the_code_they_describe():
    from fsth import options
    from fsth.hardware import AMP_CHOICES
    from fsth.io.crop import CROP_MARGIN

    assert options.AMP == AMP_CHOICES and options.CROP_MARGIN == CROP_MARGIN


def test_help_comes_from_the_option_or_the_comment_and_values_come_back_typed():
    @dataclasses.dataclass(frozen=True)
    class Example:
        name: str = option("", "what to greet", positional=True)
        times: int = 2  # how often
        loud: bool = False  # shout it
        sizes: tuple[int, ...] = option((64,), "several sizes")

    assert field_comments(Example) == {"times": "how often", "loud": "shout it"}
    parser = argparse.ArgumentParser()
    add_flags(parser, Example)
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["times"] == "how often (default: 2)" and helps["loud"] == "shout it"
    assert from_args(parser.parse_args(["bob", "--sizes", "32", "128", "--loud"]), Example) == \
        Example("bob", 2, True, (32, 128))
    assert from_args(parser.parse_args(["ann"]), Example) == Example("ann")


def test_old_flag_names_are_refused_with_argparses_usage_error(capsys):
    with pytest.raises(SystemExit) as done:
        main(["finetune", "--steps", "3", "--out", "x.pt"])
    assert done.value.code == 2 and "unrecognized arguments: --steps" in capsys.readouterr().err
