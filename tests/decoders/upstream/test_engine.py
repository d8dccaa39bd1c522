"""The ``upstream`` engine against real OpenAI-compatible servers on loopback: a bare Lethe
gateway on the scripted FakeEngine (what arrives there, what comes back, its errors), and a
scripted server for what a well-behaved one never sends."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lethe.decoders import GenerationOutput, Message, SamplingParams, Turn, Usage
from lethe.decoders.upstream.config import UpstreamEngineConfig
from lethe.decoders.upstream.engine import UpstreamEngine
from lethe.errors import (
    ContextLengthExceeded,
    EngineError,
    InvalidRequest,
    LetheError,
    Overloaded,
    Timeout,
    Unavailable,
    UpstreamError,
)
from lethe.guards.techniques import build_technique
from tests.decoders.upstream.servers import MODEL, Scripted, ScriptedUpstream, lethe_upstream, sse
from tests.gateway.fakes import FakeEngine, Reply
from tests.gateway.serve_process import free_port
from tests.tiny_model import tiny_tokenizer

QUESTION = [Message("user", "What is the capital of France?")]


@pytest.fixture(scope="module")
def fake() -> FakeEngine:
    return FakeEngine(model_id=MODEL, max_model_len=4096)


@pytest.fixture(scope="module")
def upstream_url(fake: FakeEngine) -> Iterator[str]:
    with lethe_upstream(fake) as live:
        yield live.url + "/v1"


@pytest.fixture(scope="module")
def engine(upstream_url: str) -> Iterator[UpstreamEngine]:
    engine = UpstreamEngine(UpstreamEngineConfig(upstream_url))  # model: asked upstream
    engine.load()
    yield engine
    engine.close()


@pytest.fixture(autouse=True)
def _fresh(fake: FakeEngine) -> None:
    fake.reset()


def chat(**params: Any) -> Turn:
    return Turn.chat("req-1", QUESTION, SamplingParams(**{"default_max_tokens": 16, **params}))


def run(engine: UpstreamEngine, turn: Turn) -> list[GenerationOutput]:
    """All outputs of ``turn``, in an event loop of its own (whose pool is closed after)."""

    async def go() -> list[GenerationOutput]:
        try:
            return [out async for out in engine.generate(turn)]
        finally:
            await engine._client.aclose()

    return asyncio.run(go())


def texts(outputs: list[GenerationOutput]) -> dict[int, str]:
    out: dict[int, str] = {}
    for o in outputs:
        out[o.index] = out.get(o.index, "") + o.text
    return out


def test_the_model_is_asked_upstream_and_the_answer_streams_back(engine: UpstreamEngine) -> None:
    assert engine.ready and engine.model_id == MODEL
    outputs = run(engine, chat(temperature=0.0))
    assert texts(outputs) == {0: "Hello world"}
    assert [o.finish_reason for o in outputs if o.finished] == ["stop"]
    assert outputs[-1].finished
    assert outputs[-1].usage == Usage(6, 2)  # the upstream's own count, from its usage chunk
    assert engine.stats().running == 0


def test_sampling_parameters_arrive_upstream_intact(
    engine: UpstreamEngine, fake: FakeEngine
) -> None:
    sent = SamplingParams(
        max_tokens=12,
        temperature=0.7,
        top_p=0.9,
        n=2,
        seed=1234,
        stop=("\n\n", "END"),
        logprobs=True,
        top_logprobs=2,
        presence_penalty=0.5,
        frequency_penalty=0.25,
        logit_bias={11: -100.0, 42: 3.0},
    )
    outputs = run(engine, Turn.chat("req-2", QUESTION, sent))
    got = fake.turns[0]
    assert got.messages == tuple(QUESTION)
    assert got.params.logit_bias == sent.logit_bias
    for name in ("max_tokens", "temperature", "top_p", "n", "seed", "stop", "logprobs",
                 "top_logprobs", "presence_penalty", "frequency_penalty"):  # fmt: skip
        assert getattr(got.params, name) == getattr(sent, name), name
    assert texts(outputs) == {0: "Hello world", 1: "Hello world"}
    first = outputs[0].logprobs[0]
    assert (first.token, first.logprob, [t.token for t in first.top]) == (
        "Hello",
        -0.25,
        ["alt0", "alt1"],
    )


def test_n_choices_come_back_interleaved(engine: UpstreamEngine, fake: FakeEngine) -> None:
    fake.enqueue(Reply(choices=(("a", "b"), ("c",), ("d", "e", "f"))))
    outputs = run(engine, chat(n=3))
    assert texts(outputs) == {0: "ab", 1: "c", 2: "def"}
    assert sorted(o.index for o in outputs if o.finished) == [0, 1, 2]
    assert outputs[-1].usage.completion_tokens == 6


def test_a_token_id_prompt_goes_to_completions(engine: UpstreamEngine, fake: FakeEngine) -> None:
    turn = Turn(request_id="req-3", params=SamplingParams(max_tokens=4), prompt=(5, 6, 7))
    assert texts(run(engine, turn)) == {0: "Hello world"}
    assert fake.turns[0].prompt == (5, 6, 7)


@pytest.mark.parametrize(
    ("error", "expected", "message"),
    [
        (ContextLengthExceeded("This model's maximum context length is 9 tokens.",
                               param="messages"), ContextLengthExceeded, "maximum context"),
        (InvalidRequest("n is too large", param="n"), InvalidRequest, "n is too large"),
        (Overloaded("queue full"), Overloaded, "queue full"),
        (Timeout("too slow"), Timeout, "too slow"),
        (EngineError("CUDA error: secret detail"), UpstreamError, "HTTP 500"),
    ],
)  # fmt: skip
def test_upstream_errors_are_raised_before_any_output(
    engine: UpstreamEngine,
    fake: FakeEngine,
    error: Exception,
    expected: type[LetheError],
    message: str,
) -> None:
    fake.enqueue(Reply(error=error))
    with pytest.raises(LetheError) as info:
        run(engine, chat(max_tokens=4))
    assert type(info.value) is expected and message in info.value.message
    assert len(fake.turns) == 1  # an answered request is never sent twice


def test_an_error_mid_stream_comes_after_the_first_output(
    engine: UpstreamEngine, fake: FakeEngine
) -> None:
    fake.enqueue(Reply(error_after=EngineError("boom")))
    seen: list[GenerationOutput] = []

    async def go() -> None:
        try:
            async for out in engine.generate(chat()):
                seen.append(out)
        finally:
            await engine._client.aclose()

    with pytest.raises(UpstreamError):
        asyncio.run(go())
    assert [o.text for o in seen] == ["Hello"]


def test_a_default_budget_the_upstream_refuses_is_dropped(upstream_url: str) -> None:
    small = FakeEngine(model_id=MODEL, max_model_len=20)  # 6 words of prompt + 16
    with lethe_upstream(small) as live:
        engine = UpstreamEngine(UpstreamEngineConfig(live.url + "/v1", model=MODEL))
        engine.load()
        assert texts(run(engine, chat())) == {0: "Hello world"}
        assert [t.params.max_tokens for t in small.turns] == [16, None]
        small.reset()
        with pytest.raises(ContextLengthExceeded):
            run(engine, chat(max_tokens=16))  # the client's own budget is binding
        assert len(small.turns) == 1


def test_closing_the_stream_cancels_the_upstream_request(
    engine: UpstreamEngine, fake: FakeEngine
) -> None:
    fake.enqueue(Reply(choices=(("x",) * 200,), delay_s=0.02))

    async def two_then_close() -> None:
        stream = engine.generate(chat(max_tokens=200))
        assert (await anext(stream)).text == "x"
        await anext(stream)
        await stream.aclose()
        await engine._client.aclose()

    asyncio.run(two_then_close())
    assert fake.cancelled.wait(5)
    assert engine.stats().running == 0


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream() as up:
        yield up


def scripted_engine(up: ScriptedUpstream, **config: Any) -> UpstreamEngine:
    engine = UpstreamEngine(UpstreamEngineConfig(up.url + "/v1", model=MODEL, **config))
    engine.load()
    return engine


CHUNK = {"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]}


@pytest.mark.parametrize(
    ("answer", "error", "message"),
    [
        (Scripted(body=sse(CHUNK, done=False)), UpstreamError, "before finishing"),
        (Scripted(body=sse(CHUNK, "not json")), UpstreamError, "not JSON"),
        (Scripted(body=sse(CHUNK, '{"error": {"message": "oom", "code": 500}}')),
         UpstreamError, "oom"),
        (Scripted(body=[sse(CHUNK, done=False), sse()], delay_s=0.6), Timeout, "sent nothing"),
    ],
)  # fmt: skip
def test_broken_streams(
    scripted: ScriptedUpstream, answer: Scripted, error: type[LetheError], message: str
) -> None:
    scripted.enqueue(answer)
    with pytest.raises(LetheError) as info:
        run(scripted_engine(scripted, read_timeout_s=0.3), chat())
    assert type(info.value) is error and message in info.value.message


def test_streams_read_to_done_give_their_connection_back(scripted: ScriptedUpstream) -> None:
    scripted.received.clear()
    engine = scripted_engine(scripted)
    done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    scripted.enqueue(*[Scripted(body=sse(CHUNK, done))] * 3)

    async def three() -> None:
        for _ in range(3):
            assert [o.text async for o in engine.generate(chat())] == ["Hi", ""]
        await engine._client.aclose()

    asyncio.run(three())
    assert len({r.client_port for r in scripted.received}) == 1


def test_a_configured_model_needs_no_upstream_to_start() -> None:
    engine = UpstreamEngine(
        UpstreamEngineConfig(f"http://127.0.0.1:{free_port()}/v1", model="m", retries=0)
    )
    engine.load()
    assert (engine.ready, engine.model_id, engine.max_model_len) == (True, "m", 32768)
    with pytest.raises(UpstreamError):
        run(engine, chat())


def test_discovery_waits_for_the_upstream_until_closed() -> None:
    engine = UpstreamEngine(UpstreamEngineConfig(f"http://127.0.0.1:{free_port()}/v1", retries=0))
    failures: list[BaseException] = []

    def load() -> None:
        try:
            engine.load()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=load)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and not engine.ready  # still waiting: the gateway says "loading"
    engine.close()
    thread.join(5)
    assert not thread.is_alive() and isinstance(failures[0], Unavailable)


def test_requests_before_load_and_with_processors_are_refused(upstream_url: str) -> None:
    engine = UpstreamEngine(UpstreamEngineConfig(upstream_url, model=MODEL))
    with pytest.raises(Unavailable):
        run(engine, chat())
    engine.load()

    async def with_processor() -> None:
        async for _ in engine.generate(chat(), [lambda: None]):  # type: ignore[list-item]
            pass

    with pytest.raises(EngineError):
        asyncio.run(with_processor())


def test_a_local_tokenizer_makes_forbidden_tokens_use_logit_bias(tmp_path: Path) -> None:
    tiny_tokenizer().save_pretrained(tmp_path)
    engine = UpstreamEngine(UpstreamEngineConfig("http://127.0.0.1:9/v1", tokenizer=tmp_path))
    vocabulary = engine.capabilities.vocabulary
    assert vocabulary is not None and vocabulary.encode("Paris")
    technique = build_technique("forbidden_tokens")
    technique.bind(engine.capabilities)
    assert technique.strategy == "logit_bias"  # type: ignore[attr-defined]
    bare = UpstreamEngine(UpstreamEngineConfig("http://127.0.0.1:9/v1"))
    with pytest.raises(LetheError, match="tokenizer"):
        build_technique("forbidden_tokens").bind(bare.capabilities)
