"""Following the registry: a replica applies the changes other processes commit.

Several gateway processes may share one registry (replicas behind a load balancer). Each keeps
its own indices, so a forget request made on one must reach the others: a
:class:`RegistryFollower` thread asks the registry for its version every ``interval_s`` and,
when it moved, applies the change log since the store's snapshot
(:meth:`~lethe.indices.store.TargetStore.refresh`: changed targets with their stored
embeddings, nothing re-embedded). A backend with a change feed (PostgreSQL ``LISTEN``) can
:meth:`~RegistryFollower.wake` it early; polling stays the fallback.

A replica must not serve a registry it can no longer follow: :attr:`RegistryFollower.lag_s` is
the time since the last successful poll, and :meth:`RegistryFollower.healthy` turns False once it
exceeds ``stale_after_s`` (the gateway then answers not-ready).

Example:
    >>> class Store:  # anything with a version and refresh(), e.g. a TargetStore
    ...     version = 0
    ...     def refresh(self): return 3
    >>> follower = RegistryFollower(Store(), interval_s=0.25, stale_after_s=5)
    >>> follower.poll()  # what the thread does every interval_s (start() runs it)
    >>> follower.healthy()
    True
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

logger = logging.getLogger(__name__)


class Followable(Protocol):
    """What the follower needs of a store."""

    @property
    def version(self) -> int:
        """The version of the serving snapshot."""
        ...

    def refresh(self) -> int:
        """Apply other processes' changes; returns the new version."""
        ...


class RegistryFollower:
    """Polls the registry and applies what changed (see the module docstring)."""

    def __init__(self, store: Followable, *, interval_s: float, stale_after_s: float) -> None:
        if interval_s <= 0 or stale_after_s <= 0:
            raise ValueError("interval_s and stale_after_s must be positive")
        self._store = store
        self._interval = interval_s
        self._stale_after = stale_after_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_ok = time.monotonic()
        self._failing: str | None = None  # the error of the failing streak, logged once

    def start(self) -> None:
        """Start following in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="lethe-follower", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Poll now (a change feed said something changed)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def lag_s(self) -> float:
        """Seconds since the registry was last read successfully."""
        return time.monotonic() - self._last_ok

    def healthy(self) -> bool:
        """False once the registry could not be read for longer than ``stale_after_s``."""
        return self.lag_s <= self._stale_after

    def poll(self) -> None:
        """One poll: apply what changed; remember when it last worked."""
        try:
            before = self._store.version
            after = self._store.refresh()
        except Exception as exc:  # the registry is unreachable or broken: retry, go stale
            if self._failing is None:
                logger.warning("event=registry_follow_failed error=%s", type(exc).__name__)
            self._failing = type(exc).__name__
            return
        if self._failing is not None:
            logger.info("event=registry_follow_recovered version=%d", after)
            self._failing = None
        self._last_ok = time.monotonic()
        if after != before:
            logger.debug("event=registry_followed from=%d to=%d", before, after)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._wake.wait(self._interval)
            self._wake.clear()
