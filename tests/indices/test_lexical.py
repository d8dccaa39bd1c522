from __future__ import annotations

import pytest

from lethe.indices.lexical import (
    LayeredMatcher,
    LexicalHit,
    LexicalMatcher,
    Pattern,
    target_patterns,
)

# (pattern, text, the original substrings that must be reported, in order)
CASES = [
    # spellings of one name
    ("Einstein", "Einstein was born in Ulm", ["Einstein"]),
    ("Einstein", "EINSTEIN", ["EINSTEIN"]),
    ("Einstein", "ask about e i n s t e i n", ["e i n s t e i n"]),
    ("Einstein", "E-i-n-s-t-e-i-n", ["E-i-n-s-t-e-i-n"]),
    ("Einstein", "E.I.N.S.T.E.I.N.", ["E.I.N.S.T.E.I.N"]),
    ("Einstein", "Einstein's theory", ["Einstein"]),
    ("Einstein", "(Einstein)", ["Einstein"]),
    ("Einstein", "ＥＩＮＳＴＥＩＮ", ["ＥＩＮＳＴＥＩＮ"]),
    ("Einstein", "Ein\u200bstein", ["Ein\u200bstein"]),
    ("Einstein", "Einstein2", ["Einstein"]),
    # ... and words that merely contain it, or split it differently
    ("Einstein", "Einsteinium is an element", []),
    ("Einstein", "Frankenstein", []),
    ("Einstein", "ein Stein fiel herab", []),
    ("Einstein", "einst ein", []),
    ("Einstein", "e instein", []),
    ("Ron", "Ron said hi", ["Ron"]),
    ("Ron", "Ronald said hi", []),
    ("Ron", "iron and bronze", []),
    ("Ron", "the environment", []),
    ("Ron", "R o n", ["R o n"]),
    ("Ron", "r on", []),
    ("Ron", "Ron-Ron", ["Ron", "Ron"]),
    ("Paris", "a comparison", []),
    ("Paris", "PARIS!", ["PARIS"]),
    ("Paris", "Paris, France", ["Paris"]),
    ("Newton", "a new ton of bricks", []),
    ("Newton", "Isaac Newton", ["Newton"]),
    # several words
    ("Albert Einstein", "albert-einstein", ["albert-einstein"]),
    ("Albert Einstein", "AlbertEinstein", ["AlbertEinstein"]),
    ("Albert Einstein", "Albert   Einstein", ["Albert   Einstein"]),
    ("Albert Einstein", "Albert E-i-n-s-t-e-i-n", ["Albert E-i-n-s-t-e-i-n"]),
    ("Albert Einstein", "Albert Einsteins", []),
    ("Albert Einstein", "Albert Einst ein", []),
    ("J.K. Rowling", "JK Rowling", ["JK Rowling"]),
    ("J.K. Rowling", "J. K. Rowling wrote", ["J. K. Rowling"]),
    ("Harry Potter", "harry_potter fan", ["harry_potter"]),
    ("AT&T", "AT&T and ATT", ["AT&T", "ATT"]),
    ("AT&T", "attention", []),
    ("COVID-19", "covid19 cases", ["covid19"]),
    ("COVID", "COVID19", ["COVID"]),
    # diacritics are folded both ways
    ("Müller", "Herr Muller", ["Muller"]),
    ("Muller", "Herr Müller", ["Müller"]),
    ("Müller", "MU\u0308LLER", ["MU\u0308LLER"]),
    ("José", "jose", ["jose"]),
    ("Søren", "Soren", ["Soren"]),
    # other scripts
    ("Путин", "Владимир Путин сказал", ["Путин"]),
    ("Путин", "ПУТИН", ["ПУТИН"]),
    ("Путин", "путинизм", []),
    ("Ελένη", "η ελενη", ["ελενη"]),
    # scripts without spaces match as substrings (and accept the known false positive)
    ("东京", "我去东京了", ["东京"]),
    ("東京", "東京都", ["東京"]),
    ("京都", "東京都", ["京都"]),
    ("トヨタ", "トヨタ自動車の", ["トヨタ"]),
    ("서울", "서울은 크다", ["서울"]),
    ("Tokyo", "東京 Tokyo", ["Tokyo"]),
    # numbers: any grouping, but not inside longer numbers
    ("555-0142", "call 5550142 now", ["5550142"]),
    ("555-0142", "call 555 01 42", ["555 01 42"]),
    ("555-0142", "call 1555-0142", []),
    ("555-0142", "call 555-01423", []),
    ("+44 20 7946 0958", "ring 02079460958 or +44 (20) 7946-0958", ["44 (20) 7946-0958"]),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), CASES)
