"""The shared registry backend: PostgreSQL, for replicas that share one registry.

Same tables and semantics as :mod:`lethe.indices.sqlite_registry` (``meta``, ``targets``,
``embeddings`` as float32 row-major ``BYTEA``, the ``changes`` log), so:

- writers serialise on the ``version`` row of ``meta``: every :meth:`PostgresRegistry.apply` is
  one READ COMMITTED transaction that first takes ``SELECT ... FOR UPDATE`` on it, so versions
  are strictly increasing, one per transaction, without gaps, across processes;
- the same transaction sends ``NOTIFY lethe_registry, '<version>'``, delivered on commit only:
  :class:`~lethe.indices.postgres_feed.ChangeFeed` turns it into a wake-up for followers;
- reads that must agree with one version (``list``, ``changes_since``, ``dump``) run in one
  REPEATABLE READ transaction; ``dump`` streams through a server-side cursor.

Thread-safe: each call takes its own connection, at most ``pool_size`` at once (a lock-protected
set, not psycopg_pool: see :mod:`lethe.indices.postgres_support`, which says why). An unreachable
server raises :class:`~lethe.errors.Unavailable`; an ``apply`` that fails so may or may not have
committed (the connection dropped during ``COMMIT``): re-read before retrying.

The schema is created on first connect (under an advisory lock, so replicas may start together);
:func:`migrate` is where later schema versions go.

Example:
    >>> from lethe.errors import LetheError
    >>> try:
    ...     PostgresRegistry("host=127.0.0.1 port=1", timeout_s=1)  # nothing listens there
    ... except LetheError as exc:  # Unavailable (ConfigurationError without psycopg)
    ...     print("refused at once")
    refused at once

    and, with a server (``pip install 'lethe[postgres]'``)::

        reg = PostgresRegistry("host=db dbname=lethe user=lethe")
        reg.apply([Put(target, vectors)]).version
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from lethe.errors import ConfigurationError, NotFound
from lethe.indices.normalize import NORMALIZER_ID
from lethe.indices.postgres_support import CHANNEL, Connections
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

# One row format for both backends: the pattern JSON and the row -> StoredTarget conversion.
from lethe.indices.sqlite_registry import (
    _dump_patterns,
    _load_patterns,
    _stored,
    listing_query,
    target_page,
)
from lethe.indices.sqlite_support import utc_now
from lethe.indices.targets import ForgetTarget

if TYPE_CHECKING:
    from psycopg import Connection

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
_MIGRATIONS: Final[dict[int, str]] = {}  # schema n -> the SQL that brings it to n + 1
_SCHEMA_LOCK: Final = 0x6C65_7468_6500  # pg_advisory_xact_lock key of schema creation
_SNAPSHOT: Final = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_DUMP_BATCH: Final = 2000
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1'), ('version', '0') ON CONFLICT (key) DO NOTHING;
CREATE TABLE IF NOT EXISTS targets (
    id TEXT COLLATE "C" PRIMARY KEY, kind TEXT NOT NULL, scope TEXT NOT NULL,
    version BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ,
    patterns TEXT NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS targets_by_kind ON targets (kind, id);
CREATE INDEX IF NOT EXISTS targets_by_scope ON targets (scope, id);
CREATE TABLE IF NOT EXISTS embeddings (
    target_id TEXT PRIMARY KEY, sources TEXT NOT NULL, dim INTEGER NOT NULL,
    matrix BYTEA NOT NULL);
ALTER TABLE embeddings ALTER COLUMN matrix SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS changes (
    version BIGINT NOT NULL, seq INTEGER NOT NULL, op TEXT NOT NULL, target_id TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL, PRIMARY KEY (version, seq));
"""
_VECTORS_JOIN: Final = " LEFT JOIN embeddings e ON e.target_id = t.id"
_SELECT_TARGET: Final = "SELECT t.version, t.body{} FROM targets t{} WHERE t.id = %s"
_UPSERT_TARGET: Final = (
    "INSERT INTO targets VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET"
    " kind = EXCLUDED.kind, scope = EXCLUDED.scope, version = EXCLUDED.version,"
    " created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,"
    " patterns = EXCLUDED.patterns, body = EXCLUDED.body"
)
_UPSERT_VECTORS: Final = (
    "INSERT INTO embeddings VALUES (%s, %s, %s, %s) ON CONFLICT (target_id) DO UPDATE SET"
    " sources = EXCLUDED.sources, dim = EXCLUDED.dim, matrix = EXCLUDED.matrix"
)
_INSERT_CHANGE: Final = "INSERT INTO changes VALUES (%s, %s, %s, %s, %s)"
_UPSERT_META: Final = (
    "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
)


