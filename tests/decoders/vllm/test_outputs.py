"""vLLM's RequestOutput deltas as GenerationOutputs: text, usage, finish reasons, logprobs."""

from __future__ import annotations

from types import SimpleNamespace as O

import pytest

from lethe.decoders import TokenLogprob, TopLogprob, Usage
from lethe.decoders.vllm.outputs import Deltas


def piece(index=0, text="", token_ids=(), logprobs=None, finish_reason=None):
    return O(
        index=index,
        text=text,
        token_ids=list(token_ids),
        logprobs=logprobs,
        finish_reason=finish_reason,
    )


def delta(*pieces):
    return O(outputs=list(pieces))


def lp(logprob, rank, token):
    return O(logprob=logprob, rank=rank, decoded_token=token)


def test_two_choices_interleaved_with_a_running_usage():
    deltas = Deltas(3, top_logprobs=None)
    first = deltas.feed(delta(piece(0, " The", [10]), piece(1, " A", [11])))
    second = deltas.feed(delta(piece(1, " cat", [12], finish_reason="stop")))
    last = deltas.feed(delta(piece(0, " end", [13, 14], finish_reason="length")))
    assert [(o.index, o.text, o.finish_reason) for o in first + second + last] == [
        (0, " The", None),
        (1, " A", None),
        (1, " cat", "stop"),
        (0, " end", "length"),
    ]
    assert first[0].usage == Usage(3, 2) and last[0].usage == Usage(3, 5)
    assert all(o.logprobs == () for o in first + second + last)


@pytest.mark.parametrize(
    ("reason", "expected"), [("stop", "stop"), ("length", "length"), ("abort", "stop")]
)
def test_finish_reasons(reason, expected):
    [out] = Deltas(3, None).feed(delta(piece(0, "", [], finish_reason=reason)))
    assert out.finish_reason == expected and out.finished


def test_an_empty_delta_yields_nothing():
    assert Deltas(3, None).feed(delta(piece(0, "", []))) == []


def test_logprobs_keep_the_best_by_rank_and_never_a_banned_token():
    entry = {
        7: lp(-2.5, 4, " Lyon"),  # the chosen token, not among the best two
        3: lp(-0.1, 1, " the"),
        5: lp(-1.0, 2, " a"),
        9: lp(-1.5, 3, " an"),
    }
    banned = {4: lp(-0.3, 1, " a"), 6: lp(float("-inf"), 2, " Paris")}
    [out] = Deltas(3, top_logprobs=2).feed(
        delta(piece(0, " Lyon a", [7, 4], logprobs=[entry, banned]))
    )
    first, second = out.logprobs
    assert first == TokenLogprob(
        " Lyon",
        -2.5,
        tuple(b" Lyon"),
        (TopLogprob(" the", -0.1, tuple(b" the")), TopLogprob(" a", -1.0, tuple(b" a"))),
    )
    assert [t.token for t in second.top] == [" a"]  # -inf (masked) is never an alternative


def test_logprobs_of_the_chosen_token_only():
    entry = {7: lp(-0.5, 1, "x")}
    [out] = Deltas(3, top_logprobs=0).feed(delta(piece(0, "x", [7], logprobs=[entry])))
    assert out.logprobs == (TokenLogprob("x", -0.5, (120,), ()),)
