"""PostgreSQL plumbing of the registry and its change feed: psycopg, connections, transactions.

- psycopg is imported lazily (:func:`import_psycopg`): Lethe imports without it, and a
  PostgreSQL registry without it fails with a ``ConfigurationError`` naming the extra.
- :class:`Connections` hands each thread its own autocommit connection, at most ``size`` at
  once: a lock-protected list of idle connections and a semaphore, not psycopg_pool. Why: a pool
  that reconnects in the background backs off exponentially during an outage, so it may stay
  unusable for tens of seconds after the server is back; here the next call after an outage just
  connects. An idle connection is pinged only when its socket turned readable (the server closed
  it), so a read stays one round trip.
- Transactions are explicit (``BEGIN`` ... ``COMMIT``, any ``BEGIN`` variant), rolled back on
  error. A server that cannot be reached raises :class:`~lethe.errors.Unavailable`.

Example:
    >>> connect_kwargs("postgresql://lethe@db/lethe", timeout_s=10)
    {'autocommit': True, 'keepalives': 1, 'connect_timeout': 10}

    and, with a server::

        pool = Connections("host=db dbname=lethe", size=4, timeout_s=30)
        with pool.transaction() as conn:
            conn.execute("SELECT 1")
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from lethe.errors import ConfigurationError, Unavailable

if TYPE_CHECKING:
    from psycopg import Connection

CHANNEL: Final = "lethe_registry"  # the NOTIFY channel of registry commits


def import_psycopg() -> ModuleType:
    """psycopg 3, or a ``ConfigurationError`` saying how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigurationError(
            "the PostgreSQL registry needs psycopg 3: pip install 'lethe[postgres]'",
            param="registry_url",
        ) from exc
    return psycopg


def connect_kwargs(dsn: str, timeout_s: float) -> dict[str, Any]:
    """Autocommit, TCP keepalives (a silently dead server is noticed) and, unless ``dsn`` sets
    one, a connect timeout of ``timeout_s``."""
    kwargs: dict[str, Any] = {"autocommit": True, "keepalives": 1}
    if "connect_timeout" not in dsn:  # a key=value DSN or a URL parameter
        kwargs["connect_timeout"] = max(1, round(timeout_s))
    return kwargs


class Connections:
    """At most ``size`` autocommit connections to ``dsn``, one thread each (module docstring)."""

    def __init__(self, dsn: str, size: int, timeout_s: float) -> None:
        self._pg = import_psycopg()
        self._dsn = dsn
        self._timeout = timeout_s
        self._kwargs = connect_kwargs(dsn, timeout_s)
        self._idle: list[Connection[Any]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Connection[Any]]:
        """A connection for this thread; ``Unavailable`` when the server cannot be reached."""
        if not self._slots.acquire(timeout=self._timeout):
            raise Unavailable(f"every registry connection stayed busy for {self._timeout:g} s")
        conn = None
        try:
            conn = self._checkout()
            yield conn
        except (self._pg.OperationalError, self._pg.InterfaceError) as exc:
            raise Unavailable(f"the PostgreSQL registry is unreachable: {exc}") from exc
        finally:
            if conn is not None:
                self._checkin(conn)
            self._slots.release()

    @contextmanager
    def transaction(self, begin: str = "BEGIN") -> Iterator[Connection[Any]]:
        """``begin`` ... ``COMMIT`` on one connection; rolled back on any error."""
        with self.connection() as conn:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                if not conn.broken:
                    with suppress(self._pg.Error):
                        conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _checkout(self) -> Connection[Any]:
        while True:
            with self._lock:
                if self._closed:
                    raise Unavailable("the registry is closed")
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = self._pg.connect(self._dsn, **self._kwargs)
                conn.execute("SET TIME ZONE 'UTC'")
                return conn
            if self._alive(conn):
                return conn
            conn.close()

    def _alive(self, conn: Connection[Any]) -> bool:
        """False when the server closed ``conn`` while it was idle (its socket turned readable)."""
        if conn.closed or conn.broken:
            return False
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
        if not readable:
            return True
        try:
            conn.execute("")
        except self._pg.Error:
            return False
        return True

    def _checkin(self, conn: Connection[Any]) -> None:
        idle = self._pg.pq.TransactionStatus.IDLE
        reusable = not conn.closed and conn.info.transaction_status == idle
        with self._lock:
            if reusable and not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections now, and each busy one when it is handed back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
