"""Audit events: one record per enforcement (a refusal, a redaction, a rewrite), queryable later.

An event names the request, the target, the technique and the action, and pins the registry
version the request saw. It carries no message text unless the operator turned body logging on
(``store_bodies``); ``detail`` holds small structured facts (scores, spans), never content.

:class:`AuditLog` is the contract; :class:`~lethe.indices.sqlite_audit.SqliteAuditLog` keeps the
events in their own SQLite file, so request-path inserts never wait on the registry's writer.

Example:
    >>> from lethe.indices.sqlite_audit import SqliteAuditLog
    >>> log = SqliteAuditLog(":memory:")
    >>> ids = log.record([AuditEvent("req-1", "t1", "output_filter", "redact", 7, {"spans": 1})])
    >>> [(e.request_id, e.action, e.detail) for e in log.query(AuditQuery(target_id="t1")).events]
    [('req-1', 'redact', {'spans': 1})]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MAX_QUERY_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One enforcement event. ``id`` and ``at`` are set when it is recorded (if not given)."""

    request_id: str
    target_id: str
    technique: str
    action: str
    registry_version: int
    detail: Mapping[str, Any] = field(default_factory=dict)
    body: str | None = None
    at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters for :meth:`AuditLog.query`; all optional. ``since`` inclusive, ``until`` exclusive.

    Results come oldest first; ``after`` is the cursor (the last id of the previous page).
    """

    target_id: str | None = None
    request_id: str | None = None
    technique: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of events; ``next_cursor`` goes into ``AuditQuery.after`` (``None``: last page)."""

    events: tuple[AuditEvent, ...]
    next_cursor: int | None


class AuditLog(Protocol):
    """Where audit events are kept; thread-safe."""

    def record(self, events: Sequence[AuditEvent]) -> list[int]:
        """Store ``events`` in one transaction; their ids, in order."""
        ...

    def query(self, query: AuditQuery) -> AuditPage:
        """Events matching ``query``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
