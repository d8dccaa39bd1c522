"""Chat request → Turn conversion, and the chat response / chunk wire shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lethe.decoders import TokenLogprob, TopLogprob
from lethe.errors import ContextLengthExceeded, InvalidRequest, UnsupportedFeature
from lethe.gateway.protocol import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatLogprobs,
    CompletionMeta,
    RequestLimits,
)

LIMITS = RequestLimits(max_n=4, default_max_tokens=64, max_model_len=1024)
META = CompletionMeta(id="chatcmpl-1", created=5, model="m", system_fingerprint="fp_x")


def request(**fields: Any) -> ChatCompletionRequest:
    fields.setdefault("model", "m")
    fields.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return ChatCompletionRequest.model_validate(fields)


def test_roles_and_content_forms() -> None:
    turn = request(
        messages=[
            {"role": "system", "content": "s"},
            {"role": "developer", "content": "d"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": None},
        ]
    ).to_turn("r-1", LIMITS)
    assert [(m.role, m.content) for m in turn.messages] == [
        ("system", "s"),
        ("developer", "d"),
        ("user", "a\nb"),
        ("assistant", ""),
    ]
    assert turn.request_id == "r-1" and turn.is_chat


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {},
            {
                "max_tokens": None,
                "default_max_tokens": 64,
                "temperature": 1.0,
                "top_p": 1.0,
                "n": 1,
                "stop": (),
            },
        ),
        ({"max_tokens": 8}, {"max_tokens": 8}),
        ({"max_tokens": 8, "max_completion_tokens": 9}, {"max_tokens": 9}),
        ({"stop": "x"}, {"stop": ("x",)}),
        ({"stop": ["x", "y"]}, {"stop": ("x", "y")}),
        ({"top_k": -1}, {"top_k": 0}),
        ({"top_k": 3}, {"top_k": 3}),
        ({"logprobs": True, "top_logprobs": 3}, {"logprobs": True, "top_logprobs": 3}),
        ({"temperature": 0}, {"greedy": True}),
        ({"seed": 11, "n": 4}, {"seed": 11, "n": 4}),
    ],
)
def test_sampling_conversion(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    params = request(**fields).to_turn("r", LIMITS).params
    assert {key: getattr(params, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("fields", "error", "param"),
    [
        ({"messages": []}, InvalidRequest, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, InvalidRequest, "messages[0].role"),
        (
            {"messages": [{"role": "function", "content": "x"}]},
            UnsupportedFeature,
            "messages[0].role",
        ),
        ({"messages": [{"role": "user", "content": None}]}, InvalidRequest, "messages[0].content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            UnsupportedFeature,
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "file"}]}]},
            UnsupportedFeature,
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            InvalidRequest,
            "messages[0].content[0].text",
        ),
        (
            {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]}]},
            UnsupportedFeature,
            "messages[0].tool_calls",
        ),
        ({"n": 5}, InvalidRequest, "n"),
        ({"n": 0}, InvalidRequest, "n"),
        ({"max_tokens": 0}, InvalidRequest, "max_tokens"),
        ({"max_completion_tokens": 0}, InvalidRequest, "max_completion_tokens"),
        ({"max_tokens": 2000}, ContextLengthExceeded, "max_tokens"),
        ({"top_logprobs": 2}, InvalidRequest, "top_logprobs"),
        ({"logit_bias": {"abc": 1}}, InvalidRequest, "logit_bias"),
        ({"logit_bias": {"1": -101}}, InvalidRequest, "logit_bias"),
        ({"presence_penalty": 3}, InvalidRequest, "presence_penalty"),
        ({"stop": [""]}, InvalidRequest, "stop"),
        ({"tools": [{"type": "function"}]}, UnsupportedFeature, "tools"),
        ({"tool_choice": "auto"}, UnsupportedFeature, "tool_choice"),
        ({"functions": [{"name": "f"}]}, UnsupportedFeature, "functions"),
        ({"function_call": "auto"}, UnsupportedFeature, "function_call"),
        ({"response_format": {"type": "json_schema"}}, UnsupportedFeature, "response_format"),
        ({"audio": {"voice": "alloy"}}, UnsupportedFeature, "audio"),
        ({"modalities": ["text", "audio"]}, UnsupportedFeature, "modalities"),
        ({"prediction": {"type": "content"}}, UnsupportedFeature, "prediction"),
    ],
)
def test_refusals(fields: dict[str, Any], error: type[Exception], param: str) -> None:
    with pytest.raises(error) as caught:
        request(**fields).to_turn("r", LIMITS)
    assert type(caught.value) is error and caught.value.param == param  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "fields",
    [
        {"tools": []},
        {"tool_choice": "none"},
        {"parallel_tool_calls": True},
        {"response_format": {"type": "text"}},
        {"modalities": ["text"]},
        {"store": True, "metadata": {"a": "b"}, "user": "u"},
    ],
)
def test_harmless_fields_are_accepted(fields: dict[str, Any]) -> None:
    assert request(**fields).to_turn("r", LIMITS).messages


def test_extra_fields_are_kept_by_name() -> None:
    body = request(vendor_x=1, another={"y": 2})
    assert body.extra_field_names() == ["another", "vendor_x"]
    assert body.to_turn("r", LIMITS).messages


def test_logprobs_shape() -> None:
    token = TokenLogprob(
        token="Hi",
        logprob=float("-inf"),
        bytes=(72, 105),
        top=(TopLogprob("Hi", -0.1, (72, 105)), TopLogprob("Yo", -2.0, (89, 111))),
    )
    wire = ChatLogprobs.of([token], top_n=1).model_dump()
    assert wire == {
        "content": [
            {
                "token": "Hi",
                "logprob": -9999.0,
                "bytes": [72, 105],
                "top_logprobs": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}],
            }
        ],
        "refusal": None,
    }


@pytest.mark.parametrize(
    ("chunk", "choice"),
    [
        (
            ChatCompletionChunk.role(META, 1),
            {
                "index": 1,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": None,
                "finish_reason": None,
            },
        ),
        (
            ChatCompletionChunk.content(META, 0, "x", None),
            {"index": 0, "delta": {"content": "x"}, "logprobs": None, "finish_reason": None},
        ),
        (
            ChatCompletionChunk.finish(META, 0, "length"),
            {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"},
        ),
    ],
)
def test_chunk_shapes(chunk: ChatCompletionChunk, choice: dict[str, Any]) -> None:
    wire = json.loads(chunk.model_dump_json(exclude={"usage"}))
    assert wire == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "m",
        "system_fingerprint": "fp_x",
        "choices": [choice],
    }
    assert json.loads(chunk.model_dump_json())["usage"] is None
