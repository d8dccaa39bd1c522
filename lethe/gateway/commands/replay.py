"""``lethe replay``: replay a suite through any OpenAI-compatible endpoint and report.

Loads the suite's forget targets through the admin API when ``--admin-url`` (or ``--admin-key``,
then the admin API is at the base URL's server) is given, replays every probe (plus attacked
variants of the forget probes) through ``--base-url`` and, with ``--baseline-url``, through a
baseline too, and writes ``report.json``, ``report.md`` and PNG charts into ``--out``. Results
are appended to ``--out``/results.jsonl as they come: rerun the same command after an
interruption and it resumes. The targets it created are deleted at the end unless
``--keep-targets``.

Example:
    $ lethe replay builtin --base-url http://127.0.0.1:8000/v1 --admin-key $LETHE_ADMIN_KEY \\
          --baseline-url http://127.0.0.1:8001/v1 --samples 16 --out replay-out
    $ lethe replay tofu:./TOFU --split forget05 --base-url http://127.0.0.1:8000/v1 --attacks none
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from lethe.gateway.commands import CommandError

INTERRUPTED = 130

# The flags of a run beyond the endpoint ones, as (flag, argparse options).
RUN_FLAGS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("--baseline-url", {"metavar": "URL", "help": "endpoint to compare against"}),
    ("--baseline-api-key", {"metavar": "KEY"}),
    ("--baseline-model", {"metavar": "ID"}),
    (
        "--samples",
        {
            "type": int,
            "default": 4,
            "metavar": "N",
            "help": "temperature-1 samples per forget probe for leak@k (default 4)",
        },
    ),
    (
        "--sample-attacks",
        {"action": "store_true", "help": "samples for attacked probes too (default: direct only)"},
    ),
    (
        "--max-tokens",
        {
            "type": int,
            "default": 48,
            "metavar": "N",
            "help": "completion budget per probe (default 48)",
        },
    ),
    (
        "--concurrency",
        {
            "type": int,
            "default": 4,
            "metavar": "N",
            "help": "probes in flight per endpoint (default 4)",
        },
    ),
    (
        "--attacks",
        {
            "default": "all",
            "metavar": "LIST",
            "help": "all, none, or a comma-separated list of attack names",
        },
    ),
    (
        "--attacks-per-target",
        {
            "type": int,
            "default": 1,
            "metavar": "N",
            "help": "attack the first N forget probes per target; 0: all",
        },
    ),
    ("--seed", {"type": int, "default": 0}),
    ("--out", {"type": Path, "default": Path("replay-out"), "metavar": "DIR"}),
    ("--keep-targets", {"action": "store_true", "help": "leave the loaded targets in place"}),
    ("--fresh", {"action": "store_true", "help": "discard results already in --out"}),
    ("--no-progress", {"action": "store_true", "help": "no progress bar"}),
)


def register(subparsers: Any) -> None:
    """Add ``replay`` to the ``lethe`` parser."""
    parser = subparsers.add_parser(
        "replay",
        help="replay a benchmark suite through an OpenAI-compatible endpoint",
        description="Replay a suite (forget, retain, general and attacked probes) and report leak "
        "rate, leak@k, retain accuracy, over-refusal and latency. See docs/replay.md.",
    )
    parser.add_argument(
        "suite",
        metavar="SUITE",
        nargs="?",
        default="builtin",
        help="suite file (.json/.jsonl), builtin (default), or tofu:|muse:|wmdp:|rwku:PATH",
    )
    add_endpoint_flags(parser)
    for flag, options in RUN_FLAGS:
        parser.add_argument(flag, **options)
    parser.set_defaults(handler=run)


def add_admin_flags(parser: argparse.ArgumentParser) -> None:
    """``--admin-url`` and ``--admin-key`` (shared with ``lethe calibrate``)."""
    parser.add_argument("--admin-url", metavar="URL", help="Lethe admin API (server root)")
    parser.add_argument(
        "--admin-key",
        metavar="KEY",
        default=os.environ.get("LETHE_ADMIN_KEY"),
        help="admin key (default: $LETHE_ADMIN_KEY)",
    )


def add_endpoint_flags(parser: argparse.ArgumentParser) -> None:
    """The endpoint, the admin API and the suite's loader."""
    parser.add_argument("--base-url", metavar="URL", help="OpenAI-compatible base URL (…/v1)")
    parser.add_argument("--api-key", metavar="KEY", default=os.environ.get("OPENAI_API_KEY"))
    parser.add_argument("--model", metavar="ID", help="model id (default: the first listed)")
    add_admin_flags(parser)
    parser.add_argument(
        "--split",
        metavar="NAME",
        help="benchmark loaders: TOFU forget split, MUSE corpus, WMDP subset, RWKU target",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="benchmark loaders: rows cap")


