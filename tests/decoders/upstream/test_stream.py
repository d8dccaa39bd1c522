"""SSE parsing over real HTTP, and upstream chunks as GenerationOutput deltas."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lethe.decoders import GenerationOutput, TokenLogprob, TopLogprob, Usage
from lethe.decoders.upstream.stream import ChunkDecoder, chat_logprobs, finish_reason, sse_data
from tests.decoders.upstream.servers import Scripted, ScriptedUpstream

WIRE = (
    b": a comment line\n"
    b"event: message\n"
    b"id: 7\n"
    b'data: {"a": 1}\n'
    b"\n"
    b'data:{"b": 2}\r\n'
    b"\r\n"
    b"data: line one\n"
    b"data: line two\n"
    b"\n"
    b"retry: 100\n"
    b"data: [DONE]\n"
    b"\n"
)
EXPECTED = ['{"a": 1}', '{"b": 2}', "line one\nline two", "[DONE]"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def read_events(url: str) -> list[str]:
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", url + "/v1/chat/completions", json={}) as response,
    ):
        return [data async for data in sse_data(response)]


@pytest.mark.parametrize("size", [len(WIRE), 1, 3, 7, 16])
def test_sse_events_survive_any_split_of_the_bytes(upstream: ScriptedUpstream, size: int) -> None:
    upstream.enqueue(Scripted(body=split_every(WIRE, size)))
    assert asyncio.run(read_events(upstream.url)) == EXPECTED


def test_a_last_event_without_its_blank_line_still_counts(upstream: ScriptedUpstream) -> None:
    upstream.enqueue(Scripted(body=b'data: {"a": 1}\n\ndata: {"b": 2}'))
    assert asyncio.run(read_events(upstream.url)) == ['{"a": 1}', '{"b": 2}']


def chat(index: int, text: str | None = None, reason: str | None = None, **extra: Any) -> dict:
    delta = {"content": text} if text is not None else {"role": "assistant"}
    choice = {"index": index, "delta": delta, "finish_reason": reason, **extra}
    return {"object": "chat.completion.chunk", "choices": [choice], "usage": None}


def usage(prompt: int, completion: int) -> dict:
    return {"choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion}}


def feed_all(decoder: ChunkDecoder, chunks: list[dict]) -> list[GenerationOutput]:
    outputs = [out for chunk in chunks for out in decoder.feed(chunk)]
    return outputs + decoder.close()


def test_role_only_chunks_yield_nothing_and_the_last_output_waits_for_done() -> None:
    decoder = ChunkDecoder(n=1, chat=True)
    assert decoder.feed(chat(0)) == []
    assert decoder.feed(chat(0, "Hel")) == [GenerationOutput(0, "Hel", Usage(0, 1))]
    assert decoder.feed(chat(0, "lo", "stop")) == []  # held: the usage chunk follows
    assert decoder.feed(usage(9, 2)) == []  # held until [DONE]
    assert decoder.all_finished
    assert decoder.close() == [GenerationOutput(0, "lo", Usage(9, 2), (), "stop")]
    assert decoder.close() == []


def test_without_a_usage_chunk_the_held_output_comes_at_the_end_with_the_estimate() -> None:
    outputs = feed_all(ChunkDecoder(n=1, chat=True), [chat(0, "a"), chat(0, "b", "length")])
    assert outputs[-1] == GenerationOutput(0, "b", Usage(0, 2), (), "length")


def test_n_choices_interleave_and_each_finishes_once() -> None:
    chunks = [
        chat(0, "x"),
        chat(1, "y"),
        chat(1, "", "stop"),
        chat(0, "z", "stop"),
        chat(0, "late", "stop"),  # after its finish: ignored
        chat(5, "out of range"),
        usage(4, 3),
    ]
    outputs = feed_all(ChunkDecoder(n=2, chat=True), chunks)
    texts = {i: "".join(o.text for o in outputs if o.index == i) for i in (0, 1)}
    assert texts == {0: "xz", 1: "y"}
    assert [o.index for o in outputs if o.finished] == [1, 0]
    assert outputs[-1].usage == Usage(4, 3)


def test_a_choice_the_upstream_never_finished_ends_as_stop_on_done() -> None:
    outputs = feed_all(ChunkDecoder(n=2, chat=True), [chat(0, "a", "stop"), chat(1, "b")])
    assert [(o.index, o.finish_reason) for o in outputs if o.finished] == [(0, "stop"), (1, "stop")]


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, None), ("stop", "stop"), ("length", "length"), ("content_filter", "stop"),
     ("tool_calls", "stop"), ("eos", "stop")],
)  # fmt: skip
def test_finish_reasons(given: str | None, expected: str | None) -> None:
    assert finish_reason(given) == expected


def test_chat_logprobs_become_token_logprobs() -> None:
    entry = {
        "token": " Par",
        "logprob": -0.5,
        "bytes": [32, 80, 97, 114],
        "top_logprobs": [{"token": " Par", "logprob": -0.5}, {"token": " Lon", "logprob": None}],
    }
    decoder = ChunkDecoder(n=1, chat=True)
    outputs = decoder.feed(chat(0, " Par", logprobs={"content": [entry]}))
    expected = TokenLogprob(
        " Par",
        -0.5,
        (32, 80, 97, 114),
        (TopLogprob(" Par", -0.5, tuple(b" Par")), TopLogprob(" Lon", -9999.0, tuple(b" Lon"))),
    )
    assert outputs[0].logprobs == (expected,)
    assert chat_logprobs(None) == ()


def test_legacy_completion_chunks_with_logprobs() -> None:
    chunk = {
        "choices": [
            {
                "index": 0,
                "text": "ab",
                "finish_reason": None,
                "logprobs": {
                    "tokens": ["a", "b"],
                    "token_logprobs": [-1.0, -2.0],
                    "top_logprobs": [{"a": -1.0, "c": -3.0}, {"b": -2.0}],
                },
            }
        ]
    }
    outputs = ChunkDecoder(n=1, chat=False).feed(chunk)
    assert outputs[0].text == "ab" and outputs[0].usage == Usage(0, 2)
    first = outputs[0].logprobs[0]
    assert (first.token, first.logprob, [t.token for t in first.top]) == ("a", -1.0, ["a", "c"])
