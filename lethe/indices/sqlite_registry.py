"""The embedded registry backend: one SQLite file in WAL mode (see :mod:`lethe.indices.registry`).

Tables: ``meta`` (schema, current ``version``, which embedder and chunker made the vectors),
``targets`` (one JSON body per target, the columns listings filter on, and name, aliases and
forbidden strings as a small JSON ``patterns`` column, so start-up never parses bodies),
``embeddings`` (one float32 matrix BLOB per target, 1.5 KB a chunk at 384-d) and ``changes``
(the change log: one row per target per transaction, keyed ``(version, seq)``).

A transaction from :meth:`SqliteRegistry.apply` writes all four or nothing, so a process killed in
the middle of a bulk import leaves the registry at the last committed version, with every target's
embeddings present.

Example:
    >>> reg = SqliteRegistry(":memory:")
    >>> reg.version()
    0
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np

from lethe.errors import ConfigurationError, NotFound
from lethe.indices.lexical import Pattern, target_patterns
from lethe.indices.normalize import NORMALIZER_ID
from lethe.indices.registry import (
    Applied,
    Change,
    ChangeSet,
    Delete,
    Op,
    Put,
    StoredTarget,
    TargetPage,
    TargetRecord,
    TargetVectors,
    admit_put,
    applied,
    check_version,
    stage,
)
from lethe.indices.sqlite_support import Database, Synchronous, from_db_time, to_db_time, utc_now
from lethe.indices.targets import ForgetTarget

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = "1"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('schema', '1'), ('version', '0');
CREATE TABLE IF NOT EXISTS targets (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, scope TEXT NOT NULL, version INTEGER NOT NULL,
    created_at TEXT NOT NULL, expires_at TEXT, patterns TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS targets_by_kind ON targets (kind, id);
CREATE INDEX IF NOT EXISTS targets_by_scope ON targets (scope, id);
CREATE TABLE IF NOT EXISTS embeddings (
    target_id TEXT PRIMARY KEY, sources TEXT NOT NULL, dim INTEGER NOT NULL, matrix BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    version INTEGER NOT NULL, seq INTEGER NOT NULL, op TEXT NOT NULL, target_id TEXT NOT NULL,
    at TEXT NOT NULL, PRIMARY KEY (version, seq)) WITHOUT ROWID
"""
_SELECT_TARGET: Final = "SELECT t.version, t.body{} FROM targets t{} WHERE t.id = ?"
_VECTORS_COLUMNS: Final = ", e.sources, e.dim, e.matrix"
_VECTORS_JOIN: Final = " LEFT JOIN embeddings e ON e.target_id = t.id"


def _stored(
    version: int,
    body: str,
    sources: str | None = None,
    dim: int | None = None,
    blob: bytes | None = None,
) -> StoredTarget:
    vectors = None
    if sources is not None and dim is not None and blob is not None:
        matrix = np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)
        vectors = TargetVectors(sources, matrix)
    return StoredTarget(ForgetTarget.model_validate_json(body), version, vectors)


