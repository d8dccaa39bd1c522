"""Server-sent events: ``data: {json}\\n\\n`` frames, ending with ``data: [DONE]``.

:func:`event_stream` wraps the JSON payloads of one response: an exception after the first
byte becomes an in-band ``data: {"error": {...}}`` frame (the status line is gone by then) and
the stream still ends with ``[DONE]``. :class:`EventStreamResponse` sends it, watches for the
client leaving, and always closes the stream, so that the engine's iterator is closed too.

Example:
    >>> data_frame('{"a": 1}')
    'data: {"a": 1}\\n\\n'
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from lethe.gateway.errors import error_event
from lethe.gateway.logs import kv

logger = logging.getLogger(__name__)

DONE_FRAME = "data: [DONE]\n\n"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def data_frame(payload: str) -> str:
    """One SSE data frame."""
    return f"data: {payload}\n\n"


async def event_stream(
    payloads: AsyncGenerator[str, None], request_id: str
) -> AsyncGenerator[str, None]:
    """Frames for ``payloads``, an in-band error frame if they fail, then ``[DONE]``."""
    try:
        async for payload in payloads:
            yield data_frame(payload)
    except Exception as exc:
        logger.info(kv("stream_error", request_id=request_id, error=type(exc).__name__))
        yield data_frame(error_event(exc, request_id))
    finally:
        await payloads.aclose()
    yield DONE_FRAME


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
