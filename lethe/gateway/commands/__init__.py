"""``lethe`` subcommands, one module each; see :mod:`lethe.gateway.cli` for how they register.

A command module has ``register(subparsers)``, which adds its parser and sets
``handler=<function(args) -> int>``; the handler raises :class:`CommandError` for problems the
user can fix.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class CommandError(Exception):
    """A problem the user can fix; printed as ``lethe: error: <message>``, exit status 2."""


def usage_handler(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """The handler of a command with actions run without one: print its help, exit status 2."""

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return usage