def migrate(conn: Connection[Any]) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`, one step of :data:`_MIGRATIONS` at a time.

    Runs inside the schema transaction (under its advisory lock). A no-op at schema 1.
    """
    current = int(conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()[0])
    if current > SCHEMA_VERSION:
        raise ConfigurationError(
            f"the registry database has schema {current}; this Lethe knows {SCHEMA_VERSION}"
        )
    while current < SCHEMA_VERSION:
        conn.execute(_MIGRATIONS[current])
        current += 1
        conn.execute("UPDATE meta SET value = %s WHERE key = 'schema'", (str(current),))
        logger.info("event=registry_migrated schema=%d", current)


def _lock_version(conn: Connection[Any]) -> int:
    """The current version, locking its row until the transaction ends (serialises writers)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'version' FOR UPDATE").fetchone()
    return int(row[0])


def _read_version(conn: Connection[Any]) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])


class PostgresRegistry:
    """:class:`~lethe.indices.registry.Registry` on PostgreSQL (see the module docstring).

    ``pool_size`` bounds the connections (a running :meth:`dump` holds one); ``timeout_s`` bounds
    the wait for a free one and for connecting.
    """

    def __init__(self, dsn: str, *, pool_size: int = 4, timeout_s: float = 30.0) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self._pool = Connections(dsn, pool_size, timeout_s)
        try:
            with self._pool.transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                conn.execute(_SCHEMA)
                migrate(conn)
            self._recompile_patterns()
        except BaseException:
            self._pool.close()
            raise

    def _recompile_patterns(self) -> None:
        """Recompile every stored pattern when the folding rules changed (no version bump)."""
        with self._pool.transaction() as conn:
            _lock_version(conn)
            row = conn.execute("SELECT value FROM meta WHERE key = 'normalizer'").fetchone()
            if row is not None and row[0] == NORMALIZER_ID:
                return
            targets = [ForgetTarget.model_validate_json(b) for (b,) in conn.execute(
                "SELECT body FROM targets")]  # fmt: skip
            conn.cursor().executemany(
                "UPDATE targets SET patterns = %s WHERE id = %s",
                [(_dump_patterns(t), t.id) for t in targets],
            )
            conn.execute(_UPSERT_META, ("normalizer", NORMALIZER_ID))
        if targets:
            logger.info(
                "event=patterns_recompiled targets=%d normalizer=%s", len(targets), NORMALIZER_ID
            )

    def bind(self, embedder: str, dim: int, chunker: str) -> None:
        """See :meth:`Registry.bind`."""
        wanted = {"embedder": embedder, "dim": str(dim), "chunker": chunker}
        with self._pool.transaction() as conn:
            _lock_version(conn)  # no writer may add the first target meanwhile
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            has_targets = conn.execute("SELECT 1 FROM targets LIMIT 1").fetchone() is not None
            clash = {k: meta[k] for k in wanted if k in meta and meta[k] != wanted[k]}
            if clash and has_targets:
                raise ConfigurationError(
                    f"the registry holds embeddings made with {clash}, not {wanted}: "
                    "use the same embedder, or a new database",
                    param="embedder",
                )
            conn.cursor().executemany(_UPSERT_META, list(wanted.items()))

    def version(self) -> int:
        """See :meth:`Registry.version`."""
        with self._pool.connection() as conn:
            return _read_version(conn)

    def apply(self, ops: Sequence[Op]) -> Applied:
        """See :meth:`Registry.apply`."""
        with self._pool.transaction() as conn:
            previous = _lock_version(conn)
            tx = _Transaction(conn, previous + 1)
            tx.load([op.target.id if isinstance(op, Put) else op.target_id for op in ops])
            if not stage(tx, ops):
                return Applied(previous, previous, (), (), tuple(tx.skipped))
            tx.commit()
        return applied(tx, previous)

    def get(self, target_id: str, *, vectors: bool = False) -> StoredTarget | None:
        """See :meth:`Registry.get`."""
        columns = (", e.sources, e.dim, e.matrix", _VECTORS_JOIN) if vectors else ("", "")
        with self._pool.connection() as conn:
            row = conn.execute(_SELECT_TARGET.format(*columns), (target_id,), binary=True)
            found = row.fetchone()
        return _stored(*found) if found else None

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
        sql, args = listing_query(
            "%s", kind=kind, scope=scope, cursor=cursor, expires_after=active_at
        )
        with self._pool.transaction(_SNAPSHOT) as conn:
            version = _read_version(conn)
            rows = conn.execute(sql, (*args, limit + 1)).fetchall()
        return target_page(rows, limit, version)

    def changes(self, since: int, *, limit: int | None = None) -> list[Change]:
        """See :meth:`Registry.changes`."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT version, op, target_id, at FROM changes WHERE version > %s "
                "ORDER BY version, seq LIMIT %s",
                (since, limit),
            ).fetchall()
        return [Change(v, op, t, at) for v, op, t, at in rows]

    def changes_since(self, since: int) -> ChangeSet:
        """See :meth:`Registry.changes_since`."""
        with self._pool.transaction(_SNAPSHOT) as conn:
            version = _read_version(conn)
            rows = conn.execute(
                "SELECT c.target_id, t.version, t.body, e.sources, e.dim, e.matrix"
                " FROM (SELECT DISTINCT target_id FROM changes WHERE version > %s) c"
                " LEFT JOIN targets t ON t.id = c.target_id" + _VECTORS_JOIN,
                (since,),
                binary=True,
            ).fetchall()
        targets = {tid: _stored(*rest) if rest[0] is not None else None for tid, *rest in rows}
        return ChangeSet(version, targets)

    def dump(self) -> PostgresDump:
        """See :meth:`Registry.dump`."""
        return PostgresDump(self._pool)

    def close(self) -> None:
        """See :meth:`Registry.close`."""
        self._pool.close()


class PostgresDump:
    """All targets with vectors in one REPEATABLE READ transaction; use as a context manager."""

    def __init__(self, pool: Connections) -> None:
        with ExitStack() as stack:
            self._conn = stack.enter_context(pool.transaction(_SNAPSHOT))
            self.version = _read_version(self._conn)
            self.count = int(self._conn.execute("SELECT count(*) FROM targets").fetchone()[0])
            self._stack = stack.pop_all()

    def __iter__(self) -> Iterator[TargetRecord]:
        with self._conn.cursor(name="lethe_dump", binary=True) as cur:
            cur.itersize = _DUMP_BATCH
            cur.execute(
                "SELECT t.id, t.version, t.scope, t.expires_at, t.patterns, t.body,"
                " e.sources, e.dim, e.matrix FROM targets t" + _VECTORS_JOIN + " ORDER BY t.id"
            )
            for target_id, version, scope, expires, patterns, body, sources, dim, blob in cur:
                vectors = None
                if sources is not None:
                    matrix = np.frombuffer(blob, dtype=np.float32).reshape(-1, dim)
                    vectors = TargetVectors(sources, matrix)
                yield TargetRecord(
                    target_id, version, scope, expires, _load_patterns(target_id, patterns),
                    body, vectors,
                )  # fmt: skip

    def __enter__(self) -> PostgresDump:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.__exit__(*exc)


class _Transaction:
    """The writes of one :meth:`PostgresRegistry.apply` call, at ``version``, sent at commit."""

    def __init__(self, conn: Connection[Any], version: int) -> None:
        self.conn = conn
        self.version = version
        self.now = utc_now()
        self.current: dict[str, tuple[int, datetime]] = {}
        self.writes: list[tuple[str, tuple[Any, ...]]] = []
        self.written: list[StoredTarget] = []
        self.deleted: list[str] = []
        self.skipped: list[str] = []
        self.changes: list[tuple[str, str]] = []

    def load(self, ids: Sequence[str]) -> None:
        """Read the version and creation time of every target the ops name, in one query."""
        rows = self.conn.execute(
            "SELECT id, version, created_at FROM targets WHERE id = ANY(%s)", (list(set(ids)),)
        )
        self.current = {target_id: (v, created) for target_id, v, created in rows}

    def _current(self, target_id: str, expected: int | None) -> tuple[int, datetime] | None:
        return check_version(target_id, self.current.get(target_id), expected)

    def put(self, op: Put) -> None:
        target_id = op.target.id
        current = self._current(target_id, op.expected_version if op.replace else None)
        if not admit_put(self, op, current):
            return
        created = current[1] if current else self.now
        target = op.target.model_copy(update={"created_at": created})
        self.writes.append((_UPSERT_TARGET, (
            target_id, target.kind, target.scope, self.version, created, target.expires_at,
            _dump_patterns(target), target.model_dump_json(),
        )))  # fmt: skip
        if op.vectors is not None:
            m = np.ascontiguousarray(op.vectors.matrix, dtype=np.float32)
            self.writes.append(
                (_UPSERT_VECTORS, (target_id, op.vectors.sources, m.shape[1], m.tobytes()))
            )
        self.current[target_id] = (self.version, created)
        self.written.append(StoredTarget(target, self.version, op.vectors))
        self.changes.append(("patch" if current else "add", target_id))

    def delete(self, op: Delete) -> None:
        if self._current(op.target_id, op.expected_version) is None:
            raise NotFound(f"no target {op.target_id}", param="id")
        self.writes.append(("DELETE FROM targets WHERE id = %s", (op.target_id,)))
        self.writes.append(("DELETE FROM embeddings WHERE target_id = %s", (op.target_id,)))
        del self.current[op.target_id]
        self.deleted.append(op.target_id)
        self.changes.append(("delete", op.target_id))

    def commit(self) -> None:
        """Send every write, the change log, the new version and the notification, pipelined."""
        log = [
            (_INSERT_CHANGE, (self.version, seq, op, tid, self.now))
            for seq, (op, tid) in enumerate(self.changes)
        ]
        with self.conn.pipeline():
            for sql, params in [*self.writes, *log]:
                self.conn.execute(sql, params)
            self.conn.execute(
                "UPDATE meta SET value = %s WHERE key = 'version'", (str(self.version),)
            )
            self.conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(self.version)))
