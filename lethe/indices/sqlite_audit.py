"""The audit log in its own SQLite file (``audit.sqlite3``), WAL mode, ``synchronous=NORMAL``.

Audit inserts happen on the request path, so they go to a file of their own (no waiting on the
registry's writer) and commit without an fsync each (a process crash loses nothing; a power loss
may lose the last few events). Bodies are dropped at insert unless ``store_bodies`` is set.

Example:
    >>> log = SqliteAuditLog(":memory:")
    >>> log.record([AuditEvent("r1", "t1", "refusal", "refuse", 3, body="secret")])
    [1]
    >>> log.query(AuditQuery(request_id="r1")).events[0].body is None
    True
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from lethe.indices.audit import MAX_QUERY_LIMIT, AuditEvent, AuditPage, AuditQuery
from lethe.indices.sqlite_support import Database, Synchronous, from_db_time, to_db_time, utc_now

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, request_id TEXT NOT NULL,
    target_id TEXT NOT NULL, technique TEXT NOT NULL, action TEXT NOT NULL,
    registry_version INTEGER NOT NULL, detail TEXT NOT NULL, body TEXT);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit (target_id, id);
CREATE INDEX IF NOT EXISTS audit_by_request ON audit (request_id, id);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at)
"""
_COLUMNS: Final = "id, at, request_id, target_id, technique, action, registry_version, detail, body"


class SqliteAuditLog:
    """:class:`~lethe.indices.audit.AuditLog` on SQLite."""

    def __init__(
        self,
        path: str | Path,
        *,
        store_bodies: bool = False,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        self._db = Database(path, schema=_SCHEMA, synchronous=synchronous)
        self.store_bodies = store_bodies

    @classmethod
    def in_dir(cls, data_dir: str | Path, *, store_bodies: bool = False) -> SqliteAuditLog:
        """The audit file ``audit.sqlite3`` in ``data_dir`` (created if missing)."""
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path / "audit.sqlite3", store_bodies=store_bodies)

    def record(self, events: Sequence[AuditEvent]) -> list[int]:
        """See :meth:`AuditLog.record`."""
        now = utc_now()
        ids = []
        with self._db.write() as conn:
            for e in events:
                cursor = conn.execute(
                    f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (e.id, to_db_time(e.at or now), e.request_id, e.target_id, e.technique,
                     e.action, e.registry_version, json.dumps(dict(e.detail), default=str),
                     e.body if self.store_bodies else None),
                )  # fmt: skip
                ids.append(int(cursor.lastrowid or 0))
        return ids

    def query(self, query: AuditQuery) -> AuditPage:
        """See :meth:`AuditLog.query`."""
        where: list[str] = []
        args: list[Any] = []
        for column, value in (
            ("target_id = ?", query.target_id),
            ("request_id = ?", query.request_id),
            ("technique = ?", query.technique),
            ("at >= ?", query.since and to_db_time(query.since)),
            ("at < ?", query.until and to_db_time(query.until)),
            ("id > ?", query.after),
        ):
            if value is not None:
                where.append(column)
                args.append(value)
        limit = max(1, min(query.limit, MAX_QUERY_LIMIT))
        sql = f"SELECT {_COLUMNS} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._db.read().execute(f"{sql} ORDER BY id LIMIT ?", (*args, limit + 1)).fetchall()
        events = tuple(_event(row) for row in rows[:limit])
        more = len(rows) > limit
        return AuditPage(events, events[-1].id if more and events else None)

    def close(self) -> None:
        """See :meth:`AuditLog.close`."""
        self._db.close()


def _event(row: tuple[Any, ...]) -> AuditEvent:
    id_, at, request_id, target_id, technique, action, version, detail, body = row
    return AuditEvent(
        request_id, target_id, technique, action, version, json.loads(detail), body,
        from_db_time(at), id_,
    )  # fmt: skip
