"""Legacy completion request → Turns, and the legacy log-probability format."""

from __future__ import annotations

from typing import Any

import pytest

from lethe.decoders import TokenLogprob, TopLogprob
from lethe.errors import InvalidRequest, UnsupportedFeature
from lethe.gateway.protocol import CompletionRequest, LegacyLogprobs, RequestLimits

LIMITS = RequestLimits(max_n=4, default_max_tokens=512, max_model_len=1024)


def request(**fields: Any) -> CompletionRequest:
    fields.setdefault("model", "m")
    fields.setdefault("prompt", "Once upon")
    return CompletionRequest.model_validate(fields)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("text", ["text"]),
        ("", [""]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [(1, 2, 3)]),
        ([[1, 2], [3]], [(1, 2), (3,)]),
    ],
    ids=["str", "empty str", "list[str]", "list[int]", "list[list[int]]"],
)
def test_prompt_forms(prompt: Any, expected: list[Any]) -> None:
    turns = request(prompt=prompt).to_turns("r", LIMITS)
    assert [t.prompt for t in turns] == expected
    assert not any(t.is_chat for t in turns)
    ids = [t.request_id for t in turns]
    assert ids == (["r"] if len(turns) == 1 else [f"r-{p}" for p in range(len(turns))])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {},
            {
                "max_tokens": None,
                "default_max_tokens": 16,
                "n": 1,
                "logprobs": False,
                "top_logprobs": 0,
            },
        ),
        ({"max_tokens": 40, "n": 3}, {"max_tokens": 40, "n": 3}),
        ({"logprobs": 0}, {"logprobs": True, "top_logprobs": 0}),
        ({"logprobs": 5}, {"logprobs": True, "top_logprobs": 5}),
        ({"best_of": 2, "n": 2}, {"n": 2}),
        ({"stop": "\n", "seed": 3}, {"stop": ("\n",), "seed": 3}),
    ],
)
def test_sampling_conversion(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    params = request(**fields).to_turns("r", LIMITS)[0].params
    assert {key: getattr(params, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("fields", "error", "param"),
    [
        ({"prompt": []}, InvalidRequest, "prompt"),
        ({"prompt": [[1], []]}, InvalidRequest, "prompt[1]"),
        ({"prompt": [1, -2]}, InvalidRequest, "prompt"),
        ({"logprobs": 6}, InvalidRequest, "logprobs"),
        ({"suffix": "end"}, UnsupportedFeature, "suffix"),
        ({"best_of": 3}, UnsupportedFeature, "best_of"),
        ({"echo": True, "prompt": [1, 2]}, UnsupportedFeature, "echo"),
        ({"echo": True, "logprobs": 1}, UnsupportedFeature, "echo"),
        ({"temperature": 3}, InvalidRequest, "temperature"),
        ({"n": 5}, InvalidRequest, "n"),
    ],
)
def test_refusals(fields: dict[str, Any], error: type[Exception], param: str) -> None:
    with pytest.raises(error) as caught:
        request(**fields).to_turns("r", LIMITS)
    assert type(caught.value) is error and caught.value.param == param  # type: ignore[attr-defined]


def test_echo_prefix() -> None:
    assert request(echo=True).echo_prefix("Once upon") == "Once upon"
    assert request().echo_prefix("Once upon") == ""


def test_legacy_logprobs_format() -> None:
    tokens = [
        TokenLogprob(
            "Hel", -0.5, tuple(b"Hel"), (TopLogprob("Hel", -0.5, ()), TopLogprob("He", -1.5, ()))
        ),
        TokenLogprob("lo", -0.25, tuple(b"lo"), (TopLogprob("p", -0.1, ()),)),
    ]
    wire = LegacyLogprobs.of(tokens, start=4, top_n=2).model_dump()
    assert wire == {
        "tokens": ["Hel", "lo"],
        "token_logprobs": [-0.5, -0.25],
        "top_logprobs": [{"Hel": -0.5, "He": -1.5}, {"p": -0.1, "lo": -0.25}],
        "text_offset": [4, 7],
    }
