"""Run a request's work until it is done, the client goes away, or the deadline passes.

The work (building the Turn, awaiting the engine's first output, aggregating a non-streamed
response) runs in its own task while this one watches the ASGI ``receive`` channel for
``http.disconnect``. When the client leaves first, the work is cancelled, which closes the
engine's iterator and so frees the engine's slot at once.

Example:
    >>> result = await cancel_on_disconnect(request.receive, serving.complete(body, ctx),
    ...                                     timeout=None)   # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.types import Receive

from lethe.errors import Timeout
from lethe.gateway.errors import ClientDisconnected

T = TypeVar("T")


async def wait_for_disconnect(receive: Receive) -> None:
    """Return when the client has disconnected (the request body must be read already)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(
    receive: Receive, work: Coroutine[Any, Any, T], timeout: float | None
) -> T:
    """``await work``, cancelled when the client disconnects or after ``timeout`` seconds.

    Raises :class:`ClientDisconnected` or :class:`Timeout` in those cases; the work's own
    exceptions propagate unchanged.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(receive))
    try:
        done, _ = await asyncio.wait(
            {task, watcher}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for pending in (watcher, task):
            if not pending.done():
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
    if task in done:
        return task.result()
    if watcher in done:
        raise ClientDisconnected()
    raise Timeout(f"The request took longer than {timeout} seconds.")
