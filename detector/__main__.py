"""``python -m detector study|score``: the same as ``fsth detect study|score`` (detector/command.py)."""
from __future__ import annotations

import argparse
import logging
import sys

from fsth.errors import run_command
from fsth.flags import from_args

from .command import add_commands


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector", description="the same as fsth detect")
    add_commands(parser)
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = args.command_spec
    # options are checked inside run_command: a bad value is one line and exit 2, before any work
    return run_command(f"fsth detect {args.detect_command}", lambda a: command.run(from_args(a, command.options)),
                       args, verbose)


if __name__ == "__main__":
    sys.exit(main())
