"""Helpers shared by the benchmarks: model loading, statistics, result files."""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
MODEL_CACHE = Path(os.environ.get("LETHE_TEST_MODEL_CACHE", REPO / ".lethe-cache" / "models"))
RESULTS = REPO / "benchmarks" / "results"

PROMPTS = [
    "Write a short paragraph about the history of Paris.",
    "Explain how a bicycle works.",
    "Describe the water cycle for a child.",
    "What are the benefits of regular exercise?",
]


def load_embedded(dtype: str = "auto") -> Any:
    """The embedded SmolLM2 as a ``LoadedModel`` (uses the same weight cache as the tests)."""
    from lethe.decoders.hf.config import HFEngineConfig
    from lethe.decoders.hf.loader import load_model

    return load_model(HFEngineConfig(cache_dir=MODEL_CACHE, dtype=dtype))  # type: ignore[arg-type]


def median(values: list[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def load_average() -> float:
    """The 1-minute load average, printed so that a noisy run can be spotted."""
    return os.getloadavg()[0]


def save(name: str, result: dict[str, Any]) -> Path:
    """Write ``result`` as JSON under benchmarks/results/ and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    result = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **result}
    path.write_text(json.dumps(result, indent=2))
    return path
