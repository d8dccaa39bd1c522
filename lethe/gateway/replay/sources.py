"""Naming a suite on the command line: a file, the built-in suite, or a public benchmark.

:func:`open_suite` understands:

- ``builtin``: the verified built-in suite for the embedded model;
  ``builtin:candidates``: every built-in candidate, unverified;
- ``PATH.json`` / ``PATH.jsonl``: a suite file (see docs/replay.md);
- ``tofu:PATH``, ``muse:PATH``, ``wmdp:PATH``, ``rwku:PATH``: a public benchmark from local
  files, through its loader. ``split`` is the loader's main choice (TOFU: ``forget05``; MUSE:
  ``books``/``news``; WMDP: ``wmdp-bio``...; RWKU: one target's name); ``limit`` caps rows.

Every problem is a :class:`~lethe.gateway.replay.suite.SuiteError` with a one-line message.

Example:
    >>> open_suite("builtin:candidates").name
    'builtin-candidates'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import ValidationError

from lethe.gateway.replay.builtin import candidate_suite, load_builtin
from lethe.gateway.replay.loaders import LOADERS, LoaderError
from lethe.gateway.replay.suite import Suite, SuiteError, load_suite


def open_suite(spec: str, *, split: str | None = None, limit: int | None = None) -> Suite:
    """The suite ``spec`` names (see the module docstring)."""
    if spec == "builtin":
        return load_builtin()
    if spec == "builtin:candidates":
        return candidate_suite()
    prefix, _, rest = spec.partition(":")
    if rest and prefix in LOADERS:
        return _load_benchmark(prefix, Path(rest), split=split, limit=limit)
    path = Path(spec)
    if not path.exists():
        formats = ", ".join(f"{name}:PATH" for name in LOADERS)
        raise SuiteError(f"no suite file {spec!r} (or use builtin, {formats})")
    return load_suite(path)


# What ``--split`` means for each loader: its main choice.
SPLIT_PARAMETER: Final = {"tofu": "split", "muse": "corpus", "wmdp": "subsets", "rwku": "targets"}


def _load_benchmark(name: str, path: Path, *, split: str | None, limit: int | None) -> Suite:
    if not path.exists():
        raise SuiteError(f"{name}: {path} does not exist")
    options: dict[str, Any] = {} if limit is None else {"limit": limit}
    if split is not None:
        parameter = SPLIT_PARAMETER[name]
        options[parameter] = split if parameter in ("split", "corpus") else (split,)
    try:
        return LOADERS[name](path, **options)
    except LoaderError as exc:
        raise SuiteError(f"{name}: {exc}") from None
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise SuiteError(f"{name}: {path} gives an invalid suite: {message}") from None
