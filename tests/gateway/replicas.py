"""Helpers of the replica tests: what a replica's scope lookup finds, waiting for convergence,
and printing how long it took."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import httpx


def hits(client: httpx.Client, text: str) -> set[str]:
    """Ids of the targets a replica's ``/admin/scope`` finds lexically in ``text``."""
    answer = client.get("/admin/scope", params={"text": text, "k": 3}).json()
    return {h["target_id"] for h in answer["hits"] if h["lexical"]}


def until(predicate: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``predicate`` held (fails the test after ``timeout``)."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "the replicas did not converge in time"
        time.sleep(0.01)
    return time.monotonic() - started


def print_convergence(label: str, times: Sequence[float]) -> None:
    """Print the p50 and p95 of ``times`` (seconds) in milliseconds."""
    p50 = statistics.median(times)
    p95 = sorted(times)[round(0.95 * (len(times) - 1))]
    print(f"{label}: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms")
