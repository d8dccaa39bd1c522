"""Request body size limit: 413 in OpenAI's envelope, without buffering the oversized body.

A declared ``Content-Length`` above the limit is refused before the app runs; a chunked body
is counted while it is read and refused as soon as it passes the limit (the rest is never
read). Starlette has a limit of its own, but it answers in plain text on some paths; this one
answers with the envelope everywhere.

``path_limits`` gives some paths another limit: the first ``(prefix, limit)`` whose prefix starts
the request path wins (the admin API's bulk import takes far larger bodies than a chat request).

Example:
    >>> app.add_middleware(BodyLimitMiddleware, max_bytes=4 * 1024 * 1024)  # doctest: +SKIP
    >>> app.add_middleware(BodyLimitMiddleware, max_bytes=4 << 20,           # doctest: +SKIP
    ...                    path_limits=[("/admin/targets:import", 512 << 20)])
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lethe.gateway.errors import BodyTooLarge, error_response
from lethe.gateway.request_context import STATE_KEY


class BodyLimitMiddleware:
    """Refuses request bodies larger than ``max_bytes`` with a 413."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = tuple(path_limits)

    def limit_for(self, path: str) -> int:
        """The body limit of requests to ``path``."""
        for prefix, limit in self.path_limits:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope.get("path", ""))
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            context = scope.get("state", {}).get(STATE_KEY)
            request_id = context.request_id if context is not None else "-"
            response = error_response(BodyTooLarge(max_bytes), request_id)
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise BodyTooLarge(max_bytes)
            return message

        await self.app(scope, counted_receive, send)
