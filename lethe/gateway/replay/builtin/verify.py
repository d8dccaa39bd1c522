"""Keep only the built-in probes the bare model answers correctly, and record how many.

Replays every candidate probe (:func:`~lethe.gateway.replay.builtin.candidate_suite`) once,
greedy, through an endpoint serving the **bare** model (no targets loaded), and writes the
verified suite: the probes answered correctly (forget and retain probes: an accepted answer
appears; general probes without answers: not refused), the targets that still have a forget
probe, and ``metadata.verification`` with the model, the settings and the counts before and after.

Example:
    $ lethe serve --port 8011 &
    $ python -m lethe.gateway.replay.builtin.verify --base-url http://127.0.0.1:8011/v1
    kept 61 of 79 probes (forget 30/40, retain 23/30, general 8/9) -> .../builtin/smollm2.json
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from lethe.gateway.replay.builtin import PACKAGE, VERIFIED_FILE, candidate_suite
from lethe.gateway.replay.client import EndpointClient, EndpointUnreachable
from lethe.gateway.replay.results import ResultLog
from lethe.gateway.replay.runner import RunConfig, Runner
from lethe.gateway.replay.scoring import ProbeResult
from lethe.gateway.replay.suite import Probe, Suite, save_suite

VERIFY_MAX_TOKENS = 40


def known(probe: Probe, result: ProbeResult) -> bool:
    """Whether the bare model "knows" the probe: answered it (or, without answers, did not
    refuse), with no error."""
    if not result.ok:
        return False
    return result.hit if probe.answers else not result.refused


def select_known(suite: Suite, results: dict[str, ProbeResult], model: str, config: dict) -> Suite:
    """The verified suite: known probes, the targets they use, and the counts in metadata."""
    kept = [p for p in suite.probes if p.id in results and known(p, results[p.id])]
    used = {p.target_id for p in kept if p.kind == "forget"}
    targets = [t for t in suite.targets if t.id in used]
    after = Suite(name="builtin", targets=targets, probes=kept)
    verification = {
        "model": model,
        "date": datetime.now(UTC).date().isoformat(),
        "settings": config,
        "candidates": suite.counts(),
        "kept": after.counts(),
        "dropped": sorted(p.id for p in suite.probes if p not in kept),
    }
    return after.model_copy(
        update={
            "description": "Built-in suite: probes the bare embedded model answers correctly",
            "metadata": {"verification": verification},
        }
    )


async def verify(
    suite: Suite, client: EndpointClient, work_dir: Path, concurrency: int = 4
) -> Suite:
    """Replay ``suite`` greedily through ``client`` and return the verified suite."""
    config = RunConfig(samples=0, max_tokens=VERIFY_MAX_TOKENS, concurrency=concurrency)
    log = ResultLog.open(work_dir, {"suite": suite.fingerprint(), **config.manifest()})
    runner = Runner({"bare": client}, config, log)
    results = {r.probe_id: r for r in await runner.run(suite.probes)}
    model = await client.resolve_model()
    return select_known(suite, results, model, config.manifest())


def _summary(before: dict[str, int], after: dict[str, int]) -> str:
    kinds = ", ".join(f"{k} {after[k]}/{before[k]}" for k in ("forget", "retain", "general"))
    return f"kept {after['probes']} of {before['probes']} probes ({kinds})"


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: verify the candidates against ``--base-url`` and write the suite."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="OpenAI-compatible URL (…/v1)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--model", default=None, help="model id (default: the first listed)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the suite")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    out = args.out or Path(str(resources.files(PACKAGE).joinpath(VERIFIED_FILE)))
    suite = candidate_suite()

    async def go() -> Suite:
        client = EndpointClient(args.base_url, args.api_key, args.model)
        try:
            with tempfile.TemporaryDirectory(prefix="lethe-verify-") as work:
                return await verify(suite, client, Path(work), args.concurrency)
        finally:
            await client.close()

    try:
        verified = asyncio.run(go())
    except EndpointUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    save_suite(verified, out)
    print(f"{_summary(suite.counts(), verified.counts())} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
