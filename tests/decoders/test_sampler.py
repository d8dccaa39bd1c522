import math

import pytest
import torch

from lethe.decoders.params import SamplingParams
from lethe.decoders.sampler import pick_tokens
from lethe.decoders.sequence import Sequence


class Bytes:
    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def seq(index=0, processors=(), **params):
    p = SamplingParams(**{"max_tokens": 50, **params})
    return Sequence(index, [65], p, Bytes(), frozenset({0}), processors=processors)


LOGITS = torch.tensor([0.0, 1.0, 3.0, 2.9, -1.0, 0.5])


def picks(s, logits=LOGITS, times=1):
    return [pick_tokens(logits.clone()[None], [s], eos_token_id=0)[0] for _ in range(times)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"temperature": 0}, 2),
        ({"temperature": 1.0, "top_k": 1}, 2),
        ({"temperature": 1.5, "top_p": 0.01}, 2),
        ({"temperature": 0, "logit_bias": {2: -100}}, 3),
        ({"temperature": 0, "logit_bias": {4: 10}}, 4),
        ({"temperature": 0, "logit_bias": {2: -100, 3: -100, 1: -100}}, 5),
    ],
)
def test_deterministic_choices(params, expected):
    assert all(p.token_id == expected for p in picks(seq(**params), times=5))


def test_banned_token_never_sampled_and_never_in_logprobs():
    s = seq(temperature=2.0, logit_bias={2: -100}, logprobs=True, top_logprobs=5, seed=1)
    for p in picks(s, times=200):
        assert p.token_id != 2
        assert 2 not in [t for t, _ in p.top]


def test_top_k_restricts_the_support():
    s = seq(temperature=2.0, top_k=2, seed=3)
    assert {p.token_id for p in picks(s, times=300)} == {2, 3}


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.softmax(LOGITS, -1)
    # 2 and 3 together hold > 0.7 of the mass; 0.6 needs both, so only they appear.
    assert probs[2] < 0.6 < probs[2] + probs[3]
    s = seq(temperature=1.0, top_p=0.6, seed=5)
    assert {p.token_id for p in picks(s, times=300)} == {2, 3}


def test_same_seed_same_draws_other_seed_other_draws():
    a = [p.token_id for p in picks(seq(temperature=1.0, seed=42), times=40)]
    b = [p.token_id for p in picks(seq(temperature=1.0, seed=42), times=40)]
    c = [p.token_id for p in picks(seq(temperature=1.0, seed=43), times=40)]
    assert a == b
    assert a != c


def test_choices_of_one_seeded_request_differ():
    a = [p.token_id for p in picks(seq(0, temperature=1.0, seed=42), times=40)]
    b = [p.token_id for p in picks(seq(1, temperature=1.0, seed=42), times=40)]
    assert a != b


def test_logprobs_are_normalised_and_sorted():
    (p,) = picks(seq(temperature=0, logprobs=True, top_logprobs=3))
    assert p.token_id == 2
    assert math.isclose(p.logprob, float(torch.log_softmax(LOGITS, -1)[2]), rel_tol=1e-5)
    assert [t for t, _ in p.top] == [2, 3, 1]
    assert sum(math.exp(lp) for lp in torch.log_softmax(LOGITS, -1).tolist()) == pytest.approx(1)


def test_processors_run_before_logprobs_even_for_greedy():
    class Ban:
        def __call__(self, s, logits):
            logits[2] = float("-inf")
            return logits

    (p,) = picks(seq(processors=[Ban()], temperature=0, logprobs=True, top_logprobs=2))
    assert p.token_id == 3
    assert 2 not in [t for t, _ in p.top]


def test_everything_masked_ends_the_choice_with_eos():
    s = seq(temperature=1.0, logit_bias={i: -100 for i in range(6)})
    assert picks(s)[0].token_id == 0


def test_frequency_penalty_discourages_repeats():
    s = seq(temperature=0, frequency_penalty=2.0)
    s.append(2)
    s.append(2)
    assert picks(s)[0].token_id == 3


def test_presence_penalty_discourages_seen_tokens():
    s = seq(temperature=0, presence_penalty=0.5)
    s.append(2)
    assert picks(s)[0].token_id == 3
