"""``request_timeout_s`` (504, or in-band once streaming) and ``log_bodies``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import openai
import pytest

from lethe.gateway.app import create_app
from tests.gateway.conftest import MODEL, make_settings
from tests.gateway.fakes import FakeEngine, Reply
from tests.gateway.live import LiveServer

SLOW = Reply(choices=(tuple(f"w{i} " for i in range(100)),), delay_s=0.01)
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine(model_id=MODEL)


@pytest.fixture(scope="module")
def live(engine: FakeEngine) -> Iterator[LiveServer]:
    settings = make_settings(request_timeout_s=0.2, log_bodies=True)
    with LiveServer(create_app(settings, engine=engine)) as server:
        yield server


@pytest.fixture
def client(live: LiveServer, engine: FakeEngine) -> openai.OpenAI:
    engine.reset()
    return openai.OpenAI(base_url=live.url + "/v1", api_key="-", max_retries=0)


def test_slow_request_is_504_and_cancelled(client: openai.OpenAI, engine: FakeEngine) -> None:
    engine.enqueue(SLOW)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=MODEL, messages=USER)
    assert caught.value.status_code == 504 and caught.value.code == "timeout"
    assert engine.cancelled.wait(5)


def test_slow_stream_ends_with_an_in_band_timeout(live: LiveServer, engine: FakeEngine) -> None:
    engine.reset()
    engine.enqueue(SLOW)
    body = {"model": MODEL, "messages": USER, "stream": True}
    with httpx.stream("POST", live.url + "/v1/chat/completions", json=body) as response:
        frames = response.read().decode().split("\n\n")
    assert response.status_code == 200
    assert '"code":"timeout"' in frames[-3] and frames[-2] == "data: [DONE]"
    assert engine.cancelled.wait(5)


def test_bodies_are_logged_when_asked(
    client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="lethe"):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "the-secret-question"}]
        )
    messages = [record.getMessage() for record in caplog.records]
    assert any("event=request_body" in m and "the-secret-question" in m for m in messages)
    assert any("event=response_body" in m and "Hello world" in m for m in messages)
