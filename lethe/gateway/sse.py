"""Server-sent events: ``data: {json}\\n\\n`` frames, ending with ``data: [DONE]``.

:func:`event_stream` wraps the JSON payloads of one response: an exception after the first
byte becomes an in-band ``data: {"error": {...}}`` frame (the status line is gone by then) and
the stream still ends with ``[DONE]``. While no payload comes for ``keepalive_s`` seconds, it
sends an SSE comment, ``: keep-alive``, so that proxies and clients do not time the stream out
(clients skip comments); the pending payload is awaited in a task that outlives each timer.
:class:`EventStreamResponse` sends it, watches for the client leaving, and always closes the
stream, so that the engine's iterator is closed too.

Example:
    >>> data_frame('{"a": 1}')
    'data: {"a": 1}\\n\\n'
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from lethe.gateway.errors import error_event
from lethe.gateway.logs import kv

logger = logging.getLogger(__name__)

DONE_FRAME = "data: [DONE]\n\n"
KEEPALIVE_FRAME = ": keep-alive\n\n"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def data_frame(payload: str) -> str:
    """One SSE data frame."""
    return f"data: {payload}\n\n"


async def event_stream(
    payloads: AsyncGenerator[str, None], request_id: str, keepalive_s: float | None = None
) -> AsyncGenerator[str, None]:
    """Frames for ``payloads``, an in-band error frame if they fail, then ``[DONE]``.

    A ``: keep-alive`` comment follows every ``keepalive_s`` seconds without a payload (None or
    0: never). Closing or cancelling the frames cancels a pending payload, then closes
    ``payloads``.
    """
    timeout = keepalive_s if keepalive_s is not None and keepalive_s > 0 else None
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            pending = asyncio.ensure_future(anext(payloads))
            while not (await asyncio.wait({pending}, timeout=timeout))[0]:
                yield KEEPALIVE_FRAME
            next_payload, pending = pending, None
            try:
                payload = next_payload.result()
            except StopAsyncIteration:
                break
            yield data_frame(payload)
    except Exception as exc:
        logger.info(kv("stream_error", request_id=request_id, error=type(exc).__name__))
        yield data_frame(error_event(exc, request_id))
    finally:
        # shielded: a cancelled task group (the client left) cancels every await again
        with anyio.CancelScope(shield=True):
            await _cancel(pending)
            await payloads.aclose()
    yield DONE_FRAME


async def _cancel(pending: asyncio.Future[str] | None) -> None:
    """Cancel a pending payload and wait until it is over, whatever it ends with: the
    generator it runs cannot be closed before."""
    if pending is not None:
        pending.cancel()
        await asyncio.gather(pending, return_exceptions=True)


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that is cancelled as soon as the client disconnects.

    Starlette only notices a disconnect on its next write on some servers; this response always
    listens for it, and closes the body iterator in every case.
    """

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncGenerator[str, None]) -> None:
        super().__init__(frames, headers=SSE_HEADERS)
        self._frames = frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def stream_then_stop() -> None:
                    await self.stream_response(send)
                    group.cancel_scope.cancel()

                group.start_soon(stream_then_stop)
                await self.listen_for_disconnect(receive)
                group.cancel_scope.cancel()
        except* OSError:
            pass  # the client went away while we wrote to it (ASGI 2.4 servers)
        finally:
            with anyio.CancelScope(shield=True):
                await self._frames.aclose()
