"""The official ``openai`` client against a live gateway serving the real embedded model.

The server runs the real ``hf`` engine on SmolLM2-135M-Instruct with a 256-token context window
(so the context-length cases stay cheap), on uvicorn on a loopback port.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.gateway.app import create_app
from tests.gateway.bad_requests import BAD_CHAT, BAD_LEGACY
from tests.gateway.conftest import make_settings
from tests.gateway.live import LiveServer

pytestmark = pytest.mark.model

MODEL = "smollm2-135m-instruct"
FRANCE = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(smollm2: Any) -> Iterator[openai.OpenAI]:
    loaded = dataclasses.replace(smollm2, max_model_len=256)
    engine = HFEngine.from_loaded(loaded, HFEngineConfig(max_batch_size=8))
    settings = make_settings(default_max_tokens=24, max_body_bytes=1024 * 1024)
    with LiveServer(create_app(settings, engine=engine)) as live:
        yield openai.OpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0, timeout=120)


def chat(client: openai.OpenAI, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("messages", FRANCE)
    return client.chat.completions.create(**kwargs)


def test_answers_a_question_it_knows(client: openai.OpenAI) -> None:
    response = chat(client, temperature=0, max_tokens=20)
    assert "Paris" in response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens > 20 and response.usage.completion_tokens > 3
    assert response.model == MODEL


def test_streaming_with_usage_equals_the_non_streamed_answer(client: openai.OpenAI) -> None:
    whole = chat(client, temperature=0, max_tokens=20).choices[0].message.content
    chunks = list(
        chat(
            client,
            temperature=0,
            max_tokens=20,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole
    assert len(chunks) > 5  # really streamed, token by token
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 3
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_two_choices_with_a_seed_are_reproducible(client: openai.OpenAI) -> None:
    kwargs = {"n": 2, "temperature": 1.0, "seed": 1234, "max_tokens": 16}
    first = [c.message.content for c in chat(client, **kwargs).choices]
    second = [c.message.content for c in chat(client, **kwargs).choices]
    assert first == second
    assert len(first) == 2 and first[0] != first[1]


def test_stop_sequence_is_not_emitted(client: openai.OpenAI) -> None:
    response = chat(client, temperature=0, max_tokens=20, stop=["Paris"])
    text = response.choices[0].message.content
    assert "Paris" not in text and text.startswith("The capital of France is")
    assert response.choices[0].finish_reason == "stop"


def test_length_finish_reason(client: openai.OpenAI) -> None:
    response = chat(client, temperature=0, max_tokens=3)
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 3


def test_logprobs(client: openai.OpenAI) -> None:
    response = chat(client, temperature=0, max_tokens=8, logprobs=True, top_logprobs=3)
    content = response.choices[0].logprobs.content
    assert "".join(t.token for t in content) == response.choices[0].message.content
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3
        assert t.top_logprobs[0].token == t.token  # greedy takes the most likely token


def test_legacy_completion(client: openai.OpenAI) -> None:
    response = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=5, temperature=0
    )
    assert response.object == "text_completion"
    assert response.usage.completion_tokens == 5


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [pytest.param(k, e, p, id=name) for name, k, e, p in BAD_CHAT],
)
def test_bad_chat_requests(
    client: openai.OpenAI, kwargs: dict[str, Any], error: type, param: str | None
) -> None:
    with pytest.raises(error) as caught:
        chat(client, **kwargs)
    assert caught.value.body["param"] == param and caught.value.body["message"]


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [pytest.param(k, e, p, id=name) for name, k, e, p in BAD_LEGACY],
)
def test_bad_legacy_requests(
    client: openai.OpenAI, kwargs: dict[str, Any], error: type, param: str | None
) -> None:
    with pytest.raises(error) as caught:
        client.completions.create(**{"model": MODEL, "prompt": "hi", **kwargs})
    assert caught.value.body["param"] == param


def test_still_serving_after_bad_requests(client: openai.OpenAI) -> None:
    assert "Paris" in chat(client, temperature=0, max_tokens=20).choices[0].message.content
