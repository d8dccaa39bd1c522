"""SSE frames: data frames, ``[DONE]``, in-band errors, keep-alive comments while a stream is
silent, and clean closing while a payload is pending; then keep-alives through a live gateway,
where a first output later than ``sse_keepalive_s`` starts the stream without it."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from typing import TypeVar

import anyio
import httpx
import openai
import pytest

from lethe.errors import EngineError, Overloaded
from lethe.gateway.app import create_app
from lethe.gateway.sse import DONE_FRAME, KEEPALIVE_FRAME, data_frame, event_stream
from tests.gateway.conftest import MODEL, make_settings
from tests.gateway.fakes import FakeEngine, Reply
from tests.gateway.live import LiveServer

T = TypeVar("T")

KEEPALIVE_S = 0.1
SILENCE_S = 0.35  # three and a half keep-alive periods


def run_cleanly(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` on a fresh loop; fail on any warning or any error the loop reports (an
    unretrieved task exception, an async generator that had to be closed at shutdown)."""
    reported: list[str] = []

    async def watched() -> T:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
        return await main()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = asyncio.run(watched())
        gc.collect()
    assert reported == []
    assert [str(w.message) for w in caught] == []
    return result


async def slow(*payloads: str, silence_s: float = SILENCE_S) -> AsyncGenerator[str, None]:
    """Each payload after ``silence_s`` of silence."""
    for payload in payloads:
        await asyncio.sleep(silence_s)
        yield payload


async def failing(silence_s: float = SILENCE_S) -> AsyncGenerator[str, None]:
    await asyncio.sleep(silence_s)
    raise EngineError("lost the GPU")
    yield "never"


async def frames_of(payloads: AsyncGenerator[str, None], keepalive_s: float | None) -> list[str]:
    return [frame async for frame in event_stream(payloads, "req-1", keepalive_s)]


def test_silence_sends_keepalives_and_keeps_the_pending_payload() -> None:
    frames = run_cleanly(lambda: frames_of(slow('{"a": 1}', '{"b": 2}'), KEEPALIVE_S))
    first = frames.index(data_frame('{"a": 1}'))
    second = frames.index(data_frame('{"b": 2}'))
    assert first >= 2 and set(frames[:first]) == {KEEPALIVE_FRAME}
    assert second - first >= 3 and set(frames[first + 1 : second]) == {KEEPALIVE_FRAME}
    assert frames[second + 1 :] == [DONE_FRAME]


@pytest.mark.parametrize("keepalive_s", [None, 0.0, -1.0])
def test_keepalives_can_be_turned_off(keepalive_s: float | None) -> None:
    frames = run_cleanly(lambda: frames_of(slow('{"a": 1}', silence_s=0.25), keepalive_s))
    assert frames == [data_frame('{"a": 1}'), DONE_FRAME]


def test_fast_payloads_send_no_keepalive() -> None:
    frames = run_cleanly(lambda: frames_of(slow("1", "2", "3", silence_s=0), KEEPALIVE_S))
    assert frames == [data_frame("1"), data_frame("2"), data_frame("3"), DONE_FRAME]


def test_error_after_a_silence_goes_in_band() -> None:
    frames = run_cleanly(lambda: frames_of(failing(), KEEPALIVE_S))
    *keepalives, error, done = frames
    assert len(keepalives) >= 2 and set(keepalives) == {KEEPALIVE_FRAME}
    assert error.startswith("data: ") and done == DONE_FRAME
    body = json.loads(error.removeprefix("data: "))
    assert "error" in body and "req-1" in body["error"]["message"]
    assert "lost the GPU" not in error


