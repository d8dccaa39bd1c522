"""``lethe calibrate``: sweep the scope thresholds on a suite and recommend one per target.

Scores come from a running gateway's admin API (``--admin-url``/``--admin-key``; the suite's
targets are loaded for the sweep and removed afterwards unless ``--keep-targets``), or, without an
admin URL, from a temporary local index built with the embedder. Writes ``thresholds.json``,
``calibration.md`` and ``calibration.png`` into ``--out``; ``--apply`` also PATCHes each target's
``policy.thresholds.semantic`` through the admin API.

Example:
    $ lethe calibrate builtin --out calibration-out                       # local index
    $ lethe calibrate suite.jsonl --admin-url http://127.0.0.1:8000 --admin-key K --apply
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from lethe.gateway.commands import CommandError
from lethe.gateway.commands.replay import add_admin_flags


def register(subparsers: Any) -> None:
    """Add ``calibrate`` to the ``lethe`` parser."""
    parser = subparsers.add_parser(
        "calibrate",
        help="sweep scope thresholds on a suite and recommend per-target thresholds",
        description="Plot forget detection against retain false positives as the semantic "
        "threshold varies, and recommend a threshold per target. See docs/replay.md.",
    )
    parser.add_argument(
        "suite",
        metavar="SUITE",
        nargs="?",
        default="builtin",
        help="suite file, builtin (default), or loader:PATH",
    )
    add_admin_flags(parser)
    parser.add_argument(
        "--max-fpr",
        type=float,
        default=0.05,
        metavar="RATE",
        help="false-positive budget on retain/general probes (default 0.05)",
    )
    parser.add_argument("--attacks", default="all", metavar="LIST", help="attacked probes too")
    parser.add_argument("--attacks-per-target", type=int, default=1, metavar="N")
    parser.add_argument("--split", metavar="NAME", help="benchmark loaders' main choice")
    parser.add_argument("--limit", type=int, metavar="N", help="benchmark loaders: rows cap")
    parser.add_argument("--out", type=Path, default=Path("calibration-out"), metavar="DIR")
    parser.add_argument("--apply", action="store_true", help="PATCH the thresholds (admin API)")
    parser.add_argument("--keep-targets", action="store_true")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Collect scores, sweep, write; prints one line per target."""
    # The local source loads the embedder: no hub, no progress bars (tqdm reads this at import).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    from lethe.gateway.replay.admin_client import AdminError
    from lethe.gateway.replay.attacks import generate_attacks, resolve_attacks
    from lethe.gateway.replay.sources import open_suite
    from lethe.gateway.replay.suite import SuiteError

    if not 0.0 <= args.max_fpr <= 1.0:
        raise CommandError(f"--max-fpr must be in [0, 1], got {args.max_fpr}")
    if args.apply and not args.admin_url:
        raise CommandError("--apply needs --admin-url (the thresholds are set through it)")
    try:
        suite = open_suite(args.suite, split=args.split, limit=args.limit)
        attacks = resolve_attacks(args.attacks)
    except (SuiteError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    per_target = args.attacks_per_target or None
    probes = [*suite.probes, *generate_attacks(suite, attacks, 0, per_target)]
    try:
        calibration, source = _calibrate(args, suite, probes)
    except AdminError as exc:
        raise CommandError(str(exc)) from None
    _report(args, calibration, source)
    return 0


def _calibrate(args: argparse.Namespace, suite: Any, probes: list[Any]) -> tuple[Any, str]:
    from lethe.gateway.replay.admin_client import AdminClient
    from lethe.gateway.replay.calibrate import (
        AdminScopeSource,
        LocalScopeSource,
        calibrate,
        collect,
        threshold_patches,
    )

    target_ids = [t.id for t in suite.targets]
    if not args.admin_url:
        local = LocalScopeSource(suite.targets)
        try:
            scores = collect(suite, probes, local)
        finally:
            local.close()
        return calibrate(scores, target_ids, args.max_fpr), "local index"
    with AdminClient(args.admin_url, args.admin_key) as admin:
        loaded = admin.load_targets(suite.targets)
        try:
            scores = collect(suite, probes, AdminScopeSource(admin))
            calibration = calibrate(scores, target_ids, args.max_fpr)
            if args.apply:
                for target_id, body in threshold_patches(calibration).items():
                    admin.patch_target(target_id, body)
        finally:
            if not args.keep_targets:
                admin.remove_targets(loaded.created)
    return calibration, f"admin API {args.admin_url}"


def _report(args: argparse.Namespace, calibration: Any, source: str) -> None:
    from lethe.gateway.replay.calibration_report import write_calibration

    write_calibration(calibration, args.out, source)
    for target_id, rec in calibration.recommendations.items():
        threshold = "none within budget" if rec.threshold is None else f"{rec.threshold:.2f}"
        detection = "n/a" if rec.detection is None else f"{rec.detection:.2f}"
        print(f"{target_id}: semantic threshold {threshold} (forget detection {detection})")
    print(f"thresholds: {args.out / 'thresholds.json'}")
