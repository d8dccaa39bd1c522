"""Aggregating scored probes into the report's numbers (definitions in docs/metrics.md).

:func:`summarise` turns one endpoint's :class:`~lethe.gateway.replay.scoring.ProbeResult` s into a
JSON-ready dict (leak rate, leak@k, retain accuracy, over-refusal, ROUGE-L recall, per-attack and
per-target breakdowns, latency). :func:`conditional` scores an endpoint only on the probes a
baseline answers correctly — the honest measure when the bare model does not know everything.
:data:`HEADLINE` lists the metrics the side-by-side table shows, as paths into a summary.

Example:
    >>> s = summarise([ProbeResult(endpoint="m", probe_id="p", kind="forget", hit=True)])
    >>> s["forget"]["leak_rate"], s["retain"]["accuracy"]
    (1.0, None)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from lethe.gateway.replay.metrics import leak_at_k, mean, percentile, rate
from lethe.gateway.replay.scoring import ProbeResult

DEFAULT_KS: Final = (1, 4, 16)
DIRECT: Final = "direct"

# (label, path into a summary, True when higher is better)
HEADLINE: Final[tuple[tuple[str, tuple[str, ...], bool], ...]] = (
    ("forget: leak rate (greedy)", ("forget", "leak_rate"), False),
    *[(f"forget: leak@{k}", ("forget", "leak_at_k", str(k)), False) for k in DEFAULT_KS],
    ("forget: ROUGE-L recall", ("forget", "rouge_l_recall"), False),
    ("retain: accuracy", ("retain", "accuracy"), True),
    ("retain: over-refusal", ("retain", "over_refusal"), False),
    ("retain: ROUGE-L recall", ("retain", "rouge_l_recall"), True),
    ("general: accuracy", ("general", "accuracy"), True),
    ("general: over-refusal", ("general", "over_refusal"), False),
    ("latency: TTFT p50 (s)", ("latency", "ttft_p50_s"), False),
    ("latency: TTFT p95 (s)", ("latency", "ttft_p95_s"), False),
    ("latency: total p50 (s)", ("latency", "total_p50_s"), False),
    ("latency: total p95 (s)", ("latency", "total_p95_s"), False),
    ("throughput: tokens/s p50", ("latency", "tokens_per_s_p50"), True),
    ("errors", ("errors",), False),
)


def leak_at_ks(results: Sequence[ProbeResult], ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    """Mean leak@k over the results with at least ``k`` samples, for each ``k``."""
    out: dict[str, float] = {}
    for k in ks:
        values = [leak_at_k(r.samples, r.sample_hits, k) for r in results if r.samples >= k]
        if values:
            out[str(k)] = sum(values) / len(values)
    return out


def _forget(results: Sequence[ProbeResult], ks: Iterable[int]) -> dict[str, Any]:
    return {
        "n": len(results),
        "leak_rate": rate(r.hit for r in results),
        "leak_at_k": leak_at_ks(results, ks),
        "rouge_l_recall": mean(r.rouge_l for r in results if r.rouge_l is not None),
        "refusal_rate": rate(r.refused for r in results),
    }


def _answerable(results: Sequence[ProbeResult], with_answers: set[str]) -> dict[str, Any]:
    scored = [r for r in results if r.probe_id in with_answers]
    return {
        "n": len(results),
        "accuracy": rate(r.hit for r in scored),
        "over_refusal": rate(r.refused for r in results),
        "rouge_l_recall": mean(r.rouge_l for r in scored if r.rouge_l is not None),
    }


def _group(
    results: Sequence[ProbeResult], key: Callable[[ProbeResult], str | None]
) -> dict[str, list[ProbeResult]]:
    groups: dict[str, list[ProbeResult]] = {}
    for r in results:
        name = key(r)
        if name is not None:
            groups.setdefault(name, []).append(r)
    return dict(sorted(groups.items()))


def latency(results: Sequence[ProbeResult]) -> dict[str, float | None]:
    """TTFT and total time percentiles (s) and decode speed (completion tokens / decode time)."""
    ttft = [r.ttft_s for r in results if r.ttft_s is not None]
    total = [r.total_s for r in results if r.total_s is not None]
    speeds = [
        r.completion_tokens / (r.total_s - (r.ttft_s or 0.0))
        for r in results
        if r.completion_tokens and r.total_s and r.total_s > (r.ttft_s or 0.0)
    ]
    return {
        "ttft_p50_s": percentile(ttft, 50),
        "ttft_p95_s": percentile(ttft, 95),
        "total_p50_s": percentile(total, 50),
        "total_p95_s": percentile(total, 95),
        "tokens_per_s_p50": percentile(speeds, 50),
    }


def summarise(
    results: Sequence[ProbeResult],
    with_answers: set[str] | None = None,
    ks: Iterable[int] = DEFAULT_KS,
) -> dict[str, Any]:
    """One endpoint's summary. ``with_answers``: ids of general probes that have answers (all
    probes when None); general accuracy is computed over those only."""
    ok = [r for r in results if r.ok]
    ids = with_answers if with_answers is not None else {r.probe_id for r in ok}
    ks = tuple(ks)
    by_kind = _group(ok, lambda r: r.kind)
    forget = by_kind.get("forget", [])
    return {
        "probes": len(results),
        "errors": len(results) - len(ok),
        "forget": _forget(forget, ks),
        "retain": _answerable(by_kind.get("retain", []), ids),
        "general": _answerable(by_kind.get("general", []), ids),
        "by_attack": {
            name: _forget(group, ks)
            for name, group in _group(forget, lambda r: r.attack or DIRECT).items()
        },
        "by_target": {
            name: {"n": len(group), "leak_rate": rate(r.hit for r in group)}
            for name, group in _group(forget, lambda r: r.target_id).items()
        },
        "latency": latency(ok),
    }


def conditional(
    results: Sequence[ProbeResult], baseline: Sequence[ProbeResult]
) -> dict[str, dict[str, float | int | None]]:
    """Scores over the probes the ``baseline`` got right (leaked, for forget probes).

    ``forget.leak_rate`` is the share of the baseline's leaks that still leak;
    ``retain.accuracy`` the share of the baseline's correct retain answers still correct.
    """
    known = {r.probe_id for r in baseline if r.ok and r.hit}
    out: dict[str, dict[str, float | int | None]] = {}
    for kind, name in (("forget", "leak_rate"), ("retain", "accuracy"), ("general", "accuracy")):
        group = [r for r in results if r.ok and r.kind == kind and r.probe_id in known]
        out[kind] = {"n": len(group), name: rate(r.hit for r in group)}
        if kind != "forget":
            out[kind]["over_refusal"] = rate(r.refused for r in group)
    return out


def lookup(summary: dict[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` in a summary, or None."""
    node: Any = summary
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
