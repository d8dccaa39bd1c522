"""The app factory: ``create_app(settings, engine=None, store=None) -> FastAPI``.

Nothing happens at import time. ``create_app`` only wires routes, error handlers and
middleware; the engine is built (when not injected) and its model loaded by the lifespan, in a
background thread, and the forget store is opened from ``settings.data_dir`` (when not injected)
in another, so ``/healthz`` answers at once and ``/readyz`` turns 200 when both are ready. On
shutdown the engine is closed, and the store if the app opened it (an injected one is the
caller's to close).

Routers are listed in :data:`ROUTERS`.

Example:
    >>> app = create_app(Settings(), engine=my_engine)           # doctest: +SKIP
    >>> uvicorn.run(app)                                          # doctest: +SKIP
    $ uvicorn --factory lethe.gateway.app:create_app              # settings from the environment
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

import lethe
from lethe.decoders import Engine
from lethe.gateway.body_limit import BodyLimitMiddleware
from lethe.gateway.engines import build_engine
from lethe.gateway.errors import install_error_handlers
from lethe.gateway.logs import kv
from lethe.gateway.request_context import RequestContextMiddleware
from lethe.gateway.routes import admin, assistants, health, openai
from lethe.gateway.runtime import Runtime
from lethe.gateway.settings import Settings, get_settings
from lethe.indices import TargetStore

logger = logging.getLogger(__name__)

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    openai.router,
    admin.router,
    assistants.router,
)

DESCRIPTION = (
    "Lethe: an OpenAI-compatible gateway that makes a served LLM forget targets at inference "
    "time. See docs/api.md."
)


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    store: TargetStore | None = None,
    *,
    freeze_heap: bool = False,
) -> FastAPI:
    """A new app serving ``engine`` (built from ``settings`` at start-up when None) with the
    forget store ``store`` (opened from ``settings`` at start-up when None).

    ``freeze_heap`` (set by ``lethe serve``, which owns its process) moves everything start-up
    allocated into the collector's permanent generation once the model and the store have
    loaded: see :func:`freeze_startup_heap`."""
    settings = settings if settings is not None else get_settings()
    app = FastAPI(
        title="Lethe",
        version=lethe.__version__,
        description=DESCRIPTION,
        lifespan=_lifespan(settings, engine, store, freeze_heap),
        strict_content_type=False,  # a JSON body without a Content-Type is still parsed
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        path_limits=admin.body_limits(settings),
    )
    app.add_middleware(RequestContextMiddleware)  # outermost: ids and access log for all
    app.openapi = lambda: _openapi_schema(app)  # type: ignore[method-assign]
    return app


def _openapi_schema(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema without its generated 422 responses: validation errors are 400s here
    (only the admin API answers 422, for invalid targets, and documents it itself)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for path in schema["paths"].values():
            for operation in path.values():
                if _is_generated_422(operation["responses"].get("422")):
                    del operation["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def _is_generated_422(response: dict[str, Any] | None) -> bool:
    if response is None:
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")


def freeze_startup_heap() -> int:
    """Collect once, then exempt every live object from later cyclic collections.

    Loading torch, transformers, the model and the index leaves ~250k long-lived objects; each
    full (oldest-generation) collection walks all of them while holding the GIL, which stalls
    the event loop and the decoding thread alike (~150 ms measured on the embedded default).
    Frozen, a full collection only walks what serving allocated since. Returns how many objects
    were frozen.

    Example:
        >>> freeze_startup_heap() > 0
        True
        >>> gc.unfreeze()
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info(kv("heap_frozen", objects=frozen))
    return frozen


def _lifespan(
    settings: Settings, engine: Engine | None, store: TargetStore | None, freeze_heap: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Any]]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        runtime = Runtime.start(
            settings, engine if engine is not None else build_engine(settings), store
        )
        if freeze_heap:
            runtime.loader.after_load(freeze_startup_heap)
        try:
            yield {"runtime": runtime}
        finally:
            runtime.close()

    return lifespan
