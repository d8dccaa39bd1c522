"""PNG charts of a replay report, drawn with matplotlib's Agg backend (no display needed).

- ``overview.png``: leak rate, retain accuracy and over-refusal per endpoint;
- ``leak_by_attack.png``: greedy leak rate per attack, endpoints side by side;
- ``leak_at_k.png``: leak@k against k per endpoint;
- ``latency.png``: distribution of total request time and TTFT per endpoint.

Example:
    >>> draw_charts(report, results, Path("out"))                            # doctest: +SKIP
    [PosixPath('out/overview.png'), ...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lethe.gateway.replay.scoring import ProbeResult
from lethe.gateway.replay.summary import lookup

OVERVIEW = (
    ("forget leak", ("forget", "leak_rate")),
    ("retain acc.", ("retain", "accuracy")),
    ("retain over-refusal", ("retain", "over_refusal")),
    ("general acc.", ("general", "accuracy")),
    ("general over-refusal", ("general", "over_refusal")),
)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grouped_bars(
    labels: Sequence[str], series: Mapping[str, Sequence[float]], title: str, path: Path
) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(labels) * len(series) + 2), 4.2))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + i * width for j in range(len(labels))]
        ax.bar(xs, values, width=width, label=name)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(labels))])
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _zero(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _leak_at_k(summaries: Mapping[str, Any], path: Path) -> Path | None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    drawn = False
    for name, summary in summaries.items():
        points = sorted((int(k), v) for k, v in summary["forget"]["leak_at_k"].items())
        if points:
            ax.plot([k for k, _ in points], [v for _, v in points], marker="o", label=name)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log", base=2)
    ax.set_xlabel("k (samples at temperature 1)")
    ax.set_ylabel("leak@k")
    ax.set_ylim(0, 1.05)
    ax.set_title("leak@k on forget probes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _latency(results: Mapping[str, Sequence[ProbeResult]], path: Path) -> Path | None:
    data, labels = [], []
    for name, rs in results.items():
        for what, values in (
            ("total", [r.total_s for r in rs if r.ok and r.total_s is not None]),
            ("TTFT", [r.ttft_s for r in rs if r.ok and r.ttft_s is not None]),
        ):
            if values:
                data.append(values)
                labels.append(f"{name}\n{what}")
    if not data:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(data)), 4))
    ax.boxplot(data, tick_labels=labels)
    ax.set_ylabel("seconds")
    ax.set_title("request latency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def draw_charts(
    report: Mapping[str, Any], results: Mapping[str, Sequence[ProbeResult]], out_dir: Path
) -> list[Path]:
    """Draw every chart that has data; returns the files written."""
    summaries = report["summary"]
    written: list[Path] = []
    overview = {
        name: [_zero(lookup(s, path)) for _, path in OVERVIEW] for name, s in summaries.items()
    }
    labels = [label for label, _ in OVERVIEW]
    written.append(_grouped_bars(labels, overview, "overview", out_dir / "overview.png"))
    attacks = sorted({a for s in summaries.values() for a in s["by_attack"]})
    if attacks:
        series = {
            name: [_zero(s["by_attack"].get(a, {}).get("leak_rate")) for a in attacks]
            for name, s in summaries.items()
        }
        title = "greedy leak rate by attack"
        written.append(_grouped_bars(attacks, series, title, out_dir / "leak_by_attack.png"))
    for chart in (
        _leak_at_k(summaries, out_dir / "leak_at_k.png"),
        _latency(results, out_dir / "latency.png"),
    ):
        if chart is not None:
            written.append(chart)
    return written
