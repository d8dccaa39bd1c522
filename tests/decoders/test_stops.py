import pytest

from lethe.decoders.stops import StopStrings


@pytest.mark.parametrize(
    ("stops", "deltas", "emitted", "stopped"),
    [
        (["###"], ["Hello ", "world"], "Hello world", False),
        (["###"], ["Hello #", "#", "# tail"], "Hello ", True),
        (["###"], ["a##", "b"], "a##b", False),
        (["\n\n"], ["line\n", "\nnext"], "line", True),
        (["\n\n"], ["line\n\nnext"], "line", True),
        (["END", "STOP"], ["go S", "TO", "P now"], "go ", True),
        (["END", "STOP"], ["the E", "ND"], "the ", True),
        (["ab", "b"], ["xab"], "x", True),
        (["ab", "b"], ["xb"], "x", True),
        (["<|x|>"], ["<", "|", "x", "|", ">"], "", True),
        ([], ["anything ###"], "anything ###", False),
        (["日本"], ["は日", "本です"], "は", True),
    ],
)
def test_stop_strings(stops, deltas, emitted, stopped):
    s = StopStrings(stops)
    out, hit = [], False
    for d in deltas:
        text, hit = s.feed(d)
        out.append(text)
        if hit:
            break
    if not hit:
        out.append(s.flush())
    assert "".join(out) == emitted
    assert hit is stopped


def test_pending_is_bounded_by_the_longest_stop():
    s = StopStrings(["abcdef"])
    for _ in range(1000):
        s.feed("abcde")  # never completes: "abcdeabcde..."
        assert len(s.pending) < len("abcdef")


def test_flush_returns_held_back_text():
    s = StopStrings(["STOP"])
    assert s.feed("wait ST") == ("wait ", False)
    assert s.flush() == "ST"
    assert s.flush() == ""
