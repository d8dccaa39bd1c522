"""Probes: ``/healthz`` (liveness, answers while the model loads) and ``/readyz``; and
``/metrics`` for Prometheus (see :mod:`lethe.gateway.metrics`).

Example:
    >>> httpx.get("http://127.0.0.1:8000/readyz").status_code   # doctest: +SKIP
    200
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from lethe.errors import Unavailable
from lethe.gateway.dependencies import RuntimeDep
from lethe.gateway.metrics import CONTENT_TYPE
from lethe.gateway.protocol import ErrorResponse
from lethe.gateway.protocol.health import Liveness, Readiness

router = APIRouter(tags=["health"])
UNAVAILABLE = {503: {"model": ErrorResponse, "description": "Not ready, or the load failed"}}


@router.get("/healthz", response_model=Liveness, responses=UNAVAILABLE)
async def healthz(runtime: RuntimeDep) -> Liveness:
    """Liveness: 200 while the process is sound, 503 once the model or the store failed."""
    if runtime.loader.engine.state == "failed":
        raise Unavailable("The model failed to load; see the server log.")
    if runtime.loader.store.state == "failed":
        raise Unavailable("The forget store failed to open; see the server log.")
    return Liveness()


@router.get("/readyz", response_model=Readiness, responses=UNAVAILABLE)
async def readyz(runtime: RuntimeDep) -> Readiness:
    """Readiness: 200 with the model id and the registry version once requests are served
    and start-up's warm-up is done, 503 before (and while the registry cannot be followed)."""
    runtime.loader.require_ready()
    if not runtime.loader.warm:
        raise Unavailable("The gateway is warming up; retry shortly.")
    return Readiness(model=runtime.engine.model_id, registry_version=runtime.store.version)


@router.get("/metrics", include_in_schema=False)
async def metrics(runtime: RuntimeDep) -> Response:
    """Prometheus metrics, in the text exposition format; answers while the model loads."""
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)
