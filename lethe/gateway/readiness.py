"""Loads the engine's model and opens the forget store in background threads, so the server
answers while they load.

``/healthz`` answers at once; ``/readyz`` and the OpenAI API answer 503 (``Unavailable``) until
:attr:`Startup.state` is ``ready``: the model is loaded (:class:`EngineLoader`) *and* the forget
store is open (:class:`StoreLoader`). The admin API needs only the store. A failed load is
logged with its traceback and leaves the state ``failed``: ``/healthz`` then answers 503 too, so
a supervisor restarts the process.

The store's embedder is preloaded after the store opened, in the same thread. Requests are served
as soon as both loads finished (a lookup that needs the embedder waits on its own lock), but
``/readyz`` also waits for :attr:`Startup.warm`: the preload and the after-load work (``lethe
serve`` freezes its start-up heap, a collection that stalls every thread for a fraction of a
second) are done, so a load balancer sends no traffic into that pause.

Example:
    >>> loader = EngineLoader(engine); loader.start()   # doctest: +SKIP
    >>> loader.require_ready()                           # doctest: +SKIP
    Traceback (most recent call last):
    lethe.errors.Unavailable: The model is still loading; retry shortly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lethe.decoders import Engine
from lethe.errors import Unavailable
from lethe.gateway.logs import kv
from lethe.gateway.store import preload_embedder
from lethe.indices import TargetStore
from lethe.indices.follower import RegistryFollower

if TYPE_CHECKING:
    from lethe.indices.postgres_feed import ChangeFeed

logger = logging.getLogger(__name__)

LoadState = Literal["loading", "ready", "failed"]
StoreState = Literal["loading", "ready", "failed", "stale"]


class EngineLoader:
    """Runs ``engine.load()`` once, in a daemon thread, and reports how it went."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._thread: threading.Thread | None = None
        self._failed = False
        self.loaded_at: int | None = None

    def start(self) -> None:
        """Start loading; returns at once."""
        self._thread = threading.Thread(target=self._load, name="lethe-engine-load", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        started = time.perf_counter()
        logger.info(kv("engine_loading", engine=type(self._engine).__name__))
        try:
            self._engine.load()
        except BaseException as exc:
            self._failed = True
            logger.error(
                kv("engine_load_failed", error=type(exc).__name__, detail=str(exc)), exc_info=exc
            )
            return
        self.loaded_at = int(time.time())
        logger.info(
            kv(
                "engine_ready",
                model=self._engine.model_id,
                load_s=round(time.perf_counter() - started, 2),
            )
        )

    @property
    def state(self) -> LoadState:
        """``loading``, ``ready`` or ``failed``."""
        if self._failed:
            return "failed"
        return "ready" if self.loaded_at is not None and self._engine.ready else "loading"

    def require_ready(self) -> None:
        """Raise :class:`Unavailable` unless the model is loaded and serving."""
        state = self.state
        if state == "failed":
            raise Unavailable("The model failed to load; see the server log.")
        if state == "loading":
            raise Unavailable("The model is still loading; retry shortly.")

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for the load to finish."""
        if self._thread is not None:
            self._thread.join(timeout)


@dataclass(frozen=True, slots=True)
class FollowConfig:
    """Poll the registry every ``interval_s``; not ready after ``stale_s`` without a poll;
    with ``feed_url`` (a PostgreSQL registry) its change feed wakes the follower at once."""

    interval_s: float
    stale_s: float
    feed_url: str | None = None


class StoreLoader:
    """Opens the forget store once, in a daemon thread, then preloads its embedder.

    ``open_store`` builds the store (blocking); ``owned`` says whether :meth:`close` closes it
    (False for a store injected by the caller, who closes it).
    """

    def __init__(
        self,
        open_store: Callable[[], TargetStore],
        *,
        owned: bool = True,
        preload: bool = True,
        follow: FollowConfig | None = None,
    ) -> None:
        self._open = open_store
        self._owned = owned
        self._preload = preload
        self._follow = follow
        self.follower: RegistryFollower | None = None
        self._feed: ChangeFeed | None = None
        self._thread: threading.Thread | None = None
        self._failed = False
        self._closed = False
        self._lock = threading.Lock()
        self._store: TargetStore | None = None
        self.embedder_loaded = False
        self.settled = threading.Event()  # the open and the preload finished, either way

    def start(self) -> None:
        """Start opening; returns at once."""
        self._thread = threading.Thread(target=self._load, name="lethe-store-open", daemon=True)
        self._thread.start()

    def _load(self) -> None:
        try:
            self._open_and_preload()
        finally:
            self.settled.set()

    def _open_and_preload(self) -> None:
        try:
            store = self._open()
        except BaseException as exc:
            self._failed = True
            logger.error(
                kv("store_open_failed", error=type(exc).__name__, detail=str(exc)), exc_info=exc
            )
            return
        with self._lock:
            if self._closed:  # shut down while opening: do not leak the connections
                if self._owned:
                    store.close()
                return
            self._store = store
            if self._follow is not None:
                self.follower = RegistryFollower(
                    store, interval_s=self._follow.interval_s, stale_after_s=self._follow.stale_s
                )
                self.follower.start()
                if self._follow.feed_url is not None:
                    self._feed = _start_feed(self._follow.feed_url, self.follower)
        if self._preload:
            try:
                self.embedder_loaded = preload_embedder(store.embedder)
            except Exception as exc:  # a later embed raises again, with the same message
                logger.error(kv("embedder_load_failed", error=type(exc).__name__, detail=str(exc)))

    @property
    def state(self) -> StoreState:
        """``loading``, ``ready``, ``failed``, or ``stale`` while the registry cannot be
        followed (see :meth:`require_serving`)."""
        if self._failed:
            return "failed"
        if self._store is None:
            return "loading"
        follower = self.follower
        return "stale" if follower is not None and not follower.healthy() else "ready"

    def require_serving(self) -> TargetStore:
        """The open store, if its registry is being followed: :class:`Unavailable` while the
        store opens, after it failed, or while the registry cannot be read (a replica whose
        registry went stale stops serving chat until it can again)."""
        store = self.require()
        follower = self.follower
        if follower is not None and not follower.healthy():
            raise Unavailable(
                f"The forget registry has not been reachable for {follower.lag_s:.0f} s; "
                "this replica serves again once it is."
            )
        return store

    @property
    def store(self) -> TargetStore | None:
        """The store once it is open, else ``None``."""
        return self._store

    def require(self) -> TargetStore:
        """The open store; :class:`Unavailable` while it opens or after it failed to."""
        store = self._store
        if store is not None:
            return store
        if self._failed:
            raise Unavailable("The forget registry failed to open; see the server log.")
        raise Unavailable("The forget registry is still opening; retry shortly.")

    def join(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for the open (and the
        embedder's preload) to finish."""
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the open to finish, then close an owned store."""
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            self._closed = True
            store, self._store = self._store, None
        if self._feed is not None:
            self._feed.stop()
        if self.follower is not None:
            self.follower.stop(timeout)
        if store is not None and self._owned:
            logger.info(kv("store_closing", version=store.version))
            store.close()


def _start_feed(url: str, follower: RegistryFollower) -> ChangeFeed:
    """Listen for the registry's change notifications; each one wakes the follower."""
    from lethe.indices.postgres_feed import ChangeFeed

    feed = ChangeFeed(url, lambda _version: follower.wake())
    feed.start()
    return feed


class Startup:
    """Readiness of the whole app: the engine's model and the forget store."""

    def __init__(self, engine: EngineLoader, store: StoreLoader) -> None:
        self.engine = engine
        self.store = store
        self._hooks_pending = 0
        self._hooks_lock = threading.Lock()

    @property
    def loaded_at(self) -> int | None:
        """When the model finished loading (Unix seconds), for ``/v1/models``."""
        return self.engine.loaded_at

    @property
    def state(self) -> LoadState:
        """``failed`` if either failed, ``ready`` once both are, else ``loading``."""
        states = (self.engine.state, self.store.state)
        if "failed" in states:
            return "failed"
        return "ready" if states == ("ready", "ready") else "loading"

    def require_ready(self) -> None:
        """Raise :class:`Unavailable` unless the model is loaded, the store is open and the
        registry is being followed (a replica whose registry went stale stops serving)."""
        self.engine.require_ready()
        self.store.require_serving()

    @property
    def warm(self) -> bool:
        """True once the store's embedder preload and every :meth:`after_load` callback have
        finished: ``/readyz`` waits for this too, so no traffic meets start-up's last pauses."""
        if not self.store.settled.is_set():
            return False
        with self._hooks_lock:
            return self._hooks_pending == 0

    def start(self) -> None:
        """Start both loads; returns at once."""
        self.engine.start()
        self.store.start()

    def after_load(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` in a daemon thread once both loads have finished, if both succeeded
        (e.g. to freeze the start-up heap out of the garbage collector's way)."""

        def wait_then_call() -> None:
            try:
                self.engine.join()
                self.store.join()
                if self.state == "ready":
                    callback()
            finally:
                with self._hooks_lock:
                    self._hooks_pending -= 1

        with self._hooks_lock:
            self._hooks_pending += 1
        threading.Thread(target=wait_then_call, name="lethe-after-load", daemon=True).start()
