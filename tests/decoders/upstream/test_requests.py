"""A Turn as the OpenAI request body sent upstream (what a real upstream makes of it is in
test_engine.py)."""

from __future__ import annotations

from typing import Any

import pytest

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.upstream.requests import request_body

STREAMED = {"stream": True, "stream_options": {"include_usage": True}}


def chat(**params: Any) -> Turn:
    messages = [Message("developer", "Be brief."), Message("user", "Hi")]
    return Turn.chat("r1", messages, SamplingParams(**params))


def completion(prompt: str | tuple[int, ...], **params: Any) -> Turn:
    return Turn(request_id="r2", params=SamplingParams(**params), prompt=prompt)


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        (
            chat(),
            {"temperature": 1.0},
        ),
        (
            chat(max_tokens=8, default_max_tokens=64, temperature=0.0, n=3, seed=7,
                 stop=("\n", "END"), top_p=0.9, top_k=40, presence_penalty=0.5,
                 frequency_penalty=-0.5, logit_bias={5: -100, 9: 2.5}),
            {"temperature": 0.0, "max_tokens": 8, "n": 3, "seed": 7, "stop": ["\n", "END"],
             "top_p": 0.9, "top_k": 40, "presence_penalty": 0.5, "frequency_penalty": -0.5,
             "logit_bias": {"5": -100, "9": 2.5}},
        ),
        (
            chat(default_max_tokens=64),
            {"temperature": 1.0, "max_tokens": 64},
        ),
        (
            chat(logprobs=True, top_logprobs=3, ignore_eos=True),
            {"temperature": 1.0, "logprobs": True, "top_logprobs": 3, "ignore_eos": True},
        ),
        (
            chat(logprobs=True),
            {"temperature": 1.0, "logprobs": True},
        ),
    ],
)  # fmt: skip
def test_chat_bodies(turn: Turn, expected: dict[str, Any]) -> None:
    path, body = request_body(turn, "up-model")
    assert path == "/chat/completions"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert body == {"model": "up-model", "messages": messages, **expected, **STREAMED}


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        (completion("Once upon", max_tokens=4), {"prompt": "Once upon", "max_tokens": 4}),
        (completion((1, 2, 3)), {"prompt": [1, 2, 3]}),
        (completion("x", logprobs=True, top_logprobs=2), {"prompt": "x", "logprobs": 2}),
        (completion("x", logprobs=True), {"prompt": "x", "logprobs": 0}),
    ],
)
def test_completion_bodies(turn: Turn, expected: dict[str, Any]) -> None:
    path, body = request_body(turn, "up-model")
    assert path == "/completions"
    assert body == {"model": "up-model", "temperature": 1.0, **expected, **STREAMED}


@pytest.mark.parametrize(
    ("max_tokens", "default", "sent"),
    [(None, 64, None), (8, 64, 8), (None, None, None)],
)
def test_without_the_default_budget_only_the_clients_is_sent(
    max_tokens: int | None, default: int | None, sent: int | None
) -> None:
    turn = chat(max_tokens=max_tokens, default_max_tokens=default)
    _, body = request_body(turn, "m", default_budget=False)
    assert body.get("max_tokens") == sent
