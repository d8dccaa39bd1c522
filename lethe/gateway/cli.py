"""The ``lethe`` command line: ``lethe --version``, ``lethe serve``, and later subcommands.

Each subcommand lives in its own module under :mod:`lethe.gateway.commands` with a
``register(subparsers)`` function that adds its parser and sets ``handler`` (a function of the
parsed arguments returning the exit code). A new subcommand is one module plus one line in
:data:`COMMAND_MODULES`. Command modules import their heavy dependencies (torch, the app) inside
the handler, so that ``lethe --version`` and ``lethe --help`` stay instant.

Errors the user can fix (a busy port, a missing model file, a bad config) print one line and
exit with status 2, without a traceback.

Example:
    $ lethe serve --port 8080 --api-key secret
    $ python -m lethe.gateway.cli --version
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import lethe
from lethe.errors import ConfigurationError
from lethe.gateway.commands import CommandError

COMMAND_MODULES: tuple[str, ...] = (
    "lethe.gateway.commands.serve",
    "lethe.gateway.commands.replay",
    "lethe.gateway.commands.calibrate",
    "lethe.gateway.commands.forget",
    "lethe.gateway.commands.assistants",
)
USAGE_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """The ``lethe`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="lethe",
        description="Lethe: inference-time unlearning behind an OpenAI-compatible API.",
    )
    parser.add_argument("--version", action="version", version=f"lethe {lethe.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``lethe`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE_ERROR
    try:
        return int(args.handler(args))
    except (CommandError, ConfigurationError) as exc:
        print(f"lethe: error: {exc}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
