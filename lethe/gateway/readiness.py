"""Loads the engine's model in a background thread, so the server answers while it loads.

``/healthz`` answers at once; ``/readyz`` and the OpenAI API answer 503 (``Unavailable``) until
:attr:`EngineLoader.state` is ``ready``. A failed load is logged with its traceback and leaves
the state ``failed``: ``/healthz`` then answers 503 too, so a supervisor restarts the process.

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
from typing import Literal

from lethe.decoders import Engine
from lethe.errors import Unavailable
from lethe.gateway.logs import kv

logger = logging.getLogger(__name__)

LoadState = Literal["loading", "ready", "failed"]


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

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the load to finish (at shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)
