"""Request body size limit: 413 in OpenAI's envelope, without buffering the oversized body.

A declared ``Content-Length`` above the limit is refused before the app runs; a chunked body
is counted while it is read and refused as soon as it passes the limit (the rest is never
read). Starlette has a limit of its own, but it answers in plain text on some paths; this one
answers with the envelope everywhere.

Example:
    >>> app.add_middleware(BodyLimitMiddleware, max_bytes=4 * 1024 * 1024)  # doctest: +SKIP
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lethe.gateway.errors import BodyTooLarge, error_response
from lethe.gateway.request_context import STATE_KEY


class BodyLimitMiddleware:
    """Refuses request bodies larger than ``max_bytes`` with a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            context = scope.get("state", {}).get(STATE_KEY)
            request_id = context.request_id if context is not None else "-"
            response = error_response(BodyTooLarge(self.max_bytes), request_id)
            await response(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted_receive, send)
