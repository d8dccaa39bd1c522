"""The official ``openai`` client against a live gateway (uvicorn on loopback, fake engine)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from lethe.errors import EngineError, Overloaded
from tests.gateway.bad_requests import BAD_CHAT, BAD_LEGACY, LONG_PROMPT
from tests.gateway.conftest import MODEL
from tests.gateway.fakes import FakeEngine, Reply

USER = [{"role": "user", "content": "Say hello"}]


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("messages", USER)
    return client.chat.completions.create(**kwargs)


def test_chat_completion_shape(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = chat(client)
    assert response.id.startswith("chatcmpl-")
    assert response.object == "chat.completion"
    assert response.model == MODEL
    assert response.system_fingerprint.startswith("fp_lethe_")
    assert isinstance(response.created, int)
    [choice] = response.choices
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello world"
    assert choice.message.refusal is None
    assert choice.logprobs is None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (2, 2)
    assert response.usage.total_tokens == 4
    assert engine.turns[0].messages[0].content == "Say hello"


def test_two_choices_are_separated(client: openai.OpenAI, engine: FakeEngine) -> None:
    engine.enqueue(Reply(choices=(("A", "a"), ("B", "b", "b")), finish_reason="length"))
    response = chat(client, n=2)
    assert [c.message.content for c in response.choices] == ["Aa", "Bbb"]
    assert [c.index for c in response.choices] == [0, 1]
    assert {c.finish_reason for c in response.choices} == {"length"}
    assert response.usage.completion_tokens == 5


def test_sampling_fields_reach_the_turn(client: openai.OpenAI, engine: FakeEngine) -> None:
    chat(
        client,
        stop=["\n\n", "END"],
        seed=7,
        temperature=0.3,
        top_p=0.9,
        max_completion_tokens=12,
        max_tokens=99,
        logit_bias={"42": -100},
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        extra_body={"top_k": 5},
    )
    params = engine.turns[0].params
    assert params.stop == ("\n\n", "END")
    assert (params.seed, params.temperature, params.top_p, params.top_k) == (7, 0.3, 0.9, 5)
    assert params.max_tokens == 12  # max_completion_tokens wins over max_tokens
    assert dict(params.logit_bias) == {42: -100.0}
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -0.5)


def test_default_max_tokens_from_settings(client: openai.OpenAI, engine: FakeEngine) -> None:
    chat(client)
    params = engine.turns[0].params
    assert (params.max_tokens, params.default_max_tokens) == (None, 16)  # clamped by the engine


def test_logprobs_shape(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = chat(client, logprobs=True, top_logprobs=2)
    assert engine.turns[0].params.logprobs and engine.turns[0].params.top_logprobs == 2
    content = response.choices[0].logprobs.content
    assert [t.token for t in content] == ["Hello", " world"]
    assert content[0].logprob == -0.25
    assert content[0].bytes == list(b"Hello")
    assert [t.token for t in content[0].top_logprobs] == ["alt0", "alt1"]


def test_text_content_parts_are_joined(client: openai.OpenAI, engine: FakeEngine) -> None:
    parts = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    chat(
        client,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": parts}],
    )
    messages = engine.turns[0].messages
    assert [(m.role, m.content) for m in messages] == [
        ("system", "be brief"),
        ("user", "first\nsecond"),
    ]


def test_stream_with_usage(client: openai.OpenAI) -> None:
    chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    first, *middle, finish, usage = chunks
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content for c in middle) == "Hello world"
    assert finish.choices[0].finish_reason == "stop"
    assert finish.choices[0].delta.content is None
    assert all(c.usage is None for c in chunks[:-1])
    assert usage.choices == [] and usage.usage.total_tokens == 4


def test_stream_interleaves_two_choices(client: openai.OpenAI, engine: FakeEngine) -> None:
    engine.enqueue(Reply(choices=(("x", "y"), ("p", "q"))))
    texts: dict[int, str] = {0: "", 1: ""}
    finished = set()
    for chunk in chat(client, stream=True, n=2, logprobs=True):
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.delta.content:
                assert choice.logprobs.content[0].token == choice.delta.content
            if choice.finish_reason:
                finished.add(choice.index)
    assert texts == {0: "xy", 1: "pq"} and finished == {0, 1}


def test_legacy_completion_several_prompts(client: openai.OpenAI, engine: FakeEngine) -> None:
    response = client.completions.create(model=MODEL, prompt=["one", "two"], n=2, max_tokens=3)
    assert response.object == "text_completion" and response.id.startswith("cmpl-")
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert [t.prompt for t in engine.turns] == ["one", "two"]
    assert engine.turns[0].params.max_tokens == 3
    assert response.usage.prompt_tokens == 2 and response.usage.completion_tokens == 8


def test_legacy_completion_echo_and_logprobs(client: openai.OpenAI) -> None:
    echoed = client.completions.create(model=MODEL, prompt="Hi:", echo=True)
    assert echoed.choices[0].text == "Hi:Hello world"
    scored = client.completions.create(model=MODEL, prompt=[1, 2, 3], logprobs=1)
    logprobs = scored.choices[0].logprobs
    assert logprobs.tokens == ["Hello", " world"]
    assert logprobs.text_offset == [0, 5]
    assert logprobs.top_logprobs[0] == {"alt0": -1.0, "Hello": -0.25}


def test_legacy_stream(client: openai.OpenAI) -> None:
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="Q", echo=True, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(choice.text for chunk in chunks for choice in chunk.choices)
    assert text == "QHello world"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 2


def test_models(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]
    assert client.models.retrieve(MODEL).owned_by == "lethe"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4")
    assert caught.value.code == "model_not_found"


def test_unknown_fields_are_accepted(client: openai.OpenAI) -> None:
    response = chat(
        client,
        user="u-1",
        metadata={"k": "v"},
        store=False,
        parallel_tool_calls=False,
        response_format={"type": "text"},
        extra_body={"reasoning_effort": "low", "some_vendor_flag": {"x": 1}},
    )
    assert response.choices[0].message.content == "Hello world"


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [pytest.param(k, e, p, id=name) for name, k, e, p in BAD_CHAT],
)
def test_bad_chat_requests(
    client: openai.OpenAI, kwargs: dict[str, Any], error: type, param: str | None
) -> None:
    with pytest.raises(error) as caught:
        chat(client, **kwargs)
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == param and body["message"]
    assert chat(client).choices[0].message.content == "Hello world"  # still serving


def test_context_length_code(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, messages=[{"role": "user", "content": LONG_PROMPT}])
    assert caught.value.code == "context_length_exceeded"


def test_overloaded_is_429(client: openai.OpenAI, engine: FakeEngine) -> None:
    engine.enqueue(Reply(error=Overloaded("the queue is full")))
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)
    assert caught.value.response.headers["retry-after"] == "1"


def test_engine_failure_is_500_without_details(client: openai.OpenAI, engine: FakeEngine) -> None:
    engine.enqueue(Reply(error=EngineError("CUDA exploded at 0xdeadbeef")))
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client)
    assert "0xdeadbeef" not in str(caught.value.body)
    assert caught.value.response.headers["x-request-id"] in caught.value.message


def test_error_after_first_chunk_goes_in_band(client: openai.OpenAI, engine: FakeEngine) -> None:
    engine.enqueue(Reply(error_after=EngineError("lost the GPU")))
    stream = chat(client, stream=True)
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    assert "lost the GPU" not in str(caught.value)


def test_stream_disconnect_cancels_generation(client: openai.OpenAI, engine: FakeEngine) -> None:
    engine.enqueue(Reply(choices=(tuple(f"t{i} " for i in range(200)),), delay_s=0.02))
    with chat(client, stream=True) as stream:
        next(iter(stream))
    assert engine.cancelled.wait(5), "the engine iterator was not closed after the disconnect"


def test_unauthenticated_requests_are_401() -> None:
    from lethe.gateway.app import create_app
    from tests.gateway.conftest import make_settings
    from tests.gateway.live import LiveServer

    engine = FakeEngine(model_id=MODEL)
    with LiveServer(create_app(make_settings(api_keys=["k1", "k2"]), engine=engine)) as live:
        bad = openai.OpenAI(base_url=live.url + "/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            chat(bad)
        assert caught.value.code == "invalid_api_key"
        good = openai.OpenAI(base_url=live.url + "/v1", api_key="k2", max_retries=0)
        assert chat(good).choices[0].message.content == "Hello world"
    assert engine.closed


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [pytest.param(k, e, p, id=name) for name, k, e, p in BAD_LEGACY],
)
def test_bad_legacy_requests(
    client: openai.OpenAI, kwargs: dict[str, Any], error: type, param: str | None
) -> None:
    kwargs = {"model": MODEL, "prompt": "hi", **kwargs}
    with pytest.raises(error) as caught:
        client.completions.create(**kwargs)
    assert caught.value.body["param"] == param
    assert client.completions.create(model=MODEL, prompt="hi").choices[0].text == "Hello world"
