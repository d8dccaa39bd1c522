"""The upstream HTTP client: retries on connect errors only, pooling, timeouts, error mapping.

Real loopback servers wherever a server can show it; ``httpx.MockTransport`` only to count
attempts against failures a server cannot stage (a connect error, then success).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from lethe.decoders.upstream.client import UpstreamClient
from lethe.decoders.upstream.config import UpstreamEngineConfig
from lethe.decoders.upstream.errors import UNREACHABLE
from lethe.errors import LetheError, Overloaded, Timeout, UpstreamError
from tests.decoders.upstream.servers import Scripted, ScriptedUpstream, sse
from tests.gateway.serve_process import free_port

KEY = "sk-upstream-secret-123456"


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


@pytest.fixture(autouse=True)
def _fresh(upstream: ScriptedUpstream) -> None:
    upstream.script.clear()
    upstream.received.clear()


def client_for(url: str, **config: object) -> UpstreamClient:
    return UpstreamClient(UpstreamEngineConfig(url, **config))  # type: ignore[arg-type]


async def read_all(client: UpstreamClient, times: int = 1) -> bytes:
    """The body of ``times`` requests in a row (the last), then the loop's pool closed."""
    try:
        for _ in range(times):
            response = await client.open_stream("/chat/completions", {"model": "m"}, "req-1")
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        return body
    finally:
        await client.aclose()


def failure(client: UpstreamClient) -> LetheError:
    with pytest.raises(LetheError) as info:
        asyncio.run(read_all(client))
    return info.value


class Flaky:
    """A transport that fails ``failures`` times with ``exc``, then answers 200."""

    def __init__(self, exc: Exception, failures: int) -> None:
        self.exc, self.failures, self.calls = exc, failures, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc
        return httpx.Response(200, content=sse())


@pytest.mark.parametrize(
    ("exc", "failures", "calls", "error"),
    [
        (httpx.ConnectError("refused"), 2, 3, None),  # retried, then it worked
        (httpx.ConnectTimeout("syn lost"), 1, 2, None),
        (httpx.ConnectError("refused"), 9, 3, UpstreamError),  # 1 + 2 retries, then 502
        (httpx.ReadTimeout("silence"), 1, 1, Timeout),  # may have reached the model
        (httpx.RemoteProtocolError("peer closed"), 1, 1, UpstreamError),
        (httpx.WriteError("broken pipe"), 1, 1, UpstreamError),
        (httpx.PoolTimeout("pool full"), 1, 1, Overloaded),
    ],
)
def test_only_connect_errors_are_retried(
    exc: Exception, failures: int, calls: int, error: type[LetheError] | None
) -> None:
    flaky = Flaky(exc, failures)
    config = UpstreamEngineConfig("http://upstream.test/v1", retries=2)
    client = UpstreamClient(config, httpx.MockTransport(flaky))
    if error is None:
        assert asyncio.run(read_all(client)).endswith(b"data: [DONE]\n\n")
    else:
        assert type(failure(client)) is error
    assert flaky.calls == calls


def test_a_closed_port_is_a_502_unreachable_after_the_retries() -> None:
    started = time.perf_counter()
    error = failure(client_for(f"http://127.0.0.1:{free_port()}/v1", retries=2))
    assert (type(error), error.code) == (UpstreamError, UNREACHABLE)
    assert "3 attempts" in error.message and "127.0.0.1" not in error.message
    assert time.perf_counter() - started < 3  # backoff 0.1 s, then 0.2 s


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_5xx_is_not_retried(upstream: ScriptedUpstream, status: int) -> None:
    upstream.enqueue(Scripted(status, b'{"error": {"message": "exploded"}}', media_type="json"))
    error = failure(client_for(upstream.url + "/v1", retries=3))
    assert type(error) is UpstreamError and "exploded" in error.message
    assert len(upstream.received) == 1


def test_a_silent_upstream_is_a_504_and_is_not_retried(upstream: ScriptedUpstream) -> None:
    upstream.enqueue(Scripted(body=sse(), headers_delay_s=1.0))
    error = failure(client_for(upstream.url + "/v1", read_timeout_s=0.3))
    assert type(error) is Timeout
    assert len(upstream.received) == 1


def test_the_key_is_sent_and_never_shown(upstream: ScriptedUpstream) -> None:
    echo = f'{{"error": {{"message": "key {KEY} is over quota"}}}}'.encode()
    upstream.enqueue(Scripted(429, echo, media_type="application/json"))
    error = failure(client_for(upstream.url + "/v1", api_key=KEY))
    assert type(error) is Overloaded and KEY not in error.message
    headers = upstream.received[0].headers
    assert headers["authorization"] == f"Bearer {KEY}" and headers["x-request-id"] == "req-1"


def test_sequential_requests_reuse_one_pooled_connection(upstream: ScriptedUpstream) -> None:
    asyncio.run(read_all(client_for(upstream.url + "/v1"), times=3))
    assert len({r.client_port for r in upstream.received}) == 1


def test_concurrent_requests_are_bounded_by_the_pool(upstream: ScriptedUpstream) -> None:
    upstream.enqueue(*[Scripted(body=[b"", sse()], delay_s=0.5)] * 2)
    client = client_for(upstream.url + "/v1", max_connections=1, connect_timeout_s=0.2)

    async def two() -> list[object]:
        try:
            return await asyncio.gather(read(), read(), return_exceptions=True)
        finally:
            await client.aclose()

    async def read() -> bytes:
        response = await client.open_stream("/chat/completions", {}, "req-1")
        try:
            return await response.aread()
        finally:
            await response.aclose()

    results = asyncio.run(two())
    assert sorted(type(r).__name__ for r in results) == ["Overloaded", "bytes"]


def test_get_json_lists_models_and_retries_connect_errors(upstream: ScriptedUpstream) -> None:
    assert client_for(upstream.url + "/v1").get_json("/models")["data"][0]["id"] == "lethe-fake"
    with pytest.raises(UpstreamError) as info:
        client_for(f"http://127.0.0.1:{free_port()}/v1", retries=1).get_json("/models")
    assert info.value.code == UNREACHABLE and "2 attempts" in info.value.message
