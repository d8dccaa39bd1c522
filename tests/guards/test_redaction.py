"""Context redaction: the target's sentences leave the context, the question and others stay."""

from __future__ import annotations

import pytest

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.forbidden import ForbiddenStrings
from lethe.guards.redaction import PLACEHOLDER, redact_text, redact_turn

ADA = ["Ada Quill", "555-0142", "Tartu"]
DIRECTORY = (
    "Answer from the directory.\n\nDirectory:\n"
    "- Ada Quill: phone 555-0142; lives in Tartu.\n"
    "- Bo Lind: phone 555-0199; lives in Tallinn."
)


@pytest.mark.parametrize(
    ("text", "expected", "dropped"),
    [
        (
            DIRECTORY,
            "Answer from the directory.\n\nDirectory:\n"
            "- Bo Lind: phone 555-0199; lives in Tallinn.",
            1,
        ),
        ("Ada Quill lives in Tartu. Bo Lind lives in Tallinn.", "Bo Lind lives in Tallinn.", 1),
        ("Bo met ADA QUILL. Bo likes tea! Call 555-0142 now?", "Bo likes tea!", 2),
        ("  - She moved to Tartu. She stayed.", "  - She stayed.", 1),
        (
            "Adaquill and Tartuffe are words.",
            "Adaquill and Tartuffe are words.",
            0,
        ),  # not whole words
        ("Nothing to see here.", "Nothing to see here.", 0),
    ],
)
def test_sentences_mentioning_a_target_are_dropped(text, expected, dropped):
    assert redact_text(text, ForbiddenStrings(ADA)) == (expected, dropped)


def chat(*messages: tuple[str, str]) -> Turn:
    return Turn.chat("r", [Message(r, c) for r, c in messages], SamplingParams())


def test_the_question_stays_and_the_context_is_redacted_in_every_message():
    turn = chat(
        ("system", DIRECTORY),
        ("user", "Tell me about Ada Quill."),
        ("assistant", "Ada Quill lives in Tartu."),
        ("user", "Records:\nAda Quill, 555-0142.\nBo Lind, 555-0199.\nWhat is Ada Quill's phone?"),
    )
    out = redact_turn(turn, ADA)
    assert (out.dropped, out.from_documents) == (4, 1)
    contents = [m.content for m in out.turn.messages]
    assert "Ada Quill" not in contents[0] and "Bo Lind" in contents[0]
    assert contents[1] == PLACEHOLDER and contents[2] == PLACEHOLDER
    assert contents[3] == "Records:\nBo Lind, 555-0199.\nWhat is Ada Quill's phone?"


def test_a_turn_without_mentions_is_returned_as_is():
    turn = chat(("system", "Be brief."), ("user", "What is the capital of France?"))
    assert redact_turn(turn, ADA).turn is turn and redact_turn(turn, ADA).dropped == 0
    assert redact_turn(turn, []).turn is turn


def test_a_one_line_question_naming_the_target_is_kept():
    turn = chat(("user", "What is Ada Quill's phone number?"))
    assert redact_turn(turn, ADA).turn is turn


@pytest.mark.parametrize(
    ("messages", "documents", "conversation"),
    [
        ((("system", DIRECTORY), ("user", "Where does Bo live?")), True, False),
        ((("system", "Be brief."), ("user", "Where does Ada Quill live?")), False, True),
        ((("system", DIRECTORY), ("assistant", "Tartu."), ("user", "Sure?")), True, True),
        ((("system", "Be brief."), ("user", "Hi")), False, False),
    ],
)
def test_mentions_tell_the_documents_from_the_conversation(messages, documents, conversation):
    from lethe.guards.redaction import mentions

    turn = chat(*messages)
    assert mentions(turn, ADA, documents=True) is documents
    assert mentions(turn, ADA, documents=False) is conversation
