"""SQLite plumbing shared by the registry and the audit log: connections, transactions, times.

- WAL mode: readers never wait for the writer, and a committed transaction survives ``kill -9``
  (``synchronous=FULL`` also survives power loss; ``NORMAL`` may lose the last commits then).
- One writer connection behind a thread lock; one reader connection per thread.
- Transactions are explicit (``BEGIN IMMEDIATE`` for writes, so two processes serialise on the
  write lock up front instead of failing on upgrade).
- Times are stored as fixed-width UTC ISO-8601 text, so ``<`` on text is ``<`` on time.

Example:
    >>> db = Database(":memory:", schema="CREATE TABLE IF NOT EXISTS t (x INTEGER);")
    >>> with db.write() as conn:
    ...     _ = conn.execute("INSERT INTO t VALUES (1)")
    >>> db.read().execute("SELECT count(*) FROM t").fetchone()[0]
    1
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Synchronous = Literal["FULL", "NORMAL"]


def to_db_time(value: datetime) -> str:
    """Fixed-width UTC text for ``value`` (timezone-aware)."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(value: str) -> datetime:
    """Inverse of :func:`to_db_time`."""
    return datetime.fromisoformat(value)


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


class Database:
    """A SQLite file in WAL mode: a locked writer connection and per-thread readers.

    ``path=":memory:"`` shares one connection for everything (tests, doctests).
    """

    def __init__(self, path: str | Path, *, schema: str, synchronous: Synchronous = "FULL") -> None:
        self.path = str(path)
        self._memory = self.path == ":memory:"
        self._synchronous = synchronous
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = self._connect()
        with self.write() as conn:
            for statement in schema.split(";"):
                if statement.strip():
                    conn.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``) on the writer; rolls back on error."""
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def read(self) -> sqlite3.Connection:
        """This thread's reader connection (autocommit: each statement sees a committed state)."""
        if self._memory:
            return self._writer
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same committed state."""
        if self._memory:
            with self._write_lock:
                yield self._writer
            return
        conn = self._connect()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")
            conn.close()

    def close(self) -> None:
        """Close every connection."""
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        with self._write_lock:
            self._writer.close()
