"""The per-request Lethe data shipped to vLLM's engine core in ``SamplingParams.extra_args``.

The gateway and vLLM's model runner may run in different processes, so a request's bans travel
as plain data, under one key and with a schema version:

    extra_args["lethe"] = {"v": 1, "forbidden": ["Harry Potter", "Hogwarts", ...]}

The logits processor (``processor.py``) parses it with :func:`from_extra_args` when a request
joins the batch and builds its :class:`~lethe.decoders.token_bans.PrefixBans` there; vLLM also
calls the processor's ``validate_params`` with it when the request arrives, so a malformed
entry is refused up front. A request without the key costs the processor nothing.

Example:
    >>> extra = to_extra_args(LetheData(forbidden=("Paris",)))
    >>> extra
    {'lethe': {'v': 1, 'forbidden': ['Paris']}}
    >>> from_extra_args(extra)
    LetheData(forbidden=('Paris',))
    >>> from_extra_args({"other": 1}) is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEY = "lethe"
"""The key of Lethe's entry in ``SamplingParams.extra_args``."""
VERSION = 1
"""The schema version written; a processor refuses a version it does not know."""


@dataclass(frozen=True, slots=True)
class LetheData:
    """What one request asks the logits processor to enforce: strings that must never be
    completed in its output (case-insensitive, on word boundaries; see ``token_bans.py``)."""

    forbidden: tuple[str, ...] = ()


def to_extra_args(data: LetheData) -> dict[str, Any]:
    """The ``extra_args`` entry for ``data`` (merge it into any other extra args)."""
    return {KEY: {"v": VERSION, "forbidden": list(data.forbidden)}}


def from_extra_args(extra_args: Mapping[str, Any] | None) -> LetheData | None:
    """The Lethe data in ``extra_args``, or None when there is none (or it bans nothing).

    Raises :class:`ValueError` for an entry that is not version-1 data: vLLM turns this into a
    refused request, never a silently unguarded one.
    """
    if not extra_args or KEY not in extra_args:
        return None
    entry = extra_args[KEY]
    if not isinstance(entry, Mapping):
        raise ValueError(f"extra_args[{KEY!r}] must be an object")
    if entry.get("v") != VERSION:
        raise ValueError(
            f"extra_args[{KEY!r}] has schema version {entry.get('v')!r}; {VERSION} is known"
        )
    forbidden = entry.get("forbidden", [])
    if not isinstance(forbidden, list | tuple) or not all(isinstance(s, str) for s in forbidden):
        raise ValueError(f"extra_args[{KEY!r}]['forbidden'] must be a list of strings")
    strings = tuple(s for s in forbidden if s.strip())
    return LetheData(forbidden=strings) if strings else None
