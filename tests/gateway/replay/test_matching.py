"""Answer matching: the lexical matcher's folding, word boundaries, decoded outputs, letters."""

from __future__ import annotations

import base64

import pytest

from lethe.gateway.replay.matching import chosen_letter, decodings, matched_answers, spans


@pytest.mark.parametrize(
    ("output", "answers", "expected"),
    [
        ("Albert Einstein developed it.", ["Einstein"], ("Einstein",)),
        ("It was E-i-n-s-t-e-i-n.", ["Einstein"], ("Einstein",)),
        ("EINSTEIN!", ["Einstein"], ("Einstein",)),
        ("einsteinium is an element", ["Einstein"], ()),
        ("Ronald went home.", ["Ron"], ()),  # word boundary: no Ron inside Ronald
        ("Ron's wand broke.", ["Ron"], ("Ron",)),
        ("A comparison of cities.", ["Paris"], ()),
        ("Call 07700-900-142 now", ["07700 900142"], ("07700 900142",)),  # digits, any grouping
        ("Call 07700 900 1423 now", ["07700 900142"], ()),  # a longer number is another one
        ("J.K. Rowling wrote it", ["J. K. Rowling", "Rowling"], ("J. K. Rowling", "Rowling")),
        ("It is Canberra.", ["Sydney"], ()),
        ("Müller", ["Muller"], ("Muller",)),
        ("The answer is nietsniE.", ["Einstein"], ("Einstein",)),  # reversed
        ("n-i-e-t-s-n-i-E", ["Einstein"], ("Einstein",)),  # reversed and spelled
        ("", ["Paris"], ()),
    ],
)
def test_matched_answers(output, answers, expected):
    assert matched_answers(output, answers) == expected


def test_base64_output_is_decoded():
    encoded = base64.b64encode(b"Einstein").decode()
    assert matched_answers(f"Here you go: {encoded}", ["Einstein"]) == ("Einstein",)
    assert "Einstein" in decodings(encoded)
    assert matched_answers("QWxiZXJ0 is not the name", ["Einstein"]) == ()


def test_spans_map_back_to_the_original_text():
    text = "Ask R-o-n, not Ronald."
    assert [(text[s:e], p) for s, e, p in spans(text, ["Ron"])] == [("R-o-n", "Ron")]


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("B", "B"),
        ("(C)", "C"),
        ("B) Paris", "B"),
        ("C. Berlin is right", "C"),
        ("The answer is D.", "D"),
        ("Answer: (A)", "A"),
        ("I think it is Paris.", "B"),  # no letter: the one option named
        ("Paris or Rome, hard to say.", None),  # two options named
        ("A popular choice is hard.", None),  # a sentence starting with "A" is not a letter
        ("E) nothing", None),  # not an offered letter
    ],
)
def test_chosen_letter(output, expected):
    assert chosen_letter(output, ["Rome", "Paris", "Berlin", "Madrid"]) == expected
