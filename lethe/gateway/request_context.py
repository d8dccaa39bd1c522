"""Per-request context: the request id, the usage to log, and the access log line.

:class:`RequestContextMiddleware` (pure ASGI, so that streaming and disconnects pass through
untouched) honours a client's ``X-Request-Id`` (sanitised) or makes one, returns it in the
``X-Request-Id`` response header, turns an unexpected exception into a 500 envelope, and logs
one key-value line per request:

    event=request method=POST route=/v1/chat/completions status=200 duration_ms=41.7
    prompt_tokens=12 completion_tokens=30 request_id=4f9c...

Example:
    >>> ctx = RequestContext("req-1")
    >>> ctx.record_usage(Usage(12, 30)); ctx.usage.total_tokens
    42
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lethe.decoders import Usage
from lethe.gateway.errors import error_response
from lethe.gateway.ids import new_request_id, sanitize_request_id
from lethe.gateway.logs import kv
from lethe.gateway.unlearning import Trace

logger = logging.getLogger("lethe.access")

REQUEST_ID_HEADER = "x-request-id"
STATE_KEY = "request_context"


@dataclass(slots=True)
class RequestContext:
    """One request's identity and what the serving classes tell the access log.

    ``tenant`` comes from the API key (``tenant_keys``); ``trace`` is set when an operator
    asked for the debug view (``X-Lethe-Debug`` with the admin key).
    """

    request_id: str
    usage: Usage | None = None
    tenant: str | None = None
    trace: Trace | None = None
    started: float = field(default_factory=time.perf_counter)
    ttft_s: float | None = None

    def record_usage(self, usage: Usage) -> None:
        """Remember the request's token counts for the access log."""
        self.usage = usage

    def mark_first_output(self) -> None:
        """The generation's first output has arrived (time to first token, for metrics)."""
        if self.ttft_s is None:
            self.ttft_s = time.perf_counter() - self.started


async def request_context(request: Request) -> RequestContext:
    """FastAPI dependency: the current request's :class:`RequestContext`."""
    context = getattr(request.state, STATE_KEY, None)
    return context if context is not None else RequestContext(new_request_id())


class RequestContextMiddleware:
    """Assigns request ids, catches unexpected exceptions, writes the access log."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        context = RequestContext(sanitize_request_id(incoming) or new_request_id())
        scope.setdefault("state", {})[STATE_KEY] = context
        status = 0
        started = context.started

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, context.request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status:
                raise
            await error_response(exc, context.request_id)(scope, receive, send_with_id)
        finally:
            _finish(scope, context, status, time.perf_counter() - started)


def _finish(scope: Scope, context: RequestContext, status: int, seconds: float) -> None:
    """The access log line, and the request's metrics when the app is running."""
    route = getattr(scope.get("route"), "path", "unmatched")
    runtime = scope.get("state", {}).get("runtime")
    metrics = getattr(runtime, "metrics", None)
    if metrics is not None:
        metrics.observe_request(
            route, status or 500, seconds, ttft_s=context.ttft_s, usage=context.usage
        )
    _log_access(scope, context, route, status, seconds)


def _log_access(
    scope: Scope, context: RequestContext, route: str, status: int, seconds: float
) -> None:
    usage = context.usage
    logger.info(
        kv(
            "request",
            method=scope["method"],
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 1),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            request_id=context.request_id,
        )
    )