def admin_url_of(args: argparse.Namespace) -> str | None:
    """The admin API's URL: ``--admin-url``, else the base URL's server when a key is given."""
    if args.admin_url:
        return str(args.admin_url)
    if args.admin_key and args.base_url:
        return str(args.base_url).rstrip("/").removesuffix("/v1")
    return None


def _positive(name: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise CommandError(f"--{name} must be at least {minimum}, got {value}")


def run(args: argparse.Namespace) -> int:
    """Parse, replay, report; prints the headline numbers and where the report is."""
    from lethe.gateway.replay.admin_client import AdminError
    from lethe.gateway.replay.attacks import resolve_attacks
    from lethe.gateway.replay.client import EndpointUnreachable
    from lethe.gateway.replay.results import RunMismatch
    from lethe.gateway.replay.runner import RunConfig
    from lethe.gateway.replay.session import Endpoint, ReplayOptions, run_replay
    from lethe.gateway.replay.sources import open_suite
    from lethe.gateway.replay.suite import SuiteError

    if not args.base_url:
        raise CommandError("--base-url is required (the endpoint to replay through, …/v1)")
    _positive("samples", args.samples, 0)
    _positive("max-tokens", args.max_tokens)
    _positive("concurrency", args.concurrency)
    _positive("attacks-per-target", args.attacks_per_target, 0)
    try:
        suite = open_suite(args.suite, split=args.split, limit=args.limit)
        attacks = resolve_attacks(args.attacks)
    except (SuiteError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    baseline = None
    if args.baseline_url:
        baseline = Endpoint(args.baseline_url, args.baseline_api_key, args.baseline_model)
    options = ReplayOptions(
        suite=suite,
        main=Endpoint(args.base_url, args.api_key, args.model),
        baseline=baseline,
        out_dir=args.out,
        admin_url=admin_url_of(args),
        admin_key=args.admin_key,
        attacks=tuple(attacks),
        attacks_per_target=args.attacks_per_target or None,
        run=RunConfig(
            samples=args.samples,
            max_tokens=args.max_tokens,
            seed=args.seed,
            concurrency=args.concurrency,
            sample_attacks=args.sample_attacks,
        ),
        keep_targets=args.keep_targets,
        fresh=args.fresh,
        progress=not args.no_progress,
    )
    try:
        outcome = run_replay(options)
    except (EndpointUnreachable, AdminError, RunMismatch) as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:
        print(f"interrupted; rerun the same command to resume from {args.out}", file=sys.stderr)
        return INTERRUPTED
    _print_headline(outcome.report, args.out)
    return 0


def _print_headline(report: dict[str, Any], out: Path) -> None:
    for name, summary in report["summary"].items():
        forget, retain, general = summary["forget"], summary["retain"], summary["general"]
        at_k = "".join(f" leak@{k}={v:.3f}" for k, v in forget["leak_at_k"].items())
        print(
            f"{name}: forget leak={_f(forget['leak_rate'])}{at_k} | retain "
            f"acc={_f(retain['accuracy'])} over-refusal={_f(retain['over_refusal'])} | general "
            f"acc={_f(general['accuracy'])} over-refusal={_f(general['over_refusal'])} | "
            f"errors={summary['errors']}"
        )
    print(f"report: {out / 'report.md'}")


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
