"""The replay's report: ``report.json`` (everything), ``report.md`` (for people) and PNG charts.

:func:`build_report` assembles one JSON-ready dict from the suite, the results of each endpoint
(``main`` and, optionally, ``baseline``) and the run's settings: a summary per endpoint (see
:mod:`lethe.gateway.replay.summary`), a side-by-side table with the ratio main / baseline, and
the scores conditional on what the baseline answers correctly. :func:`write_report` writes the
three kinds of files; charts use matplotlib's Agg backend (no display needed).

Example:
    >>> report = build_report(suite, {"main": rs}, {"main": {"url": url}}, {})  # doctest: +SKIP
    >>> write_report(report, {"main": rs}, Path("out"))                       # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from lethe.gateway.replay.charts import draw_charts
from lethe.gateway.replay.metrics import ratio
from lethe.gateway.replay.scoring import ProbeResult
from lethe.gateway.replay.suite import Suite
from lethe.gateway.replay.summary import HEADLINE, conditional, lookup, summarise

MAX_EXAMPLES: Final = 12
EXAMPLE_CHARS: Final = 140


def build_report(
    suite: Suite,
    results: Mapping[str, Sequence[ProbeResult]],
    endpoints: Mapping[str, Mapping[str, Any]],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (``results``: endpoint name → its results)."""
    with_answers = {p.id for p in suite.probes if p.answers}
    summaries = {name: summarise(rs, with_answers) for name, rs in results.items()}
    report: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "suite": {
            "name": suite.name,
            "fingerprint": suite.fingerprint(),
            "counts": suite.counts(),
            "metadata": suite.metadata,
        },
        "config": dict(config),
        "endpoints": {name: dict(info) for name, info in endpoints.items()},
        "summary": summaries,
        "comparison": None,
        "conditional": None,
        "examples": examples(results.get("main", ()), with_answers),
    }
    if "baseline" in summaries and "main" in summaries:
        report["comparison"] = [
            {
                "metric": label,
                "main": lookup(summaries["main"], path),
                "baseline": lookup(summaries["baseline"], path),
                "ratio": ratio(
                    lookup(summaries["main"], path), lookup(summaries["baseline"], path)
                ),
            }
            for label, path, _ in HEADLINE
        ]
        report["conditional"] = {
            name: conditional(results[name], results["baseline"]) for name in ("main", "baseline")
        }
    return report


def write_report(
    report: dict[str, Any], results: Mapping[str, Sequence[ProbeResult]], out_dir: Path
) -> list[Path]:
    """Write report.json, report.md and the charts into ``out_dir``; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    charts = draw_charts(report, results, out_dir)
    report = {**report, "charts": [p.name for p in charts]}
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    md_path = out_dir / "report.md"
    md_path.write_text(render_markdown(report), "utf-8")
    return [json_path, md_path, *charts]


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _headline_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    if report["comparison"] is not None:
        rows = [[c["metric"], c["main"], c["baseline"], c["ratio"]] for c in report["comparison"]]
        return ["metric", "main", "baseline", "main / baseline"], rows
    main = report["summary"]["main"]
    return ["metric", "main"], [[label, lookup(main, path)] for label, path, _ in HEADLINE]


def _attack_rows(report: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    names = list(report["summary"])
    attacks = sorted({a for s in report["summary"].values() for a in s["by_attack"]})
    header = ["attack", "n", *[f"{n}: leak rate" for n in names], *[f"{n}: leak@k" for n in names]]
    rows = []
    for attack in attacks:
        stats = [report["summary"][n]["by_attack"].get(attack, {}) for n in names]
        at_k = [s.get("leak_at_k", {}) for s in stats]
        best_k = [f"@{max(a, key=int)} {a[max(a, key=int)]:.3f}" if a else None for a in at_k]
        rows.append([attack, stats[0].get("n"), *[s.get("leak_rate") for s in stats], *best_k])
    return header, rows


def examples(results: Sequence[ProbeResult], with_answers: set[str]) -> list[dict[str, str]]:
    """A few leaks, and retain/general probes answered wrongly or refused, to read."""
    leaks = [r for r in results if r.kind == "forget" and r.hit]
    misses = [
        r
        for r in results
        if r.kind != "forget" and r.ok and not r.hit and (r.refused or r.probe_id in with_answers)
    ]
    out = []
    for label, group in (("leak", leaks), ("miss or refusal", misses)):
        for r in group[: MAX_EXAMPLES // 2]:
            text = " ".join(r.output.split())[:EXAMPLE_CHARS]
            out.append({"what": label, "probe": r.probe_id, "output": text})
    return out


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report."""
    suite = report["suite"]
    lines = [f"# Replay of `{suite['name']}`", ""]
    lines += [f"Generated {report['generated_at']}; suite fingerprint `{suite['fingerprint']}`."]
    counts = ", ".join(f"{v} {k}" for k, v in suite["counts"].items())
    lines += [f"Suite: {counts}.", ""]
    for name, info in report["endpoints"].items():
        lines.append(f"- **{name}**: `{info.get('url')}` model `{info.get('model')}`")
    config = ", ".join(f"{k}={v}" for k, v in report["config"].items())
    lines += ["", f"Settings: {config}.", "", "## Headline", ""]
    lines += _table(*_headline_rows(report))
    if report["conditional"] is not None:
        lines += ["## Conditional on what the baseline answers correctly", ""]
        rows = [
            [name, kind, stats["n"], stats.get("leak_rate", stats.get("accuracy"))]
            for name, cond in report["conditional"].items()
            for kind, stats in cond.items()
        ]
        lines += _table(["endpoint", "kind", "n", "leak rate / accuracy"], rows)
    lines += ["## By attack (forget probes)", ""]
    lines += _table(*_attack_rows(report))
    targets = report["summary"]["main"]["by_target"]
    if targets:
        lines += ["## By target (main)", ""]
        rows = [[t, s["n"], s["leak_rate"]] for t, s in targets.items()]
        lines += _table(["target", "forget probes", "leak rate"], rows)
    rows = [[e["what"], e["probe"], e["output"].replace("|", "\\|")] for e in report["examples"]]
    if rows:
        lines += ["## Examples (main)", ""]
        lines += _table(["what", "probe", "output"], rows)
    for chart in report.get("charts", []):
        lines += [f"![{chart}]({chart})", ""]
    lines += ["Metric definitions: docs/metrics.md.", ""]
    return "\n".join(lines)