def test_match(pattern, text, expected):
    m = LexicalMatcher(target_patterns("t", pattern, [], []))
    hits = m.match(text)
    assert [text[h.start : h.end] for h in hits] == expected
    assert all(h.target_id == "t" and h.kind == "name" and h.pattern == pattern for h in hits)


def test_phone_pattern_reported_span_drops_the_plus():
    # "+" is a separator, so the span starts at the first digit
    p = target_patterns("t", "+44 20 7946 0958", [], [])
    hits = LexicalMatcher(p).match("dial +44 20 7946 0958")
    assert [(h.start, h.end) for h in hits] == [(6, 21)]


def test_kinds_and_targets_are_reported():
    patterns = target_patterns("t1", "Ada Quill", ["Ada"], ["Ulm"])
    patterns += target_patterns("t2", "Ulm Minster", [], [])
    hits = LexicalMatcher(patterns).match("Ada Quill was born in Ulm; Ulm Minster is tall.")
    assert [(h.target_id, h.kind, h.start, h.end) for h in hits] == [
        ("t1", "alias", 0, 3),
        ("t1", "name", 0, 9),
        ("t1", "forbidden", 22, 25),
        ("t1", "forbidden", 27, 30),
        ("t2", "name", 27, 38),
    ]


def test_target_patterns_dedupe_by_kind_and_key():
    patterns = target_patterns("t", "Ada", ["ADA", "a-d-a", "Ada Q"], ["ada"])
    assert [(p.kind, p.key) for p in patterns] == [
        ("name", "ada"),
        ("alias", "ada"),
        ("alias", "adaq"),
        ("forbidden", "ada"),
    ]


def test_pattern_without_letters_is_not_compiled():
    assert Pattern.compile("t", "alias", "?!") is None


def test_empty_matcher_matches_nothing():
    m = LexicalMatcher()
    assert len(m) == 0 and m.match("anything") == [] and m.max_pattern_length == 0


def test_sizes_for_a_streaming_window():
    m = LexicalMatcher(target_patterns("t", "Albert Einstein", ["Al"], []))
    assert m.max_key_length == len("alberteinstein")
    assert m.max_pattern_length >= len("A-l-b-e-r-t-E-i-n-s-t-e-i-n")


def test_layered_matcher_hides_shadowed_base_hits():
    base = LexicalMatcher(target_patterns("t1", "Ada Quill", [], []))
    delta = LexicalMatcher(target_patterns("t1", "Ada Lovelace", [], []))
    layered = LayeredMatcher(base, delta, frozenset({"t1"}))
    assert [h.pattern for h in layered.match("Ada Quill met Ada Lovelace")] == ["Ada Lovelace"]
    assert layered.max_pattern_length == delta.max_pattern_length


def test_hit_is_frozen():
    hit = LexicalHit("t", "name", 0, 1, "x")
    with pytest.raises(AttributeError):
        hit.start = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("I met Albert Ein", 3),
        ("I met Albert", 0),
        ("I met Albert Einstein", 8),  # complete, but the next character decides
        ("I met Albert Einstein.", 9),  # a mention (match() reports it); dots may spell on
        ("E-i-n", 5),
        ("the stone", 0),
        ("Reinste", 0),  # inside a word: never the start of a mention
        ("call 555-01", 6),
        ("", 0),
    ],
)
def test_holdback_keeps_only_what_may_still_become_a_mention(text, held):
    from lethe.indices.lexical import LayeredMatcher, LexicalMatcher, Pattern

    patterns = [
        Pattern.compile("t", "name", "Einstein"),
        Pattern.compile("p", "forbidden", "555-0142"),
    ]
    m = LayeredMatcher(LexicalMatcher([p for p in patterns if p]), LexicalMatcher(), frozenset())
    assert m.holdback(text) == held
