"""Writing a calibration: ``thresholds.json``, ``calibration.md`` and ``calibration.png``.

``thresholds.json`` holds, per target, the recommended semantic threshold with its detection and
false-positive rates and the counts behind them, the pooled (one global threshold) result, and
``patches``: the ``PATCH /admin/targets/{id}`` bodies that apply the recommendations (what
``lethe calibrate --apply`` sends, and what the scope classifier reads).

Example:
    >>> write_calibration(calibration, Path("calibration-out"), source="local")  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lethe.gateway.replay.calibrate import Calibration, threshold_patches


def calibration_json(calibration: Calibration, source: str) -> dict[str, Any]:
    """The JSON document of a calibration."""
    return {
        "source": source,
        "max_fpr": calibration.max_fpr,
        "pooled": asdict(calibration.pooled_recommendation),
        "targets": {t: asdict(r) for t, r in calibration.recommendations.items()},
        "patches": threshold_patches(calibration),
        "curves": {
            t: [[p.threshold, p.detection, p.false_positives] for p in curve]
            for t, curve in calibration.curves.items()
        },
    }


def _plot(calibration: Calibration, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 5))
    for target_id, curve in calibration.curves.items():
        fps = [p.false_positives for p in curve]
        ax.plot(fps, [p.detection for p in curve], alpha=0.6, label=target_id)
        rec = calibration.recommendations[target_id]
        if rec.threshold is not None:
            ax.scatter([rec.false_positives], [rec.detection], marker="o")
    if calibration.pooled:
        pooled = calibration.pooled
        ax.plot(
            [p.false_positives for p in pooled],
            [p.detection for p in pooled],
            color="black",
            linewidth=2,
            label="pooled (one threshold)",
        )
    ax.axvline(calibration.max_fpr, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("retain/general false-positive rate")
    ax.set_ylabel("forget detection rate")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("scope detection as the semantic threshold varies")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _markdown(document: dict[str, Any]) -> str:
    lines = [
        "# Scope threshold calibration",
        "",
        f"Source: {document['source']}; false-positive budget {document['max_fpr']:.2f}.",
        "",
        "| target | threshold | detection | false positives | forget probes | negatives |",
        "|---|---|---|---|---|---|",
    ]
    rows = [*document["targets"].values(), {**document["pooled"], "target_id": "(pooled)"}]
    for r in rows:
        cells = [r["target_id"], r["threshold"], r["detection"], r["false_positives"]]
        cells += [r["positives"], r["negatives"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    lines += ["", "![calibration](calibration.png)", ""]
    return "\n".join(lines)


def write_calibration(calibration: Calibration, out_dir: Path, source: str) -> list[Path]:
    """Write the three files into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = calibration_json(calibration, source)
    json_path = out_dir / "thresholds.json"
    json_path.write_text(json.dumps(document, indent=1) + "\n", "utf-8")
    md_path = out_dir / "calibration.md"
    md_path.write_text(_markdown(document), "utf-8")
    return [json_path, md_path, _plot(calibration, out_dir / "calibration.png")]
