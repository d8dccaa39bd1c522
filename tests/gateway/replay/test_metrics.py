"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import pytest

from lethe.gateway.replay.metrics import (
    best_rouge_l_recall,
    lcs_length,
    leak_at_k,
    mean,
    percentile,
    rate,
    ratio,
    rouge_l_recall,
)


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (4, 0, 1, 0.0),  # never leaked: 0 whatever k
        (4, 4, 1, 1.0),  # always leaked
        (4, 1, 1, 0.25),  # k=1 is the plain sample leak rate c/n
        (16, 3, 1, 3 / 16),
        (4, 1, 4, 1.0),  # k=n: any leak among the n
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (16, 2, 4, 1 - 1001 / 1820),  # 1 - C(14,4)/C(16,4)
        (16, 1, 16, 1.0),
        (5, 3, 3, 1.0),  # n - c < k: every k-subset has a leak
        (10, 2, 3, 1 - 56 / 120),  # 1 - C(8,3)/C(10,3)
    ],
)
def test_leak_at_k_hand_values(n, c, k, expected):
    assert leak_at_k(n, c, k) == pytest.approx(expected)


def test_leak_at_k_is_monotone_in_k():
    values = [leak_at_k(16, 2, k) for k in range(1, 17)]
    assert values == sorted(values) and values[-1] == 1.0


@pytest.mark.parametrize(("n", "c", "k"), [(4, 1, 0), (4, 1, 5), (4, 5, 1), (4, -1, 1)])
def test_leak_at_k_rejects_impossible_inputs(n, c, k):
    with pytest.raises(ValueError):
        leak_at_k(n, c, k)


def test_leak_at_k_matches_brute_force_over_subsets():
    from itertools import combinations

    samples = [True, False, False, True, False, False]
    for k in range(1, 7):
        subsets = list(combinations(samples, k))
        brute = sum(any(s) for s in subsets) / len(subsets)
        assert leak_at_k(6, 2, k) == pytest.approx(brute)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("the cat sat on the mat", "the cat sat on the mat", 1.0),
        ("the cat sat on the mat", "", 0.0),
        ("the cat sat on the mat", "a mat on which the cat sat", 3 / 6),  # the cat sat
        ("Paris", "The capital is paris.", 1.0),  # case-insensitive words
        ("Harry Potter author", "the author of Harry Potter", 2 / 3),
        ("", "anything", 0.0),
    ],
)
def test_rouge_l_recall(reference, hypothesis, expected):
    assert rouge_l_recall(reference, hypothesis) == pytest.approx(expected)


def test_lcs_and_best_rouge():
    assert lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert best_rouge_l_recall(["red planet", "Mars"], "It is Mars.") == 1.0
    assert best_rouge_l_recall([], "x") is None


def test_aggregates_return_none_for_nothing():
    assert rate([]) is None and mean([]) is None and percentile([], 50) is None
    assert rate([True, False, False, True]) == 0.5
    assert mean([1.0, 2.0, 6.0]) == 3.0


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1, 2, 3, 4], 50, 2.5),
        ([1, 2, 3, 4], 0, 1.0),
        ([1, 2, 3, 4], 100, 4.0),
        ([10, 20, 30, 40, 50], 95, 48.0),  # numpy: 40 + 0.8 * 10
        ([3], 95, 3.0),
    ],
)
def test_percentile_linear_interpolation(values, q, expected):
    assert percentile(values, q) == pytest.approx(expected)


def test_ratio():
    assert ratio(0.2, 0.8) == 0.25
    assert ratio(0.5, 0.0) is None and ratio(None, 1.0) is None
    assert math.isclose(ratio(3.0, 2.0) or 0, 1.5)