class Pending:
    """A payload generator stuck on its first payload; records how it ended."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def payloads(self) -> AsyncGenerator[str, None]:
        try:
            await asyncio.sleep(60)
            yield "never"
        except asyncio.CancelledError:
            self.events.append("cancelled")
            raise
        finally:
            await asyncio.sleep(0.01)  # closing takes a while, as the engine's does
            self.events.append("closed")


async def close_frames(frames: AsyncGenerator[str, None]) -> list[str]:
    seen = [await anext(frames)]
    await frames.aclose()
    return seen


async def cancel_consumer(frames: AsyncGenerator[str, None]) -> list[str]:
    seen: list[str] = []

    async def consume() -> None:
        async for frame in frames:
            seen.append(frame)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.25)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await frames.aclose()
    return seen


async def cancel_task_group(frames: AsyncGenerator[str, None]) -> list[str]:
    """As EventStreamResponse does when the client leaves: anyio cancels the task group (and
    cancels again at every await until it is over), then the frames are closed."""
    seen: list[str] = []
    async with anyio.create_task_group() as group:

        async def consume() -> None:
            async for frame in frames:
                seen.append(frame)

        group.start_soon(consume)
        await anyio.sleep(0.25)
        group.cancel_scope.cancel()
    await frames.aclose()
    return seen


@pytest.mark.parametrize(
    ("stop", "keepalive_s"),
    [
        (close_frames, KEEPALIVE_S),  # closed at a keep-alive: without them, no frame to stop at
        (cancel_consumer, KEEPALIVE_S),
        (cancel_consumer, None),
        (cancel_task_group, KEEPALIVE_S),
        (cancel_task_group, None),
    ],
)
def test_closing_while_a_payload_is_pending(
    stop: Callable[[AsyncGenerator[str, None]], Awaitable[list[str]]],
    keepalive_s: float | None,
) -> None:
    source = Pending()

    async def main() -> list[str]:
        seen = await stop(event_stream(source.payloads(), "req-1", keepalive_s))
        assert source.events == ["cancelled", "closed"]  # before the loop closes leftovers
        return seen

    seen = run_cleanly(main)
    assert set(seen) <= {KEEPALIVE_FRAME}
    assert DONE_FRAME not in seen


@pytest.fixture(scope="module")
def module_engine() -> FakeEngine:
    return FakeEngine(model_id=MODEL, max_model_len=256)


@pytest.fixture
def slow_engine(module_engine: FakeEngine) -> FakeEngine:
    module_engine.reset()
    return module_engine


@pytest.fixture(scope="module")
def keepalive_server(module_engine: FakeEngine) -> Iterator[LiveServer]:
    app = create_app(make_settings(sse_keepalive_s=KEEPALIVE_S), engine=module_engine)
    with LiveServer(app) as live:
        yield live


@pytest.fixture(scope="module")
def slow_client(keepalive_server: LiveServer) -> openai.OpenAI:
    url = keepalive_server.url + "/v1"
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=10)


SILENT = pytest.mark.parametrize(
    "reply",
    [
        # nothing for a while: the response starts after keepalive_s, before the first output
        pytest.param(Reply(delay_s=SILENCE_S), id="held-back"),
        # the first output, then a while of nothing
        pytest.param(Reply(pause_s=SILENCE_S), id="silent-midway"),
    ],
)
CHAT = [{"role": "user", "content": "Say hello"}]


def streamed_chat(client: openai.OpenAI) -> tuple[str, list[str | None]]:
    chunks = list(client.chat.completions.create(model=MODEL, messages=CHAT, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, [c.choices[0].finish_reason for c in chunks if c.choices]


@SILENT
def test_openai_client_reads_through_keepalives(
    slow_client: openai.OpenAI, slow_engine: FakeEngine, reply: Reply
) -> None:
    slow_engine.enqueue(Reply(), reply)
    prompt, held = streamed_chat(slow_client), streamed_chat(slow_client)
    assert held == prompt == ("Hello world", [None, None, None, "stop"])


@SILENT
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": CHAT}),
        ("/v1/completions", {"prompt": "Say hello"}),
    ],
)
def test_keepalives_reach_the_wire(
    keepalive_server: LiveServer,
    slow_engine: FakeEngine,
    reply: Reply,
    path: str,
    body: dict[str, object],
) -> None:
    slow_engine.enqueue(reply)
    with httpx.stream(
        "POST",
        keepalive_server.url + path,
        json={"model": MODEL, "stream": True, **body},
        timeout=10,
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    keepalives = [i for i, line in enumerate(lines) if line == KEEPALIVE_FRAME.strip()]
    assert len(keepalives) >= 2
    assert (keepalives[0] == 0) == (reply.delay_s > 0)  # held back: a comment comes first
    assert lines[keepalives[-1] + 1].startswith("data: {")
    assert lines[-1] == "data: [DONE]"


def test_a_slow_first_error_goes_in_band(
    slow_client: openai.OpenAI, slow_engine: FakeEngine
) -> None:
    slow_engine.enqueue(Reply(error=EngineError("lost the GPU"), delay_s=SILENCE_S))
    stream = slow_client.chat.completions.create(model=MODEL, messages=CHAT, stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "lost the GPU" not in str(caught.value)


def test_a_fast_first_error_is_an_http_error(
    slow_client: openai.OpenAI, slow_engine: FakeEngine
) -> None:
    slow_engine.enqueue(Reply(error=Overloaded("the queue is full")))
    with pytest.raises(openai.RateLimitError):
        slow_client.chat.completions.create(model=MODEL, messages=CHAT, stream=True)
