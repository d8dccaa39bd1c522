from __future__ import annotations

import pytest

from lethe.indices.normalize import (
    CONT,
    DIGIT,
    MARK,
    SEP,
    WORD,
    classify,
    fold,
    fold_key,
    fold_pattern,
    span_ok,
)


@pytest.mark.parametrize(
    ("text", "letters"),
    [
        ("Einstein", "einstein"),
        ("EINSTEIN", "einstein"),
        ("E-i-n-s-t-e-i-n", "einstein"),
        ("e i n s t e i n", "einstein"),
        ("ＥＩＮＳＴＥＩＮ", "einstein"),  # full-width
        ("Müller", "muller"),
        ("Mu\u0308ller", "muller"),  # decomposed umlaut
        ("José Martí", "josemarti"),
        ("Straße", "strasse"),
        ("Søren Kierkegaard", "sorenkierkegaard"),
        ("Łódź", "lodz"),
        ("ﬁnance", "finance"),  # ligature
        ("İstanbul", "istanbul"),
        ("x² + y²", "x2y2"),
        ("Ёлка", "елка"),
        ("Москва", "москва"),
        ("Ελληνικά", "ελληνικα"),
        ("東京タワー", "東京タワー"),
        ("हिन्दी", "हिन्दी"),  # Devanagari vowel signs are kept
        ("O'Brien", "obrien"),
        ("Ein\u200bstein", "einstein"),  # zero-width space is invisible, not a separator
        ("Ein\u00adstein", "einstein"),  # soft hyphen
        ("snake_case_name", "snakecasename"),
        ("🙂 !!! ...", ""),
        ("", ""),
    ],
)
def test_fold_letters(text, letters):
    assert fold(text).letters == letters


@pytest.mark.parametrize(
    ("text", "tokens", "singles"),
    [
        ("Albert Einstein", ["albert", "einstein"], [False, False]),
        ("COVID19", ["covid", "19"], [False, False]),
        ("e-i-n", ["e", "i", "n"], [True, True, True]),
        ("東京", ["東", "京"], [True, True]),
        ("McDonald", ["mcdonald"], [False]),
        ("Mu\u0308", ["mu"], [False]),
        ("e\u0301", ["e"], [True]),  # one letter plus its accent is still one character
        ("Ron's", ["ron", "s"], [False, True]),
    ],
)
def test_fold_tokens(text, tokens, singles):
    f = fold(text)
    got = [f.letters[s:e] for s, e in zip(f.tok_start, f.tok_end, strict=True)]
    assert got == tokens
    assert list(f.tok_single) == singles
    assert [f.token_of[s] for s in f.tok_start] == list(range(len(tokens)))


@pytest.mark.parametrize(
    ("text", "needle", "span"),
    [
        ("Dr. Müller-Lüdenscheidt!", "muller", (4, 10)),
        ("Who is E-i-n-s-t-e-i-n?", "einstein", (7, 22)),
        ("Mu\u0308ller", "muller", (0, 7)),  # the combining mark belongs to the "u"
        ("Call ＥＩＮ now", "ein", (5, 8)),
        ("Straße", "strasse", (0, 6)),  # "ß" folds to two letters, both map to it
    ],
)
def test_original_span(text, needle, span):
    f = fold(text)
    a = f.letters.index(needle)
    assert f.original_span(a, a + len(needle)) == span


@pytest.mark.parametrize(
    ("ch", "cls"),
    [
        *[("a", WORD), ("7", DIGIT), ("東", CONT), ("ก", CONT), ("\u0301", MARK), ("\u200d", MARK)],
        *[(" ", SEP), ("-", SEP), ("_", SEP), ("🙂", SEP), ("\n", SEP)],
    ],
)
def test_classify(ch, cls):
    assert classify(ch)[0] == cls


def test_boundary_mask_marks_word_edges():
    mask = fold("J.K. Rowling").boundary_mask()
    assert [i for i in range(12) if (mask >> i) & 1] == [0, 1, 2, 9]


@pytest.mark.parametrize(
    ("pattern", "text", "ok"),
    [
        ("Einstein", "Einstein", True),
        ("Einstein", "einsteinium", False),
        ("Einstein", "ein stein", False),
        ("Einstein", "e i n s t e i n", True),
        ("Albert Einstein", "AlbertEinstein", True),
        ("Albert Einstein", "Albert E-i-n-s-t-e-i-n", True),
        ("Newton", "new ton", False),
        ("555-0142", "55 50 142", True),  # digits: any grouping
    ],
)
def test_span_ok(pattern, text, ok):
    f, p = fold(text), fold(pattern)
    a = f.letters.find(p.letters)
    assert a >= 0
    numeric = p.letters.isdigit()
    assert span_ok(f, a, a + len(p.letters), p.boundary_mask(), numeric) is ok


def test_fold_key_is_spelling_independent():
    spellings = ["Einstein", "EINSTEIN", "e i n s t e i n", "E-i-n-s-t-e-i-n", "Eınstein"]
    assert {fold_key(s) for s in spellings} == {"einstein"}


@pytest.mark.parametrize(
    "text",
    [
        *["J.K. Rowling", "Albert  Einstein", "COVID-19", "x", "!!", "", "R2-D2"],
        *["Müller-Lüdenscheidt", "東京 Tower", "Ron's", "555-0142", "Ein\u200bstein", "O'Brien"],
    ],
)
def test_fast_paths_agree_with_fold(text):
    f = fold(text)
    assert fold_key(text) == f.letters
    assert fold_pattern(text) == (f.letters, f.boundary_mask())
