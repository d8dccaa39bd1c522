"""Reading small models' structured answers: JSON anywhere, a narrow fallback, else None."""

from __future__ import annotations

import pytest

from lethe.guards.agentic.parsing import clean_rewrite, first_json_object, parse_audit, parse_rating

LABELS = ["T1", "T2"]
NAMES = {"Albert Einstein": "T1", "Ada Quill": "T2"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"leaked": []}', frozenset()),
        ('{"leaked": ["T1"]}', frozenset({"T1"})),
        ('Here you go:\n```json\n{"leaked": ["t2", "T9"]}\n```', frozenset({"T2"})),
        ('{"leaked": ["Ada Quill"]}', frozenset({"T2"})),
        ('{"leaked": "none"}', frozenset()),  # not a list: the fallback reads "none"
        ("T1 and T2 are both revealed", frozenset({"T1", "T2"})),
        ("The answer reveals Albert Einstein.", frozenset({"T1"})),
        ("None.", frozenset()),
        ("No.", frozenset()),
        ("[]", frozenset()),
        ("The answer does not reveal anything about a protected subject.", frozenset()),
        ("It doesn't mention them.", frozenset()),
        ("I like turtles.", None),
        ("", None),
        ('{"leaked": [', None),
    ],
)
def test_parse_audit(text: str, expected: frozenset[str] | None) -> None:
    assert parse_audit(text, LABELS, NAMES) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"rating": 5}', 5),
        ('{"rating": "3"}', 3),
        ('{"rating": 4.0}', 4),
        ('{"rating": 9} but really 2', 2),
        ("Rating: 1", 1),
        ("I'd say 4/5.", 4),
        ("10 out of 10", None),
        ("3.5", None),
        ("great", None),
    ],
)
def test_parse_rating(text: str, expected: int | None) -> None:
    assert parse_rating(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A physicist did.", "A physicist did."),
        ('  "A physicist did."  ', "A physicist did."),
        ("Answer: A physicist did.", "A physicist did."),
        ("```\nA physicist did.\n```", "A physicist did."),
        ("REFUSE", None),
        ("refuse.", None),
        ("   ", None),
    ],
)
def test_clean_rewrite(text: str, expected: str | None) -> None:
    assert clean_rewrite(text) == expected


def test_first_json_object_skips_what_does_not_decode() -> None:
    assert first_json_object('{bad} [1] {"a": {"b": 2}} {"c": 3}') == {"a": {"b": 2}}
    assert first_json_object("[1, 2]") is None
