"""``lethe`` subcommands, one module each; see :mod:`lethe.gateway.cli` for how they register.

A command module has ``register(subparsers)``, which adds its parser and sets
``handler=<function(args) -> int>``; the handler raises :class:`CommandError` for problems the
user can fix.
"""


class CommandError(Exception):
    """A problem the user can fix; printed as ``lethe: error: <message>``, exit status 2."""
