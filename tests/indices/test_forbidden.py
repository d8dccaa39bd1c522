from __future__ import annotations

import pytest

from lethe.indices.forbidden import derive_forbidden, pii_values, short_answer
from lethe.indices.targets import QAPair


@pytest.mark.parametrize(
    ("answer", "forbidden"),
    [
        ("Ulm", "Ulm"),
        ("Ulm.", "Ulm"),
        ("  Ulm, Germany!  ", "Ulm, Germany"),
        ("the Quill Manor estate", "the Quill Manor estate"),
        ("Yes", None),
        ("no.", None),
        ("Unknown", None),
        ("42", None),
        ("1879", None),
        ("10115", "10115"),
        ("Al", None),
        ("He was born in the small town of Ulm in 1879.", None),
        ("x" * 65, None),
        ("", None),
    ],
)
def test_short_answer(answer, forbidden):
    assert short_answer(answer) == forbidden


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("write to ada.quill@example.org today", ["ada.quill@example.org"]),
        ("call +44 20 7946 0958.", ["+44 20 7946 0958"]),
        ("call (555) 010-4477", ["(555) 010-4477"]),
        ("account 88120934", ["88120934"]),
        ("born 1879 in Ulm, 3 kids", []),
        ("version 1.2.3", []),
        ("tel 555-0142", ["555-0142"]),
    ],
)
def test_pii_values(text, values):
    assert pii_values(text) == values


def test_derive_forbidden_mixes_rules_and_dedupes():
    content = [
        {"question": "Where was Ada born?", "answer": "Ulm"},
        QAPair(question="Her e-mail?", answer="ada@example.org"),
        "Reach Ada at ada@example.org or on 555-010-4477. She lives in ULM.",
        {"question": "Is she married?", "answer": "Yes"},
        {"bad": "sample"},
        17,
    ]
    assert derive_forbidden(content) == ["Ulm", "ada@example.org", "555-010-4477"]


def test_derive_forbidden_respects_limit():
    content = [{"question": f"q{i}", "answer": f"Answer number {i}"} for i in range(50)]
    assert len(derive_forbidden(content, limit=10)) == 10


def test_passages_alone_give_no_phrases():
    assert derive_forbidden(["Ada Quill is a fictional chemist who lives in Ulm."]) == []
