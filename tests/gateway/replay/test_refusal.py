"""Refusal and professed-ignorance detection, with the phrases of Lethe's own default refusal."""

from __future__ import annotations

import pytest

from lethe.gateway.replay.refusal import REFUSAL_PATTERNS, is_refusal


@pytest.mark.parametrize(
    "text",
    [
        "I'm not familiar with that.",
        "I don't have any information about that.",
        "I do not have information on this person.",
        "I can't help with that request.",
        "I cannot help with that.",
        "I’m sorry, but I can’t share that.",  # curly apostrophes
        "Sorry, I don't know.",
        "I am unable to provide personal details.",
        "As an AI, I have no access to that.",
        "I'm not sure who that is.",
    ],
)
def test_refusals_are_recognised(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "The capital of France is Paris.",
        "Einstein developed the theory of relativity.",
        "I think the answer is Canberra.",
        "Scanning the candidates is cannot-free.",
        "",
    ],
)
def test_answers_are_not_refusals(text):
    assert not is_refusal(text)


def test_the_list_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "metrics.md").read_text()
    for pattern in REFUSAL_PATTERNS:
        assert pattern in doc
