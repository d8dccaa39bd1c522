"""The forget store of a gateway: a :class:`~lethe.indices.TargetStore` opened from settings.

The registry (``registry.sqlite3``) and the audit log (``audit.sqlite3``) live in
``settings.data_dir``, next to the model cache. The embedder is a sentence-transformers folder
(``embedder_model``; the packaged all-MiniLM-L6-v2 when unset) run by ``embedder_backend``:
torch, or ONNX Runtime (``onnx``, ``onnx-int8``) from an export kept in
``settings.embedder_cache``. Opening is cheap at small sizes
and seconds at 100k targets (the indices are rebuilt from stored embeddings, never re-embedded),
so the app opens the store in the background (see :class:`lethe.gateway.readiness.StoreLoader`).

The embedder's model is loaded only once the engine has finished loading
(:class:`AfterEngineLoad`): two threads importing transformers for the first time at once can
fail with ``_DeadlockError`` or "partially initialized module" (CPython gh-83065, fixed in 3.14),
and the engine loads in its own thread.

Example:
    >>> config = store_config(Settings(import_batch=100))
    >>> config.bulk_batch, config.background, config.store_audit_bodies
    (100, True, False)
    >>> store = open_store(Settings(data_dir=tmp))   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

import numpy as np

from lethe.gateway.logs import kv
from lethe.gateway.settings import Settings
from lethe.indices import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    SqliteAuditLog,
    StoreConfig,
    TargetStore,
)

logger = logging.getLogger(__name__)


class AfterEngineLoad:
    """An embedder that waits for ``engine_loaded()`` (blocking until the engine's load ends,
    however it ends) before it first loads or embeds; then it is ``inner`` itself."""

    def __init__(self, inner: Embedder, engine_loaded: Callable[[], None]) -> None:
        self.inner = inner
        self._engine_loaded: Callable[[], None] | None = engine_loaded

    @property
    def name(self) -> str:
        """The inner embedder's name (stored with the vectors)."""
        return self.inner.name

    @property
    def dim(self) -> int:
        """The inner embedder's dimension (read from its config, nothing is loaded)."""
        return self.inner.dim

    def _wait(self) -> None:
        wait = self._engine_loaded
        if wait is not None:
            wait()
            self._engine_loaded = None

    def load(self) -> None:
        """Load the inner model (after the engine's load)."""
        self._wait()
        load = getattr(self.inner, "load", None)
        if callable(load):
            load()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The inner embedder's vectors (after the engine's load)."""
        self._wait()
        return self.inner.embed(texts)


def registry_url(settings: Settings) -> str | None:
    """The PostgreSQL registry's URL (a secret: never log it), or None for SQLite."""
    url = settings.registry_url
    return url.get_secret_value() if url is not None else None


def store_config(settings: Settings) -> StoreConfig:
    """The :class:`StoreConfig` the settings ask for (upkeep always in the background)."""
    return StoreConfig(
        exact_limit=settings.index_exact_limit,
        ef_search=settings.index_ef_search,
        bulk_batch=settings.import_batch,
        synchronous=settings.registry_synchronous,
        store_audit_bodies=settings.audit_bodies,
    )


def build_embedder(settings: Settings) -> Embedder:
    """The embedder named by the settings; nothing is loaded yet."""
    if settings.embedder_backend == "torch":
        return SentenceTransformerEmbedder(
            settings.embedder_model,
            device=settings.embedder_device,
            batch_threads=settings.embedder_threads,
        )
    return OnnxEmbedder(
        settings.embedder_model,
        precision="int8" if settings.embedder_backend == "onnx-int8" else "fp32",
        cache_dir=settings.embedder_cache,
        batch_threads=settings.embedder_threads,
    )


def open_store(settings: Settings, embedder: Embedder | None = None) -> TargetStore:
    """Open (create) the store in ``settings.data_dir`` and rebuild its indices; blocking.

    Raises :class:`~lethe.errors.ConfigurationError` when the registry was embedded with another
    embedder (the stored vectors would not be comparable).
    """
    started = time.perf_counter()
    embedder = embedder if embedder is not None else build_embedder(settings)
    config = store_config(settings)
    url = registry_url(settings)
    if url is None:
        store = TargetStore.open(settings.data_dir, embedder, config=config)
    else:
        from lethe.indices.postgres_registry import PostgresRegistry

        audit = SqliteAuditLog.in_dir(settings.data_dir, store_bodies=config.store_audit_bodies)
        registry = PostgresRegistry(url, pool_size=4)
        store = TargetStore(registry, embedder, audit=audit, config=config)
    logger.info(
        kv(
            "store_opened",
            data_dir=str(settings.data_dir),
            registry="sqlite" if url is None else "postgresql",
            version=store.version,
            targets=len(store.snapshot),
            embedder=store.embedder.name,
            open_s=round(time.perf_counter() - started, 2),
        )
    )
    return store


def preload_embedder(embedder: Embedder) -> bool:
    """Load ``embedder``'s model now if it loads lazily, and run it once (an inference
    runtime's first run allocates and plans; measured ~0.1 s for the ONNX MiniLM), so the first
    request's lookup costs what every other one does. True when it loaded anything."""
    load = getattr(embedder, "load", None)
    if not callable(load):
        return False
    started = time.perf_counter()
    load()
    embedder.embed(["Who is the person this request might be about?"])
    logger.info(
        kv("embedder_ready", embedder=embedder.name, load_s=round(time.perf_counter() - started, 2))
    )
    return True
