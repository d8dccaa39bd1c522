import pytest

from lethe.decoders.params import SamplingParams
from lethe.decoders.sequence import Sequence


class Bytes:
    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


EOS = 0


def run(tokens, **params):
    p = SamplingParams(**{"max_tokens": 100, **params})
    s = Sequence(0, [72], p, Bytes(), frozenset({EOS}))
    steps = []
    for t in tokens:
        steps.append(s.append(t))
        if s.finished:
            break
    return s, "".join(st.text for st in steps)


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
    ],
)
def test_finish_rules(tokens, params, text, reason):
    s, emitted = run(list(tokens), **params)
    assert emitted == text
    assert s.finish_reason == reason


def test_text_includes_held_back_text_for_processors():
    s = Sequence(0, [72], SamplingParams(max_tokens=9, stop=("xyz",)), Bytes(), frozenset())
    assert s.append(ord("a")).text == "a"
    assert s.append(ord("x")).text == ""
    assert s.text == "ax"
