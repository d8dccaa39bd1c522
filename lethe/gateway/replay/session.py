"""One replay, start to finish: load targets, replay, score, report, clean up.

:func:`run_replay` is what ``lethe replay`` runs once its flags are parsed (and what tests call):

1. the probes: the suite's own, plus attacked variants of its forget probes;
2. with an admin URL, the suite's targets are created through the admin API (a Lethe gateway);
   without one, nothing is loaded and only the probes are replayed (any OpenAI endpoint);
3. every probe is replayed through ``main`` and, if given, ``baseline``, resuming from the out
   directory's ``results.jsonl``;
4. ``report.json``, ``report.md`` and the charts are written;
5. the targets the replay created are deleted again (unless ``keep_targets``), also when the
   run is interrupted.

Example:
    >>> outcome = run_replay(ReplayOptions(suite=load_builtin(), main=Endpoint(url),
    ...                                    out_dir=Path("replay-out")))     # doctest: +SKIP
    >>> outcome.report["summary"]["main"]["forget"]["leak_rate"]           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lethe.gateway.logs import kv
from lethe.gateway.replay.admin_client import AdminClient, LoadedTargets
from lethe.gateway.replay.attacks import generate_attacks
from lethe.gateway.replay.client import EndpointClient
from lethe.gateway.replay.report import build_report, write_report
from lethe.gateway.replay.results import ResultLog
from lethe.gateway.replay.runner import RunConfig, Runner
from lethe.gateway.replay.scoring import ProbeResult
from lethe.gateway.replay.suite import Probe, Suite

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An OpenAI-compatible endpoint: ``url`` ends in ``/v1``; ``model`` None: the first listed."""

    url: str
    api_key: str | None = None
    model: str | None = None


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """Everything one replay needs (the CLI flags, parsed)."""

    suite: Suite
    main: Endpoint
    out_dir: Path
    baseline: Endpoint | None = None
    admin_url: str | None = None
    admin_key: str | None = None
    attacks: tuple[str, ...] = ()
    attacks_per_target: int | None = None
    run: RunConfig = field(default_factory=RunConfig)
    keep_targets: bool = False
    fresh: bool = False
    progress: bool = True


@dataclass(frozen=True, slots=True)
class ReplayOutcome:
    """The report (as written to report.json) and the files written."""

    report: dict[str, Any]
    files: list[Path]


def replay_probes(options: ReplayOptions) -> list[Probe]:
    """The suite's probes plus the attacked variants the options ask for."""
    attacked = generate_attacks(
        options.suite, options.attacks, options.run.seed, options.attacks_per_target
    )
    return [*options.suite.probes, *attacked]


def _manifest(options: ReplayOptions, probes: list[Probe]) -> dict[str, Any]:
    endpoints = {"main": options.main.url}
    if options.baseline is not None:
        endpoints["baseline"] = options.baseline.url
    digest = hashlib.sha256("\n".join(p.model_dump_json() for p in probes).encode())
    return {
        "suite": options.suite.fingerprint(),
        "probes": f"{len(probes)}:{digest.hexdigest()[:16]}",
        "attacks": list(options.attacks),
        "attacks_per_target": options.attacks_per_target,
        "endpoints": endpoints,
        **options.run.manifest(),
    }


async def _replay(
    options: ReplayOptions, probes: list[Probe], log: ResultLog
) -> tuple[dict[str, list[ProbeResult]], dict[str, dict[str, Any]]]:
    named = {"main": options.main}
    if options.baseline is not None:
        named["baseline"] = options.baseline
    clients = {n: EndpointClient(e.url, e.api_key, e.model) for n, e in named.items()}
    try:
        runner = Runner(clients, options.run, log, progress=options.progress)
        await runner.run(probes)
        info: dict[str, dict[str, Any]] = {
            n: {"url": c.base_url, "model": await c.resolve_model()} for n, c in clients.items()
        }
    finally:
        for c in clients.values():
            await c.close()
    wanted = {p.id for p in probes}
    results = {n: [r for r in log.results(n) if r.probe_id in wanted] for n in named}
    return results, info


def run_replay(options: ReplayOptions) -> ReplayOutcome:
    """Run one replay (see the module docstring)."""
    probes = replay_probes(options)
    log = ResultLog.open(options.out_dir, _manifest(options, probes), fresh=options.fresh)
    admin = AdminClient(options.admin_url, options.admin_key) if options.admin_url else None
    loaded = LoadedTargets(())
    try:
        if admin is not None:
            loaded = admin.load_targets(options.suite.targets)
        results, info = asyncio.run(_replay(options, probes, log))
    finally:
        if admin is not None:
            if loaded.created and not options.keep_targets:
                admin.remove_targets(loaded.created)
            admin.close()
    info["main"]["targets_loaded"] = len(loaded.created) + len(loaded.preexisting)
    config = {
        **options.run.manifest(),
        "attacks": len(options.attacks),
        "attacks_per_target": options.attacks_per_target,
        "probes": len(probes),
    }
    report = build_report(options.suite, results, info, config)
    files = write_report(report, results, options.out_dir)
    logger.info(kv("replay_done", out=str(options.out_dir), files=len(files)))
    return ReplayOutcome(report, files)
