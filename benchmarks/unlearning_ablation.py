"""Ablation of the unlearning techniques: each alone and all together, on the built-in suite.

Usage (from the repo root; ~10-20 minutes per configuration on 2 cores)::

    python -m benchmarks.unlearning_ablation                       # bare, 3 single, all
    python -m benchmarks.unlearning_ablation --configs all --samples 16
    python -m benchmarks.unlearning_ablation --configs contrastive --samples 16 --attacks none
    python -m benchmarks.unlearning_ablation --table-only          # re-print from the reports

Each configuration is a real ``lethe serve`` (its own process, a fresh data dir, the packaged
configuration overlaid with the YAML below through ``LETHE_UNLEARNING_CONFIG``) and a real
``lethe replay builtin`` against it (targets loaded through the admin API). ``bare`` is the same
server with ``LETHE_UNLEARNING=false``; ``upstream`` is the packaged configuration on the
``upstream`` engine, in front of a bare ``lethe serve`` (logit_bias bans instead of rollback);
``all_agentic`` (``all_contrastive``) is the packaged configuration with the agentic stage
(contrastive decoding) added for every kind; ``all_contrastive_trained`` trains a LoRA
assistant on the suite's targets first (``lethe assistants train``, its record saved as
``assistant.json``) and contrasts against it; in
``agentic`` and ``all_agentic`` the served model is the judge (run them with ``--samples 1``:
every sampled answer is reviewed).
A single-technique configuration turns the every-request lexical output check off too
(``output_filter.lexical: false``), except for ``output_filter`` itself, whose lexical and
semantic checks are the technique. The scope check decides which
requests the technique applies to in every configuration.

Reports land in ``benchmarks/results/ablation/<config>/`` (with the server's ``/metrics`` at
the end, ``metrics.txt``: enforcement events by technique and action); the table (markdown)
compares forget leak (greedy, over all forget probes and over those the bare model leaks),
leak@k, the worst attack family, retain/general accuracy, over-refusal and latency, and is
written to
``benchmarks/results/ablation/table.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.serve_process import ServeProcess, data_dir_sharing_weights

OUT = Path(__file__).resolve().parent / "results" / "ablation"
ADMIN_KEY = "ablation-admin"
KINDS = ("entity", "fact", "document", "topic")
CONFIGS = (
    "bare",
    "context_redaction",
    "in_context",
    "forbidden_tokens",
    "output_filter",
    "all",
    "agentic",
    "all_agentic",
    "contrastive",
    "all_contrastive",
    "all_contrastive_trained",
    "upstream",
)
PACKAGED_TECHNIQUES = (
    "  - type: context_redaction\n    params: {names: true}\n"
    "  - type: in_context\n    params: {}\n"
    "  - type: forbidden_tokens\n    params: {max_rollbacks: 32, names: true}\n"
    "  - type: output_filter\n    params: {}\n"
    "  - type: agentic\n    params: {}\n"
)
PACKAGED_DEFAULTS = {
    "entity": "context_redaction, in_context, forbidden_tokens, output_filter",
    "fact": "context_redaction, in_context, forbidden_tokens, output_filter",
    "document": "context_redaction, in_context, forbidden_tokens, output_filter",
    "topic": "context_redaction, in_context, output_filter",
}


def override(config: str) -> str | None:
    """The YAML overlay of one configuration (None: the packaged configuration)."""
    if config in ("bare", "all", "upstream"):
        return None
    if config.startswith("all_"):  # the packaged configuration plus one technique
        extra = config.removeprefix("all_").removesuffix("_trained")
        kinds = "\n".join(f"  {k}: [{v}, {extra}]" for k, v in PACKAGED_DEFAULTS.items())
        listed = ""
        if extra == "contrastive":  # not in the packaged list (it needs the hf engine)
            params = "{assistant: trained}" if config.endswith("_trained") else "{}"
            listed = (
                f"techniques:\n{PACKAGED_TECHNIQUES}  - type: contrastive\n    params: {params}\n"
            )
        return f"{listed}defaults_by_kind:\n{kinds}\n"
    kinds = "\n".join(f"  {kind}: [{config}]" for kind in KINDS)
    lexical = "true" if config == "output_filter" else "false"
    params = "{max_rollbacks: 32, names: true}" if config == "forbidden_tokens" else "{}"
    return (
        f"techniques:\n  - type: {config}\n    params: {params}\n"
        f"defaults_by_kind:\n{kinds}\n"
        f"output_filter:\n  semantic_margin: 0.1\n  lexical: {lexical}\n"
    )


def run_config(config: str, args: argparse.Namespace) -> Path:
    """Serve ``config`` and replay the built-in suite against it; returns its report dir."""
    out = args.out / config
    with tempfile.TemporaryDirectory(prefix="lethe-ablation-") as tmp, ExitStack() as stack:
        env = {"LETHE_ADMIN_KEY": ADMIN_KEY, "LETHE_LOG_LEVEL": "warning"}
        yaml_text = override(config)
        if config == "bare":
            env["LETHE_UNLEARNING"] = "false"
        if config == "upstream":  # the full pipeline in front of a bare Lethe on SmolLM2
            up = ServeProcess(env={"LETHE_UNLEARNING": "false"}, data_dir=_data_dir(tmp, "up"))
            upstream = stack.enter_context(up)
            found = sorted((Path(tmp) / "up" / "model-cache").glob("SmolLM2*/tokenizer.json"))
            env |= {
                "LETHE_ENGINE": "upstream",
                "LETHE_UPSTREAM_URL": upstream.url + "/v1",
                "LETHE_TOKENIZER": str(found[0].parent),
            }
        data = _data_dir(tmp, "front")
        if yaml_text is not None:
            (data / "unlearning.yaml").write_text(yaml_text)
            env["LETHE_UNLEARNING_CONFIG"] = str(data / "unlearning.yaml")
        with ServeProcess(env=env, data_dir=data) as server:
            command = [
                sys.executable, "-m", "lethe.gateway.cli", "replay", "builtin",
                "--base-url", f"{server.url}/v1", "--admin-url", server.url,
                "--admin-key", ADMIN_KEY, "--samples", str(args.samples),
                "--max-tokens", str(args.max_tokens), "--attacks", args.attacks,
                "--attacks-per-target", "1", "--concurrency", str(args.concurrency),
                "--out", str(out), "--no-progress",
            ]  # fmt: skip
            if config == "bare":
                command.remove("--admin-url")
                command.remove(server.url)
            if config.endswith("_trained"):
                train_assistant(server.url, data, out, env)
            subprocess.run(command, check=True, env={**os.environ, **env})
            metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
            (out / "metrics.txt").write_text(metrics)  # enforcement counts, latency histograms
    return out


def train_assistant(url: str, data: Path, out: Path, env: dict[str, str]) -> None:
    """Load the suite's targets into the running server, train the assistant on them with
    ``lethe assistants train`` (a second process on the same data dir; the server picks the
    run up at its next in-scope request) and keep its record in ``out``."""
    from lethe.gateway.replay.admin_client import AdminClient
    from lethe.gateway.replay.sources import open_suite

    with AdminClient(url, ADMIN_KEY) as admin:
        admin.load_targets(open_suite("builtin").targets)
    command = [sys.executable, "-m", "lethe.gateway.cli", "assistants", "train"]
    subprocess.run(command, check=True, env={**os.environ, **env, "LETHE_DATA_DIR": str(data)})
    out.mkdir(parents=True, exist_ok=True)
    record = sorted((data / "assistants").glob("run-*/assistant.json"))[-1]
    (out / "assistant.json").write_text(record.read_text())


def _data_dir(tmp: str, name: str) -> Path:
    """A fresh data dir under ``tmp`` sharing the cached, dequantised weights."""
    return data_dir_sharing_weights(Path(tmp) / name)


def headline(report: dict[str, Any], bare: dict[str, Any] | None) -> dict[str, Any]:
    """The numbers of one configuration's report (``bare``: the bare model's report)."""
    s = report["summary"]["main"]
    attacks = {a: m["leak_rate"] for a, m in s["by_attack"].items()}
    worst = max((a for a in attacks if a != "direct"), key=attacks.__getitem__, default=None)
    row = {
        "leak_direct": attacks["direct"],
        "leak_all": s["forget"]["leak_rate"],
        "leak_at_k": s["forget"]["leak_at_k"],
        "worst_attack": (worst, attacks[worst]) if worst else ("(no attacks run)", 0.0),
        "retain": s["retain"]["accuracy"],
        "general": s["general"]["accuracy"],
        "over_refusal": max(s["retain"]["over_refusal"], s["general"]["over_refusal"]),
        "latency": (s["latency"]["total_p50_s"], s["latency"]["total_p95_s"]),
    }
    if bare is not None:
        row["leak_of_bare_leaks"] = conditional_leak(report, bare)
    return row


def conditional_leak(report: dict[str, Any], bare: dict[str, Any]) -> float:
    """Leak rate over the forget probes (direct and attacked) that the bare model leaked."""
    leaked = {p for p, hit in _hits(bare).items() if hit}
    ours = _hits(report)
    common = [p for p in leaked if p in ours]
    return sum(ours[p] for p in common) / len(common) if common else float("nan")


def _hits(report: dict[str, Any]) -> dict[str, bool]:
    path = Path(report["_dir"]) / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["probe_id"]: r["hit"] for r in rows if r["kind"] == "forget" and not r["error"]}


def table(configs: list[str], out: Path = OUT) -> str:
    """The markdown table over the configurations' reports found in ``out``."""
    reports = {}
    for config in configs:
        path = out / config / "report.json"
        if path.is_file():
            reports[config] = json.loads(path.read_text()) | {"_dir": str(out / config)}
    bare = reports.get("bare")
    lines = [
        "| configuration | leak (direct, greedy) | leak (bare's leaks) | leak (all forget) "
        "| leak@k | worst attack | retain acc. | general acc. | over-refusal "
        "| latency p50 / p95 (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for config, report in reports.items():
        r = headline(report, bare if config != "bare" else None)
        at_k = ", ".join(f"@{k} {v:.3f}" for k, v in r["leak_at_k"].items()) or "–"
        if config == "bare":
            cond = "1.000"
        else:
            cond = f"{r['leak_of_bare_leaks']:.3f}" if "leak_of_bare_leaks" in r else "–"
        lines.append(
            f"| {config} | {r['leak_direct']:.3f} | {cond} | {r['leak_all']:.3f} | {at_k} "
            f"| {r['worst_attack'][0]} {r['worst_attack'][1]:.3f} | {r['retain']:.3f} "
            f"| {r['general']:.3f} | {r['over_refusal']:.3f} "
            f"| {r['latency'][0]:.1f} / {r['latency'][1]:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--attacks",
        default="all",
        help="all, none or a list (none: direct probes only, for "
        "a leak@k run whose attack families come from another run)",
    )
    parser.add_argument("--table-only", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT, help="reports and table go here")
    args = parser.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    unknown = set(configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; choose from {CONFIGS}")
    if not args.table_only:
        for config in configs:
            print(f"== {config}", flush=True)
            run_config(config, args)
    text = table(list(CONFIGS), args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