class SqliteRegistry:
    """:class:`~lethe.indices.registry.Registry` on SQLite; ``path=":memory:"`` for tests."""

    def __init__(self, path: str | Path, *, synchronous: Synchronous = "FULL") -> None:
        self._db = Database(path, schema=_SCHEMA, synchronous=synchronous)
        row = self._db.read().execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row[0] != SCHEMA_VERSION:
            raise ConfigurationError(f"registry schema {row[0]} is not {SCHEMA_VERSION}: {path}")
        self._recompile_patterns()

    def _recompile_patterns(self) -> None:
        """Recompile every stored pattern when the folding rules changed (no version bump)."""
        with self._db.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'normalizer'").fetchone()
            if row is not None and row[0] == NORMALIZER_ID:
                return
            rows = conn.execute("SELECT body FROM targets").fetchall()
            for (body,) in rows:
                target = ForgetTarget.model_validate_json(body)
                conn.execute(
                    "UPDATE targets SET patterns = ? WHERE id = ?",
                    (_dump_patterns(target), target.id),
                )
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('normalizer', ?)", (NORMALIZER_ID,))
        if rows:
            logger.info(
                "event=patterns_recompiled targets=%d normalizer=%s", len(rows), NORMALIZER_ID
            )

    @classmethod
    def in_dir(cls, data_dir: str | Path, *, synchronous: Synchronous = "FULL") -> SqliteRegistry:
        """The registry file ``registry.sqlite3`` in ``data_dir`` (created if missing)."""
        path = Path(data_dir)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path / "registry.sqlite3", synchronous=synchronous)

    def bind(self, embedder: str, dim: int, chunker: str) -> None:
        """See :meth:`Registry.bind`."""
        wanted = {"embedder": embedder, "dim": str(dim), "chunker": chunker}
        with self._db.write() as conn:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            has_targets = conn.execute("SELECT 1 FROM targets LIMIT 1").fetchone() is not None
            clash = {k: meta[k] for k in wanted if k in meta and meta[k] != wanted[k]}
            if clash and has_targets:
                raise ConfigurationError(
                    f"the registry holds embeddings made with {clash}, not {wanted}: "
                    "use the same embedder, or a new data directory",
                    param="embedder",
                )
            conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", wanted.items())

    def version(self) -> int:
        """See :meth:`Registry.version`."""
        row = self._db.read().execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0])

    def apply(self, ops: Sequence[Op]) -> Applied:
        """See :meth:`Registry.apply`."""
        with self._db.write() as conn:
            previous = int(conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0])
            tx = _Transaction(conn, previous + 1)
            if not stage(tx, ops):
                return Applied(previous, previous, (), (), tuple(tx.skipped))
            tx.commit_log()
        return applied(tx, previous)

    def get(self, target_id: str, *, vectors: bool = False) -> StoredTarget | None:
        """See :meth:`Registry.get`."""
        sql = _SELECT_TARGET.format(*((_VECTORS_COLUMNS, _VECTORS_JOIN) if vectors else ("", "")))
        row = self._db.read().execute(sql, (target_id,)).fetchone()
        return _stored(*row) if row else None

    def list(
        self,
        *,
        kind: str | None = None,
        scope: str | None = None,
        cursor: str | None = None,
        limit: int = 100,
        active_at: datetime | None = None,
    ) -> TargetPage:
        """See :meth:`Registry.list`."""
        expires = to_db_time(active_at) if active_at is not None else None
        sql, args = listing_query("?", kind=kind, scope=scope, cursor=cursor, expires_after=expires)
        with self._db.snapshot() as conn:
            version = int(conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0])
            rows = conn.execute(sql, (*args, limit + 1)).fetchall()
        return target_page(rows, limit, version)

    def changes(self, since: int, *, limit: int | None = None) -> list[Change]:
        """See :meth:`Registry.changes`."""
        rows = self._db.read().execute(
            "SELECT version, op, target_id, at FROM changes WHERE version > ? "
            "ORDER BY version, seq LIMIT ?",
            (since, -1 if limit is None else limit),
        )
        return [Change(v, op, t, from_db_time(at)) for v, op, t, at in rows]

    def changes_since(self, since: int) -> ChangeSet:
        """See :meth:`Registry.changes_since`."""
        sql = _SELECT_TARGET.format(_VECTORS_COLUMNS, _VECTORS_JOIN)
        with self._db.snapshot() as conn:
            version = int(conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()[0])
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT target_id FROM changes WHERE version > ?", (since,)
                )
            ]
            targets: dict[str, StoredTarget | None] = {}
            for target_id in ids:
                row = conn.execute(sql, (target_id,)).fetchone()
                targets[target_id] = _stored(*row) if row else None
        return ChangeSet(version, targets)

    def dump(self) -> SqliteDump:
        """See :meth:`Registry.dump`."""
        return SqliteDump(self._db)

    def close(self) -> None:
        """See :meth:`Registry.close`."""
        self._db.close()


def listing_query(
    mark: str,
    *,
    kind: str | None,
    scope: str | None,
    cursor: str | None,
    expires_after: object | None,
) -> tuple[str, list[object]]:
    """A page query of ``targets`` in id order after ``cursor`` (``mark`` is the driver's
    placeholder); its last parameter, the row limit, is left to the caller."""
    where, args = [f"id > {mark}"], [cursor or ""]
    for column, value in (("kind", kind), ("scope", scope)):
        if value is not None:
            where.append(f"{column} = {mark}")
            args.append(value)
    if expires_after is not None:
        where.append(f"(expires_at IS NULL OR expires_at > {mark})")
        args.append(expires_after)
    sql = f"SELECT version, body FROM targets WHERE {' AND '.join(where)} ORDER BY id LIMIT {mark}"
    return sql, args


