"""Helpers of the ``indices_*`` benchmarks: synthetic targets, embedding-like vectors, statistics.

Synthetic vectors: embedding a million texts with the real model takes hours on 2 cores, so the
size sweeps embed a pool of a few thousand real sentences once and derive each target's vectors
from a pool vector plus small Gaussian noise, renormalised (cosine to its pool vector ~0.85). The
result clusters like real embeddings (HNSW recall on uniform random vectors would be misleading).
Queries are always embedded with the real model.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from lethe.indices.embedder import Embedder
from lethe.indices.targets import ForgetTarget

RESULTS = Path(__file__).resolve().parent / "results"
_SYLLABLES = ["ka", "lo", "mi", "ra", "ve", "tu", "zor", "quen", "wick", "bar", "dal", "fen"]
_TOWNS = ["Ulm", "Bonn", "Graz", "Linz", "Gent", "Turku", "Split", "Brno", "Pecs", "Varna"]
_TOPICS = [
    "the history of {x}",
    "how {x} works",
    "the side effects of {x}",
    "where {x} was born",
    "the main works of {x}",
    "why {x} became famous",
    "the chemical structure of {x}",
    "recipes that use {x}",
]
_THINGS = ["aspirin", "Mozart", "volcanoes", "sourdough", "Einstein", "bitcoin", "tulips", "jazz"]


def name_of(i: int) -> str:
    """A deterministic made-up two-word name for target ``i`` (unique per ``i``)."""
    rng = random.Random(i)
    first = "".join(rng.choice(_SYLLABLES) for _ in range(2)).capitalize()
    last = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()
    return f"{first} {last}{i}"


def small_target(i: int, prefix: str = "t") -> ForgetTarget:
    """A realistic small entity: name, 2 aliases, 2 Q/A pairs (5 embedded texts)."""
    name = name_of(i)
    first, last = name.split()
    town = _TOWNS[i % len(_TOWNS)]
    return ForgetTarget(
        id=f"{prefix}{i}",
        kind="entity",
        name=name,
        aliases=[last, f"{first[0]}. {last}"],
        content=[
            {"question": f"Where does {name} live?", "answer": town},
            {"question": f"What is {name}'s job?", "answer": f"{name} works as a chemist."},
        ],
    )


def pool_sentences(n: int) -> list[str]:
    """``n`` varied real sentences to embed once as the pool of synthetic vectors."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        topic = rng.choice(_TOPICS).format(x=rng.choice([*_THINGS, name_of(i)]))
        out.append(f"Tell me about {topic}." if i % 2 else f"{name_of(i)}: {topic}")
    return out


def synthetic_vectors(pool: np.ndarray, n: int, seed: int, noise: float = 0.03) -> np.ndarray:
    """``n`` unit vectors near random pool vectors (see the module docstring)."""
    rng = np.random.default_rng(seed)
    base = pool[rng.integers(0, len(pool), n)]
    x = base + rng.standard_normal(base.shape, dtype=np.float32) * noise
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def query_texts(n: int, known: int) -> list[str]:
    """Scope queries: a third name a known target, the rest are ordinary questions."""
    rng = random.Random(11)
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append(f"Where does {name_of(rng.randrange(known))} live these days?")
        else:
            out.append(f"Can you explain {rng.choice(_TOPICS).format(x=rng.choice(_THINGS))}?")
    return out


def stats_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/mean in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {"p50": statistics.median(ms), "p95": p95, "mean": statistics.fmean(ms)}


def fmt(s: dict[str, float]) -> str:
    """``p50 x ms, p95 y ms``."""
    return f"p50 {s['p50']:7.2f} ms  p95 {s['p95']:7.2f} ms"


def rss_mb() -> float:
    """Resident memory of this process now, in MiB (from /proc; max RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def header(title: str) -> None:
    """Title plus the load average, so a noisy run can be spotted."""
    print(f"== {title}  (load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs)")


def save(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` as JSON under benchmarks/results/ and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "time": time.ctime(), **result}, indent=2))
    return path


class TimedEmbedder:
    """Wraps an embedder and adds up the seconds spent in ``embed`` (the embedder's share)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
