"""A bounded load on loopback against one or more gateway replicas, with the official ``openai``
client: ``clients`` concurrent clients, each sending one chat request after another to its
replica (client ``i`` to replica ``i % len(urls)``) until ``duration_s`` is over. Half the
requests stream (their time to first token is recorded), half do not; a share of them ask about
a forget target, and an answer that names it is counted as a leak. Meanwhile a writer adds
forget targets on one replica every ``write_every_s`` and times how long until the other
replica's scope lookup finds each (convergence under load).

Used by ``tests/gateway/test_replica_load.py`` (short, in CI) and
``benchmarks/replica_load.py`` (60 s).

Example:
    >>> result = asyncio.run(run_load(LoadPlan(urls=[a.url, b.url], ...)))  # doctest: +SKIP
    >>> result.errors, result.summary()["latency_ms"]["p95"]                 # doctest: +SKIP
    ({}, 4120.0)
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

CLEAN_PROMPTS = (
    "What is the capital of France?",
    "Explain how a bicycle works in two sentences.",
    "Give me three tips for better sleep.",
    "What is photosynthesis?",
)


@dataclass(frozen=True)
class LoadPlan:
    """What to run. ``targets`` are ``(id, name)`` pairs already in the registry; every
    ``in_scope_every``-th request asks about one of them."""

    urls: list[str]
    model: str
    admin_key: str
    targets: list[tuple[str, str]]
    clients: int = 32
    duration_s: float = 60.0
    max_tokens: int = 16
    in_scope_every: int = 4
    write_every_s: float = 2.0


@dataclass
class LoadResult:
    """What happened: latencies (ms) of successful requests, TTFTs of streamed ones, counts of
    429s, other errors by type (with one message each), leaks, and convergence times (s)."""

    latency_ms: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    overloaded: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    leaks: list[str] = field(default_factory=list)
    in_scope: int = 0
    convergence_s: list[float] = field(default_factory=list)
    completion_tokens: int = 0
    wall_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Medians and 95th percentiles, for printing and JSON."""
        return {
            "requests_ok": len(self.latency_ms),
            "requests_per_s": round(len(self.latency_ms) / self.wall_s, 2) if self.wall_s else 0,
            "completion_tokens_per_s": round(self.completion_tokens / self.wall_s, 1)
            if self.wall_s
            else 0,
            "latency_ms": _quantiles(self.latency_ms),
            "ttft_ms": _quantiles(self.ttft_ms),
            "overloaded_429": self.overloaded,
            "errors": dict(self.errors),
            "error_samples": self.error_samples,
            "in_scope_requests": self.in_scope,
            "leaks": len(self.leaks),
            "convergence_ms": _quantiles([s * 1000 for s in self.convergence_s]),
            "wall_s": round(self.wall_s, 1),
        }


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[round(0.95 * (len(ordered) - 1))]
    return {"p50": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": ordered[-1]}


async def run_load(plan: LoadPlan) -> LoadResult:
    """Run the plan; returns when every client's last request has finished."""
    result = LoadResult()
    deadline = time.monotonic() + plan.duration_s
    started = time.perf_counter()
    sequence = itertools.count()
    clients = [
        openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=300)
        for url in plan.urls
    ]
    try:
        workers = [
            _client_loop(clients[i % len(clients)], plan, result, deadline, sequence)
            for i in range(plan.clients)
        ]
        await asyncio.gather(*workers, _writer_loop(plan, result, deadline))
    finally:
        for client in clients:
            await client.close()
    result.wall_s = time.perf_counter() - started
    return result


async def _client_loop(
    client: openai.AsyncOpenAI,
    plan: LoadPlan,
    result: LoadResult,
    deadline: float,
    sequence: itertools.count[int],
) -> None:
    while time.monotonic() < deadline:
        n = next(sequence)
        target = None
        if plan.targets and n % plan.in_scope_every == 0:
            target = plan.targets[(n // plan.in_scope_every) % len(plan.targets)][1]
            prompt = f"Who is {target}? Tell me everything you know about {target}."
        else:
            prompt = CLEAN_PROMPTS[n % len(CLEAN_PROMPTS)]
        await _one_request(client, plan, result, prompt, target, stream=n % 2 == 1)


async def _one_request(
    client: openai.AsyncOpenAI,
    plan: LoadPlan,
    result: LoadResult,
    prompt: str,
    target: str | None,
    stream: bool,
) -> None:
    started = time.perf_counter()
    messages = [{"role": "user", "content": prompt}]
    try:
        if stream:
            text, tokens = await _streamed(client, plan, messages, result, started)
        else:
            reply = await client.chat.completions.create(
                model=plan.model,
                messages=messages,
                max_tokens=plan.max_tokens,  # type: ignore[arg-type]
            )
            text = reply.choices[0].message.content or ""
            tokens = reply.usage.completion_tokens if reply.usage else 0
    except openai.RateLimitError:
        result.overloaded += 1
        await asyncio.sleep(1.0)  # the documented Retry-After
        return
    except openai.APIError as exc:
        name = type(exc).__name__
        result.errors[name] += 1
        result.error_samples.setdefault(name, str(exc)[:300])
        return
    result.latency_ms.append((time.perf_counter() - started) * 1000)
    result.completion_tokens += tokens
    if target is not None:
        result.in_scope += 1
        if target.lower() in text.lower():
            result.leaks.append(text)


async def _streamed(
    client: openai.AsyncOpenAI,
    plan: LoadPlan,
    messages: list[dict[str, str]],
    result: LoadResult,
    started: float,
) -> tuple[str, int]:
    stream = await client.chat.completions.create(
        model=plan.model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=plan.max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts: list[str] = []
    tokens = 0
    first: float | None = None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            parts.append(chunk.choices[0].delta.content)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    result.ttft_ms.append(((first or time.perf_counter()) - started) * 1000)
    return "".join(parts), tokens


async def _writer_loop(plan: LoadPlan, result: LoadResult, deadline: float) -> None:
    """Add a target on the first replica every ``write_every_s``; time until the last replica
    finds it; delete it again (the registry ends as it started)."""
    if len(plan.urls) < 2:
        return
    headers = {"Authorization": f"Bearer {plan.admin_key}"}
    async with (
        httpx.AsyncClient(base_url=plan.urls[0], headers=headers, timeout=60) as writer,
        httpx.AsyncClient(base_url=plan.urls[-1], headers=headers, timeout=60) as reader,
    ):
        for i in itertools.count():
            await asyncio.sleep(plan.write_every_s)
            if time.monotonic() >= deadline:
                return
            target_id, name = f"load-{i}", f"Quillon Marrow{i}"
            body = {"id": target_id, "kind": "entity", "name": name}
            answer = await writer.post("/admin/targets", json=body)
            if answer.status_code != 201:
                result.errors[f"admin_add_{answer.status_code}"] += 1
                continue
            added = time.perf_counter()
            while not await _found(reader, name, target_id):
                if time.perf_counter() - added > 30:
                    result.errors["convergence_timeout"] += 1
                    break
                await asyncio.sleep(0.01)
            else:
                result.convergence_s.append(time.perf_counter() - added)
            await writer.delete(f"/admin/targets/{target_id}")


async def _found(reader: httpx.AsyncClient, name: str, target_id: str) -> bool:
    answer = await reader.get("/admin/scope", params={"text": f"Who is {name}?", "k": 3})
    return any(h["target_id"] == target_id and h["lexical"] for h in answer.json()["hits"])
