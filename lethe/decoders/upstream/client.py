"""The HTTP side of the ``upstream`` engine: one pooled httpx client per event loop.

- **Pool**: at most ``max_connections`` concurrent requests; idle keep-alive connections are
  reused (a stream read to its end hands its connection back).
- **Retries**: connect errors only (:data:`RETRYABLE`: refused, unreachable, connect timeout),
  ``retries`` times with a doubling backoff from :data:`RETRY_BACKOFF_S`. Nothing that may have
  reached the model is retried: a retried request could generate twice.
- **Timeouts**: ``connect_timeout_s`` per connection attempt and for a free pooled connection,
  ``read_timeout_s`` for the longest silence of the upstream.
- **Errors**: a non-2xx answer is read (at most 64 KiB) and raised as a Lethe error before
  anything streams (``errors.py``); the API key and URL user-info never reach a message or log.

Example:
    >>> client = UpstreamClient(UpstreamEngineConfig("http://user:pw123@127.0.0.1:8080/v1"))
    >>> client.secrets, client.host
    (('user', 'pw123'), '127.0.0.1:8080')
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from lethe.decoders.upstream.config import UpstreamEngineConfig
from lethe.decoders.upstream.errors import status_error, transport_error
from lethe.errors import LetheError, UpstreamError

logger = logging.getLogger(__name__)

MAX_ERROR_BODY = 64 * 1024
RETRYABLE = (httpx.ConnectError, httpx.ConnectTimeout)
"""The only failures retried: the request never reached the upstream."""
RETRY_BACKOFF_S = 0.1
KEEPALIVE_EXPIRY_S = 2.0
"""Idle pooled connections are dropped after this, before most servers close them."""

T = TypeVar("T")


def url_secrets(config: UpstreamEngineConfig) -> tuple[str, ...]:
    """Strings that must never appear in a message: the API key and the URL's user-info."""
    parts = urlsplit(config.base_url)
    found = [config.api_key or "", parts.username or "", parts.password or ""]
    return tuple(s for s in found if len(s) >= 3)


def safe_host(config: UpstreamEngineConfig) -> str:
    """``host:port`` of the upstream, for logs (no user-info, no path or query)."""
    parts = urlsplit(config.base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


class UpstreamClient:
    """Sends requests to the upstream and maps every failure to a Lethe error.

    ``transport`` replaces httpx's network transport (tests: ``httpx.MockTransport``).
    """

    def __init__(
        self, config: UpstreamEngineConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.secrets = url_secrets(config)
        self.host = safe_host(config)
        self._transport = transport
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._closing: set[asyncio.Future[None]] = set()

    @property
    def attempts(self) -> int:
        """Connection attempts per request: the first and the retries."""
        return self.config.retries + 1

    def _options(self) -> dict[str, Any]:
        c = self.config
        headers = {"Accept": "text/event-stream, application/json"}
        if c.api_key:
            headers["Authorization"] = f"Bearer {c.api_key}"
        timeout = httpx.Timeout(
            connect=c.connect_timeout_s,
            read=c.read_timeout_s,
            write=c.read_timeout_s,
            pool=c.connect_timeout_s,
        )
        return {"base_url": c.base_url, "headers": headers, "timeout": timeout}

    def _limits(self) -> httpx.Limits:
        size = self.config.max_connections
        return httpx.Limits(
            max_connections=size,
            max_keepalive_connections=size,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )

    def _client(self) -> httpx.AsyncClient:
        """The running loop's client (an httpx pool belongs to one event loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            transport = self._transport or httpx.AsyncHTTPTransport(limits=self._limits())
            client = httpx.AsyncClient(transport=transport, **self._options())
            self._clients[loop] = client
        return client

    def error_of(self, exc: httpx.HTTPError, request_id: str = "-") -> LetheError:
        """The Lethe error for a transport failure (logged with the host only)."""
        logger.warning(
            "event=upstream_transport_error request_id=%s host=%s error=%s",
            request_id,
            self.host,
            type(exc).__name__,
        )
        return transport_error(
            exc, attempts=self.attempts, read_timeout_s=self.config.read_timeout_s
        )

    async def open_stream(self, path: str, body: dict[str, Any], request_id: str) -> httpx.Response:
        """POST ``body`` to ``path`` and return the open streaming response (2xx only).

        A non-2xx answer is read, closed and raised as a Lethe error; so is a transport failure.
        The caller must close the response (``aclose``), which drops the upstream connection
        when the answer was not read to its end: that is how cancellation reaches the upstream.
        """
        client = self._client()
        request = client.build_request(
            "POST", path, json=body, headers={"X-Request-Id": request_id}
        )
        try:
            response = await self._retrying(lambda: client.send(request, stream=True), request_id)
        except httpx.HTTPError as exc:
            raise self.error_of(exc, request_id) from None
        if response.status_code < 400:
            return response
        try:
            content = await _read_capped(response)
        except httpx.HTTPError:
            content = b""
        finally:
            await response.aclose()
        logger.warning(
            "event=upstream_error request_id=%s host=%s status=%d",
            request_id,
            self.host,
            response.status_code,
        )
        raise status_error(response.status_code, content, self.config.model, self.secrets)

    async def _retrying(self, send: Callable[[], Awaitable[T]], request_id: str) -> T:
        """``send()``, again after a connect error, at most :attr:`attempts` times."""
        attempt = 1
        while True:
            try:
                return await send()
            except RETRYABLE as exc:
                if attempt >= self.attempts:
                    raise
                _log_retry(request_id, self.host, attempt, exc)
                await asyncio.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
                attempt += 1

    def get_json(self, path: str) -> Any:
        """GET ``path`` synchronously (start-up only: model discovery), as JSON; connect
        errors are retried like a request's."""
        with httpx.Client(transport=httpx.HTTPTransport(), **self._options()) as client:
            attempt = 1
            while True:
                try:
                    response = client.get(path)
                    break
                except RETRYABLE as exc:
                    if attempt >= self.attempts:
                        raise self.error_of(exc) from None
                    _log_retry("-", self.host, attempt, exc)
                    time.sleep(RETRY_BACKOFF_S * 2 ** (attempt - 1))
                    attempt += 1
                except httpx.HTTPError as exc:
                    raise self.error_of(exc) from None
        if response.status_code >= 400:
            raise status_error(
                response.status_code, response.content, self.config.model, self.secrets
            )
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"the upstream's answer to GET {path} is not JSON") from None

    async def aclose(self) -> None:
        """Close the running loop's pool (a caller that runs one event loop per task)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Close every pool (at shutdown; streams still open end).

        Called from the loop that serves (the app's lifespan) or from any other thread.
        """
        clients, self._clients = self._clients, {}
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, client in clients.items():
            if loop.is_closed():
                continue
            if running is loop:
                task = loop.create_task(client.aclose())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)


def _log_retry(request_id: str, host: str, attempt: int, exc: Exception) -> None:
    logger.info(
        "event=upstream_connect_retry request_id=%s host=%s attempt=%d error=%s",
        request_id,
        host,
        attempt,
        type(exc).__name__,
    )


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ERROR_BODY:
            break
    return b"".join(chunks)[:MAX_ERROR_BODY]
