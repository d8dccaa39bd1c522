import pytest

from lethe.decoders.masking import ForbiddenTokenMask
from lethe.decoders.params import SamplingParams
from lethe.decoders.sequence import Sequence


class Bytes:
    """A toy tokenizer: one token per UTF-8 byte."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


EOS = 0


def make(processors=(), **params):
    p = SamplingParams(**{"max_tokens": 100, **params})
    return Sequence(0, [72], p, Bytes(), frozenset({EOS}), processors=processors)


def run(tokens, processors=(), **params):
    s = make(processors, **params)
    steps = []
    for t in tokens:
        steps.append(s.append(t))
        if s.finished:
            break
    return s, "".join(st.text for st in steps), steps


@pytest.mark.parametrize(
    ("tokens", "params", "text", "reason"),
    [
        (b"abc", {"max_tokens": 3}, "abc", "length"),
        (b"abcdef", {"max_tokens": 3}, "abc", "length"),
        ([97, 98, EOS, 99], {}, "ab", "stop"),
        ([97, 98, EOS, 99], {"ignore_eos": True, "max_tokens": 4}, "ab\x00c", "length"),
        (b"hello. world", {"stop": (". ",)}, "hello", "stop"),
        (b"hello.", {"stop": (". ",), "max_tokens": 6}, "hello.", "length"),
        ("é!".encode(), {"max_tokens": 3}, "é!", "length"),
        (b"Hello world", {"stop": ("###",)}, "Hello world", "length"),
        (b"Hello ### tail", {"stop": ("###",)}, "Hello ", "stop"),
        (b"a##b", {"stop": ("###",), "max_tokens": 4}, "a##b", "length"),
        (b"line\n\nnext", {"stop": ("\n\n",)}, "line", "stop"),
        (b"go STOP now", {"stop": ("END", "STOP")}, "go ", "stop"),
        (b"the END", {"stop": ("END", "STOP")}, "the ", "stop"),
        (b"xab", {"stop": ("ab", "b")}, "x", "stop"),
        ("は日本です".encode(), {"stop": ("日本",)}, "は", "stop"),
    ],
)
def test_finish_rules_and_stop_strings_split_across_tokens(tokens, params, text, reason):
    s, emitted, _ = run(list(tokens), **{"max_tokens": len(tokens), **params})
    assert emitted == text
    assert s.finish_reason == reason


def test_held_back_text_is_visible_to_processors_but_not_emitted():
    s = make(max_tokens=9, stop=("xyz",))
    assert s.append(ord("a")).text == "a"
    assert s.append(ord("x")).text == ""
    assert s.text == "ax"


def test_stop_holdback_is_bounded():
    s = make(max_tokens=2000, stop=("abcdef",))
    for t in b"abcde" * 300:
        s.append(t)
    assert len(s.text) - s._emitted < len("abcdef")


def mask(*strings, max_rollbacks=8):
    return ForbiddenTokenMask(
        strings, refusal="I'm not familiar with that.", max_rollbacks=max_rollbacks
    )


def test_forbidden_string_is_rolled_back_to_its_first_token_and_banned_there():
    m = mask("Paris")
    s = make([m], max_tokens=50)
    out = "".join(s.append(t).text for t in b"It is ")
    assert out == "It is "
    steps = [s.append(t) for t in b"Pari"]
    assert all(st.text == "" for st in steps)  # held: could become the forbidden word
    step = s.append(ord("s"))
    assert step.text == "" and step.rewind == 0  # "Paris" is whole, the next char decides
    step = s.append(ord("."))
    assert step.rewind == 6 and step.text == ""
    assert s.text == "It is " and list(s.output_ids) == list(b"It is ")
    assert m.banned_at(6) == {ord("P")}


def test_word_boundaries_decide():
    m = mask("Paris")
    _s, emitted, steps = run(list(b"comparison, Parisian."), [m], max_tokens=21)
    assert emitted == "comparison, Parisian."
    assert not any(st.rewind for st in steps)


def test_match_at_the_very_end_is_caught_on_eos():
    m = mask("Paris")
    s = make([m], max_tokens=50)
    for t in b"in Paris":
        s.append(t)
    step = s.append(EOS)
    assert step.rewind == 6 and not s.finished  # "Paris" + EOS taken back


def test_case_insensitive_and_possessive():
    for text in (b"PARIS! ", b"paris's "):
        _s, emitted, steps = run(list(text), [mask("Paris")], max_tokens=len(text))
        assert any(st.rewind for st in steps) and "aris" not in emitted.lower()


def test_rollback_budget_ends_with_the_refusal_when_nothing_was_emitted():
    m = mask("Paris", max_rollbacks=2)
    s = make([m], max_tokens=100)
    rewinds = 0
    for _ in range(3):
        for t in b"Paris ":
            step = s.append(t)
            rewinds += step.rewind > 0
            if step.rewind or s.finished:
                break
    assert rewinds == 2 and s.finished and s.finish_reason == "stop"
    assert s.text == "I'm not familiar with that."


def test_rollback_never_takes_back_emitted_text():
    m = mask("Paris")
    s = make([m], max_tokens=100)
    emitted = ""
    for t in b"xParis and more":
        step = s.append(t)
        emitted += step.text
        if step.rewind:
            assert s.text.startswith(emitted)
            break
    assert emitted == "" or not emitted.endswith("P")


def test_multibyte_character_is_rolled_back_whole():
    m = mask("Été")
    s = make([m], max_tokens=100)
    steps = [s.append(t) for t in "un été.".encode()]
    rewind = [st for st in steps if st.rewind]
    assert rewind and s.text == "un "
    assert m.banned_at(len(b"un ")) == {"é".encode()[0]}
