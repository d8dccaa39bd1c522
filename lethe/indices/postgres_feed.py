"""The change feed of the PostgreSQL registry: a wake-up for followers when a version commits.

Every :meth:`~lethe.indices.postgres_registry.PostgresRegistry.apply` that changes something
sends ``NOTIFY lethe_registry, '<version>'`` in its transaction; PostgreSQL delivers it on
commit. A :class:`ChangeFeed` thread ``LISTEN``\\ s on a connection of its own and calls
``callback(version)`` for each notification, so a replica follows a change in milliseconds
instead of at its next poll.

It is a hint, not a log: notifications sent while the feed is disconnected are lost. So the feed
reconnects with exponential backoff when its connection drops and, on every (re)connect, reports
the registry's current version once; and followers keep polling
(:class:`~lethe.indices.follower.RegistryFollower`) whatever the feed says.

Example:
    >>> from lethe.errors import LetheError
    >>> try:  # nothing listens on port 1: the feed retries, with backoff, until stopped
    ...     feed = ChangeFeed("host=127.0.0.1 port=1", print, max_backoff_s=0.05)
    ...     feed.start()
    ...     print(feed.wait_listening(0.2))
    ...     feed.stop()
    ... except LetheError:  # ConfigurationError: psycopg is not installed
    ...     print(False)
    False

    and, wired to a replica's follower::

        feed = ChangeFeed(dsn, lambda version: follower.wake())
        feed.start()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from lethe.indices.postgres_support import CHANNEL, connect_kwargs, import_psycopg

if TYPE_CHECKING:
    from psycopg import Connection

logger = logging.getLogger(__name__)

_WAIT_S: Final = 0.25  # longest wait for a notification before checking for stop()


class ChangeFeed:
    """Calls ``callback(version)`` for every registry commit (see the module docstring).

    ``min_backoff_s`` doubles after each failed connect up to ``max_backoff_s``; it resets once
    the feed listens again. Exceptions from ``callback`` are logged and do not stop the feed.
    """

    def __init__(
        self,
        dsn: str,
        callback: Callable[[int], None],
        *,
        channel: str = CHANNEL,
        min_backoff_s: float = 0.1,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._pg = import_psycopg()
        self._dsn = dsn
        self._kwargs = connect_kwargs(dsn, timeout_s=10.0)
        self._callback = callback
        self._channel = channel
        self._min_backoff = min_backoff_s
        self._max_backoff = max_backoff_s
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self.connects = 0  # successful LISTENs, reconnects included

    @property
    def listening(self) -> bool:
        """Whether the feed holds a live ``LISTEN`` now."""
        return self._listening.is_set()

    def wait_listening(self, timeout: float) -> bool:
        """Block until the feed listens (True) or ``timeout`` passes (False)."""
        return self._listening.wait(timeout)

    def start(self) -> None:
        """Listen in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="lethe-change-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and wait for the thread (at most ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run(self) -> None:
        """Listen, reconnecting with backoff, until :meth:`stop` (what the thread runs)."""
        delay, warned = self._min_backoff, False
        while not self._stop.is_set():
            try:
                with self._pg.connect(self._dsn, **self._kwargs) as conn:
                    self._listen(conn)
                return
            except self._pg.Error as exc:
                if self._listening.is_set():  # it worked until now: a new outage
                    self._listening.clear()
                    delay, warned = self._min_backoff, False
                if not warned:
                    logger.warning("event=change_feed_lost error=%s", type(exc).__name__)
                    warned = True
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self._max_backoff)

    def _listen(self, conn: Connection[Any]) -> None:
        conn.execute(self._pg.sql.SQL("LISTEN {}").format(self._pg.sql.Identifier(self._channel)))
        self.connects += 1
        self._listening.set()
        logger.info("event=change_feed_listening channel=%s", self._channel)
        self._report_current(conn)
        while not self._stop.is_set():
            for note in conn.notifies(timeout=_WAIT_S):
                self._report(note.payload)
        self._listening.clear()

    def _report_current(self, conn: Connection[Any]) -> None:
        """Report the current version: what changed while the feed was away is not missed."""
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        except self._pg.errors.UndefinedTable:
            return  # no registry in this database yet
        if row is not None:
            self._report(row[0])

    def _report(self, payload: str) -> None:
        try:
            version = int(payload)
        except ValueError:
            logger.warning("event=change_feed_bad_payload payload=%r", payload[:40])
            return
        try:
            self._callback(version)
        except Exception:
            logger.exception("event=change_feed_callback_failed version=%d", version)
