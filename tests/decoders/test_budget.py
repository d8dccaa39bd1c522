"""The completion budget: explicit max_tokens must fit, a default is clamped to the room left."""

from __future__ import annotations

import doctest

import pytest

from lethe.decoders import Message, SamplingParams, Turn, budget
from lethe.decoders.budget import completion_budget
from lethe.errors import ContextLengthExceeded


def chat(**params: int) -> Turn:
    return Turn.chat("r", [Message("user", "Hi")], SamplingParams(**params))


@pytest.mark.parametrize(
    ("params", "prompt_len", "window", "expected"),
    [
        ({"max_tokens": 10}, 90, 100, 10),  # exactly fits
        ({"default_max_tokens": 512}, 90, 100, 10),  # default clamped to the room
        ({"default_max_tokens": 5}, 90, 100, 5),
        ({}, 90, 100, 10),  # no budget at all: fill the context
    ],
)
def test_budget(params, prompt_len, window, expected):
    assert completion_budget(chat(**params), prompt_len, window) == expected


@pytest.mark.parametrize(
    ("turn", "prompt_len", "param"),
    [
        (chat(max_tokens=11), 90, "max_tokens"),
        (chat(), 100, "messages"),
        (Turn("r", SamplingParams(), prompt="x"), 120, "prompt"),
    ],
)
def test_requests_that_cannot_fit_are_refused(turn, prompt_len, param):
    with pytest.raises(ContextLengthExceeded) as info:
        completion_budget(turn, prompt_len, 100)
    assert info.value.param == param


def test_module_docstring_example():
    result = doctest.testmod(budget)
    assert result.attempted > 0 and result.failed == 0
