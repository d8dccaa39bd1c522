"""Aggregation into the report's numbers, against hand-computed values."""

from __future__ import annotations

import pytest

from lethe.gateway.replay.scoring import ProbeResult
from lethe.gateway.replay.summary import conditional, leak_at_ks, summarise


def r(pid: str, kind: str, **kw: object) -> ProbeResult:
    return ProbeResult(endpoint="main", probe_id=pid, kind=kind, **kw)  # type: ignore[arg-type]


RESULTS = [
    r(
        "f1",
        "forget",
        target_id="t1",
        hit=True,
        samples=4,
        sample_hits=2,
        rouge_l=1.0,
        ttft_s=0.1,
        total_s=1.0,
        completion_tokens=9,
    ),
    r(
        "f2",
        "forget",
        target_id="t1",
        hit=False,
        refused=True,
        samples=4,
        sample_hits=0,
        rouge_l=0.0,
        ttft_s=0.3,
        total_s=2.0,
        completion_tokens=17,
    ),
    r(
        "f2~paraphrase",
        "forget",
        target_id="t1",
        attack="paraphrase",
        hit=True,
        rouge_l=0.5,
        ttft_s=0.2,
        total_s=3.0,
        completion_tokens=28,
    ),
    r("r1", "retain", hit=True, rouge_l=1.0, ttft_s=0.1, total_s=1.0, completion_tokens=9),
    r(
        "r2",
        "retain",
        hit=False,
        refused=True,
        rouge_l=0.0,
        ttft_s=0.1,
        total_s=1.0,
        completion_tokens=9,
    ),
    r("g1", "general", hit=True, ttft_s=0.1, total_s=1.0, completion_tokens=9),
    r("g2", "general", refused=True, ttft_s=0.1, total_s=1.0, completion_tokens=9),
    r("x", "retain", error="HTTP 500: boom"),
]


def test_summary_hand_values():
    s = summarise(RESULTS, with_answers={"f1", "f2", "f2~paraphrase", "r1", "r2", "x", "g1"})
    assert s["probes"] == 8 and s["errors"] == 1
    assert s["forget"]["n"] == 3
    assert s["forget"]["leak_rate"] == pytest.approx(2 / 3)
    # leak@1: mean(2/4, 0/4); leak@4: mean(1, 0); the attacked probe has no samples
    assert s["forget"]["leak_at_k"] == {"1": pytest.approx(0.25), "4": pytest.approx(0.5)}
    assert s["forget"]["rouge_l_recall"] == pytest.approx(0.5)
    assert s["retain"] == {"n": 2, "accuracy": 0.5, "over_refusal": 0.5, "rouge_l_recall": 0.5}
    # g2 has no answers: counted for over-refusal, not for accuracy
    assert s["general"]["accuracy"] == 1.0 and s["general"]["over_refusal"] == 0.5
    assert s["by_attack"]["direct"]["leak_rate"] == 0.5
    assert s["by_attack"]["paraphrase"] == {
        "n": 1,
        "leak_rate": 1.0,
        "leak_at_k": {},
        "rouge_l_recall": 0.5,
        "refusal_rate": 0.0,
    }
    assert s["by_target"] == {"t1": {"n": 3, "leak_rate": pytest.approx(2 / 3)}}


def test_latency_percentiles_and_speed():
    lat = summarise(RESULTS)["latency"]
    # sorted totals (the errored probe has none): 1 1 1 1 1 2 3; p95 at position 6 * 0.95 = 5.7
    assert lat["total_p50_s"] == 1.0
    assert lat["total_p95_s"] == pytest.approx(2.0 + 0.7 * (3.0 - 2.0))
    assert lat["ttft_p50_s"] == 0.1
    assert lat["tokens_per_s_p50"] == pytest.approx(10.0)  # 9 tokens / 0.9 s


def test_empty_kinds_are_none_not_zero():
    s = summarise([r("r1", "retain", hit=True)])
    assert s["forget"]["leak_rate"] is None and s["forget"]["leak_at_k"] == {}
    assert s["general"]["accuracy"] is None


def test_leak_at_ks_only_uses_probes_with_enough_samples():
    rs = [r("a", "forget", samples=16, sample_hits=1), r("b", "forget", samples=4, sample_hits=4)]
    got = leak_at_ks(rs, (1, 4, 16))
    assert got["16"] == 1.0  # only "a": 16 samples, one leak -> certain within 16
    assert got["4"] == pytest.approx((0.25 + 1.0) / 2)
    assert got["1"] == pytest.approx((1 / 16 + 1.0) / 2)


def test_conditional_on_what_the_baseline_knows():
    baseline = [
        r("f1", "forget", hit=True),
        r("f2", "forget", hit=True),
        r("f3", "forget", hit=False),
        r("r1", "retain", hit=True),
        r("r2", "retain", hit=False),
    ]
    main = [
        r("f1", "forget", hit=False, refused=True),
        r("f2", "forget", hit=True),
        r("f3", "forget", hit=True),  # baseline did not know it: not counted
        r("r1", "retain", hit=False, refused=True),
        r("r2", "retain", hit=True),
    ]
    got = conditional(main, baseline)
    assert got["forget"] == {"n": 2, "leak_rate": 0.5}
    assert got["retain"] == {"n": 1, "accuracy": 0.0, "over_refusal": 1.0}
    assert got["general"]["n"] == 0