def target_page(rows: Sequence[tuple[int, str]], limit: int, version: int) -> TargetPage:
    """A page from up to ``limit + 1`` ``(version, body)`` rows (one more means a next page)."""
    items = tuple(_stored(v, body) for v, body in rows[:limit])
    more = len(rows) > limit
    return TargetPage(items, items[-1].target.id if more and items else None, version)


def _dump_patterns(target: ForgetTarget) -> str:
    """The target's compiled lexical patterns as JSON ``[[kind, text, key, mask], ...]``."""
    compiled = target_patterns(target.id, target.name, target.aliases, target.forbidden)
    return json.dumps([[p.kind, p.text, p.key, p.mask] for p in compiled])


def _load_patterns(target_id: str, raw: str) -> tuple[Pattern, ...]:
    return tuple(
        Pattern(target_id, kind, text, key, mask, key.isdigit())
        for kind, text, key, mask in json.loads(raw)
    )


class SqliteDump:
    """All targets with vectors in one read transaction; use as a context manager."""

    def __init__(self, db: Database) -> None:
        self._cm = db.snapshot()
        self._conn: sqlite3.Connection = self._cm.__enter__()
        row = self._conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        self.version = int(row[0])
        self.count = int(self._conn.execute("SELECT count(*) FROM targets").fetchone()[0])

    def __iter__(self) -> Iterator[TargetRecord]:
        rows = self._conn.execute(
            "SELECT t.id, t.version, t.scope, t.expires_at, t.patterns, t.body,"
            " e.sources, e.dim, e.matrix FROM targets t" + _VECTORS_JOIN + " ORDER BY t.id"
        )
        for target_id, version, scope, expires, patterns, body, sources, dim, blob in rows:
            vectors = None
            if sources is not None:
                matrix = np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)
                vectors = TargetVectors(sources, matrix)
            yield TargetRecord(
                target_id, version, scope, from_db_time(expires) if expires else None,
                _load_patterns(target_id, patterns), body, vectors,
            )  # fmt: skip

    def __enter__(self) -> SqliteDump:
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)


class _Transaction:
    """The writes of one :meth:`SqliteRegistry.apply` call, at ``version``."""

    def __init__(self, conn: sqlite3.Connection, version: int) -> None:
        self.conn = conn
        self.version = version
        self.now = utc_now()
        self.written: list[StoredTarget] = []
        self.deleted: list[str] = []
        self.skipped: list[str] = []
        self.changes: list[tuple[str, str]] = []

    def _current(self, target_id: str, expected: int | None) -> tuple[int, str] | None:
        row = self.conn.execute(
            "SELECT version, created_at FROM targets WHERE id = ?", (target_id,)
        ).fetchone()
        return check_version(target_id, row, expected)

    def put(self, op: Put) -> None:
        target_id = op.target.id
        current = self._current(target_id, op.expected_version if op.replace else None)
        if not admit_put(self, op, current):
            return
        created = from_db_time(current[1]) if current else self.now
        target = op.target.model_copy(update={"created_at": created})
        expires = to_db_time(target.expires_at) if target.expires_at else None
        patterns = _dump_patterns(target)
        self.conn.execute(
            "INSERT OR REPLACE INTO targets VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (target_id, target.kind, target.scope, self.version, to_db_time(created), expires,
             patterns, target.model_dump_json()),
        )  # fmt: skip
        if op.vectors is not None:
            m = np.ascontiguousarray(op.vectors.matrix, dtype=np.float32)
            self.conn.execute(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)",
                (target_id, op.vectors.sources, m.shape[1], m.tobytes()),
            )
        self.written.append(StoredTarget(target, self.version, op.vectors))
        self.changes.append(("patch" if current else "add", target_id))

    def delete(self, op: Delete) -> None:
        if self._current(op.target_id, op.expected_version) is None:
            raise NotFound(f"no target {op.target_id}", param="id")
        self.conn.execute("DELETE FROM targets WHERE id = ?", (op.target_id,))
        self.conn.execute("DELETE FROM embeddings WHERE target_id = ?", (op.target_id,))
        self.deleted.append(op.target_id)
        self.changes.append(("delete", op.target_id))

    def commit_log(self) -> None:
        at = to_db_time(self.now)
        self.conn.executemany(
            "INSERT INTO changes VALUES (?, ?, ?, ?, ?)",
            [(self.version, seq, op, tid, at) for seq, (op, tid) in enumerate(self.changes)],
        )
        self.conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(self.version),))
