"""Replaying probes through one or more endpoints, a few requests at a time, resumably.

For each endpoint and probe not yet in the :class:`~lethe.gateway.replay.results.ResultLog`:

1. one **greedy** request (temperature 0) — the output that is scored and timed;
2. for forget probes, ``samples`` outputs at **temperature 1** (one request with ``n``, split by
   the client when ``n`` exceeds the server's cap), seeded per probe so reruns draw the same;
   attacked probes only with ``sample_attacks`` (on a CPU, samples of every attack cost more
   than the rest of the run);
3. the scored :class:`~lethe.gateway.replay.scoring.ProbeResult` is appended to the log.

At most ``concurrency`` probes are in flight per endpoint (the gateway batches them). A tqdm bar
shows progress on a terminal. An endpoint that cannot be reached stops the run
(:class:`~lethe.gateway.replay.client.EndpointUnreachable`); what was logged stays for a resume.

Example:
    >>> runner = Runner({"main": EndpointClient(url)}, RunConfig(samples=4), log)  # doctest: +SKIP
    >>> asyncio.run(runner.run(probes))                                          # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from tqdm import tqdm

from lethe.gateway.logs import kv
from lethe.gateway.replay.client import EndpointClient
from lethe.gateway.replay.results import ResultLog
from lethe.gateway.replay.scoring import ProbeResult, score_probe
from lethe.gateway.replay.suite import Probe

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Settings that change what is generated (they go into run.json)."""

    samples: int = 4
    max_tokens: int = 48
    sample_temperature: float = 1.0
    seed: int = 0
    concurrency: int = 4
    sample_attacks: bool = False

    def manifest(self) -> dict[str, object]:
        """The fields a resumed run must share (concurrency does not change outputs)."""
        out = asdict(self)
        out.pop("concurrency")
        return out


def probe_seed(seed: int, probe_id: str) -> int:
    """A stable per-probe seed (independent of order and of Python's hash randomisation)."""
    digest = hashlib.sha256(f"{seed}:{probe_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


class Runner:
    """Replays probes through ``endpoints`` (name → client) into ``log``."""

    def __init__(
        self,
        endpoints: Mapping[str, EndpointClient],
        config: RunConfig,
        log: ResultLog,
        progress: bool = True,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.config = config
        self.log = log
        self.progress = progress

    async def run(self, probes: Sequence[Probe]) -> list[ProbeResult]:
        """Replay every missing ``(endpoint, probe)``; returns all results of the run."""
        done = self.log.done()
        todo = [(e, p) for e in self.endpoints for p in probes if (e, p.id) not in done]
        logger.info(kv("replay_start", probes=len(probes), done=len(done), todo=len(todo)))
        for client in self.endpoints.values():
            await client.resolve_model()
        limits = {e: asyncio.Semaphore(self.config.concurrency) for e in self.endpoints}
        bar = tqdm(total=len(todo), unit="probe", disable=not self.progress or None, leave=True)
        tasks = [asyncio.create_task(self._one(e, p, limits[e])) for e, p in todo]
        try:
            for next_done in asyncio.as_completed(tasks):
                result = await next_done
                self.log.append(result)
                bar.update(1)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            bar.close()
        return self.log.results()

    def _samples_for(self, probe: Probe) -> bool:
        """Forget probes get samples; attacked ones only with ``sample_attacks``."""
        wanted = probe.attack is None or self.config.sample_attacks
        return probe.kind == "forget" and self.config.samples > 0 and wanted

    async def _one(self, endpoint: str, probe: Probe, limit: asyncio.Semaphore) -> ProbeResult:
        client = self.endpoints[endpoint]
        seed = probe_seed(self.config.seed, probe.id)
        max_tokens = probe.max_tokens or self.config.max_tokens
        messages = probe.to_messages()
        async with limit:
            greedy = await client.chat(messages, temperature=0.0, max_tokens=max_tokens, seed=seed)
            samples: tuple[str, ...] = ()
            if self._samples_for(probe) and greedy.error is None:
                drawn = await client.chat(
                    messages,
                    temperature=self.config.sample_temperature,
                    max_tokens=max_tokens,
                    n=self.config.samples,
                    seed=seed,
                )
                samples = drawn.texts if drawn.error is None else ()
        return score_probe(probe, endpoint, greedy, samples)
