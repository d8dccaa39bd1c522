"""Writes audit events off the request path: a queue drained by one background thread.

A request hands its events over in O(1) and never waits on SQLite; the writer batches whatever
has queued up into one transaction. ``close`` drains the queue first, so events of requests
that finished before shutdown are not lost.

Example:
    >>> writer = AuditWriter(store.audit)     # doctest: +SKIP
    >>> writer.submit([event]); writer.close()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from lethe.gateway.logs import kv
from lethe.indices import AuditEvent, AuditLog

logger = logging.getLogger(__name__)

_STOP = object()


class AuditWriter:
    """A background writer of :class:`AuditEvent` batches."""

    def __init__(self, log: AuditLog, *, max_batch: int = 256) -> None:
        self._log = log
        self._queue: queue.Queue[object] = queue.Queue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._run, name="lethe-audit", daemon=True)
        self._thread.start()

    def submit(self, events: Sequence[AuditEvent]) -> None:
        """Queue ``events`` for writing; returns at once."""
        if events:
            self._queue.put(list(events))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything submitted so far is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            batch: list[AuditEvent] = []
            stop = self._take(item, batch)
            while not stop and len(batch) < self._max_batch:
                try:
                    stop = self._take(self._queue.get_nowait(), batch)
                except queue.Empty:
                    break
            self._write(batch)
            if stop:
                return

    def _take(self, item: object, batch: list[AuditEvent]) -> bool:
        if item is _STOP:
            return True
        if isinstance(item, threading.Event):
            self._write(batch)
            batch.clear()
            item.set()
        elif isinstance(item, list):
            batch.extend(item)
        return False

    def _write(self, batch: list[AuditEvent]) -> None:
        if not batch:
            return
        try:
            self._log.record(batch)
        except Exception as exc:  # never lose the thread to one bad batch
            logger.error(kv("audit_write_failed", events=len(batch), error=type(exc).__name__))
