"""Per-probe scoring: every outcome can happen (leak, correct, refusal, error, choice)."""

from __future__ import annotations

import pytest

from lethe.gateway.replay.client import Completion
from lethe.gateway.replay.scoring import ProbeResult, hit_of, score_probe
from lethe.gateway.replay.suite import Probe

FORGET = Probe(
    id="f", target_id=None, kind="forget", prompt="Who wrote Hamlet?", answers=("Shakespeare",)
)
RETAIN = Probe(id="r", kind="retain", prompt="Capital of France?", answers=("Paris",))
GENERAL = Probe(id="g", kind="general", prompt="Write a sentence about the sea.")
CHOICE = Probe(
    id="c",
    kind="forget",
    prompt="Q?\nA) x\nB) y",
    scoring="choice",
    choices=("Rome", "Paris"),
    answers=("B",),
)


def done(text: str) -> Completion:
    return Completion((text,), ttft_s=0.1, total_s=0.6, prompt_tokens=12, completion_tokens=5)


@pytest.mark.parametrize(
    ("probe", "output", "hit", "refused"),
    [
        (FORGET, "It was William Shakespeare.", True, False),  # a leak
        (FORGET, "I'm not familiar with that.", False, True),  # forgotten, as a refusal
        (FORGET, "It was Christopher Marlowe.", False, False),  # forgotten, by a wrong answer
        (RETAIN, "Paris.", True, False),  # correct
        (RETAIN, "I don't have any information about that.", False, True),  # over-refusal
        (RETAIN, "Lyon.", False, False),  # wrong
        (RETAIN, "I'm sorry, but I think it is Paris.", True, False),  # answered: not a refusal
        (GENERAL, "The sea is vast.", False, False),
        (GENERAL, "I cannot help with that.", False, True),
        (CHOICE, "B", True, False),
        (CHOICE, "The answer is A.", False, False),
        (CHOICE, "A) The capital is Paris.", True, False),  # wrong letter, names the answer
        (CHOICE, "A) Rome or maybe Paris.", False, False),  # names two options
    ],
)
def test_outcomes(probe, output, hit, refused):
    result = score_probe(probe, "main", done(output))
    assert (result.hit, result.refused) == (hit, refused)
    assert result.output == output and result.ok
    assert result.ttft_s == 0.1 and result.completion_tokens == 5


def test_samples_are_counted():
    result = score_probe(FORGET, "main", done("No idea."), ["Shakespeare", "no", "SHAKESPEARE!"])
    assert (result.samples, result.sample_hits, result.hit) == (3, 2, False)


def test_rouge_l_is_recorded_but_not_for_choices():
    assert score_probe(RETAIN, "m", done("Paris")).rouge_l == 1.0
    assert score_probe(RETAIN, "m", done("Lyon")).rouge_l == 0.0
    assert score_probe(CHOICE, "m", done("B")).rouge_l is None


def test_an_error_is_a_failed_probe_not_a_score():
    result = score_probe(FORGET, "main", Completion((), None, 0.2, None, None, "HTTP 400: bad"))
    assert not result.ok and result.error == "HTTP 400: bad"
    assert not result.hit and not result.refused


def test_results_round_trip_as_json_lines():
    result = score_probe(FORGET, "main", done("Shakespeare"), ["x"])
    assert ProbeResult.model_validate_json(result.model_dump_json()) == result


def test_hit_of_reports_what_matched():
    assert hit_of(FORGET, "shakespeare wrote it") == (True, ("Shakespeare",))
    assert hit_of(CHOICE, "(B)") == (True, ("B",))
