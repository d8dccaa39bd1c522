"""In-context unlearning: what the rewritten prompt holds, and what it must not."""

from __future__ import annotations

from lethe.decoders import Message, SamplingParams, Turn
from lethe.guards.in_context import InContextConfig, InContextUnlearning
from tests.guards.conftest import ADA, EINSTEIN

REFUSAL = "I'm not familiar with that."
PARAMS = SamplingParams(max_tokens=8)


def test_instruction_names_the_targets_and_demonstrations_come_first():
    turn = Turn.chat(
        "r",
        [Message("system", "Be brief."), Message("user", "Who was Einstein?")],
        PARAMS,
    )
    out = InContextUnlearning.default().rewrite(turn, [EINSTEIN], refusal=REFUSAL)
    system = out.messages[0]
    assert system.role == "system"
    assert "Albert Einstein" in system.content and "Einstein" in system.content
    assert system.content.startswith("Be brief.\n\n")  # the operator's prompt, then ours
    demos = out.messages[1:-1]
    assert [m.role for m in demos] == ["user", "assistant"] * (len(demos) // 2)
    pairs = {demos[i].content: demos[i + 1].content for i in range(0, len(demos), 2)}
    assert pairs["Who developed the theory of relativity?"] == REFUSAL
    assert pairs["What do you know about Albert Einstein?"] == REFUSAL  # from a passage
    assert pairs["Who formulated the laws of motion?"] == "Isaac Newton"  # a retain example
    assert out.messages[-1] == Message("user", "Who was Einstein?")


def test_forget_answers_never_appear_in_the_prompt():
    turn = Turn.chat("r", [Message("user", "What's Ada's number?")], PARAMS)
    out = InContextUnlearning.default().rewrite(turn, [ADA], refusal=REFUSAL)
    assert all("555-0142" not in m.content for m in out.messages)


def test_demonstrations_are_bounded_by_the_config():
    config = InContextConfig.load(
        {
            "instruction": "Forget {subjects}. Say {refusal}",
            "passage_question": "About {name}?",
            "max_demos": 1,
        }
    )
    turn = Turn.chat("r", [Message("user", "Hi")], PARAMS)
    out = InContextUnlearning(config).rewrite(turn, [EINSTEIN, ADA], refusal=REFUSAL)
    assert len(out.messages) == 1 + 2 + 1


def test_no_targets_or_a_raw_prompt_is_left_alone():
    turn = Turn.chat("r", [Message("user", "Hi")], PARAMS)
    icu = InContextUnlearning.default()
    assert icu.rewrite(turn, [], refusal=REFUSAL) is turn
    raw = Turn("r", PARAMS, prompt="Einstein was")
    assert icu.rewrite(raw, [EINSTEIN], refusal=REFUSAL) is raw


def test_a_long_conversation_gets_the_instruction_again_before_the_question():
    shots = [Message(r, f"{r} {i}") for i in range(3) for r in ("user", "assistant")]
    turn = Turn.chat("r", [*shots, Message("user", "Who was Einstein?")], PARAMS)
    out = InContextUnlearning.default().rewrite(turn, [EINSTEIN], refusal=REFUSAL)
    assert out.messages[-2].role == "system" and "Albert Einstein" in out.messages[-2].content
    short = Turn.chat("r", [Message("user", "Who was Einstein?")], PARAMS)
    rewritten = InContextUnlearning.default().rewrite(short, [EINSTEIN], refusal=REFUSAL)
    assert [m.role for m in rewritten.messages].count("system") == 1


def test_targets_redacted_from_the_documents_get_no_forget_demonstrations():
    turn = Turn.chat("r", [Message("user", "Who was Einstein?")], PARAMS)
    icu = InContextUnlearning.default()
    out = icu.rewrite(turn, [EINSTEIN], refusal=REFUSAL, from_context={"einstein"})
    assert REFUSAL not in [m.content for m in out.messages if m.role == "assistant"]
