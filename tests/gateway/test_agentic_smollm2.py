"""The agentic stage end to end on the real SmolLM2, the served engine as its own judge: a
request in scope is reviewed with real model calls within its budget, and what reaches the
client never names the target."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.gateway.unlearning import Trace, UnlearningPipeline
from lethe.gateway.unlearning_config import UnlearningConfig
from lethe.indices import StoreConfig, TargetStore
from tests.guards.conftest import EINSTEIN
from tests.indices.fakes import HashingEmbedder

pytestmark = pytest.mark.model

REFUSAL = "I'm not familiar with that."


def test_the_served_model_reviews_its_own_draft(smollm2: Any, tmp_path: Any) -> None:
    store = TargetStore.open(tmp_path / "d", HashingEmbedder(), config=StoreConfig())
    store.add(EINSTEIN)
    config = UnlearningConfig.load()
    config = config.model_copy(
        update={"defaults_by_kind": {**config.defaults_by_kind, "entity": ("agentic",)}}
    )
    engine = HFEngine.from_loaded(smollm2, HFEngineConfig(max_batch_size=8))
    pipeline = UnlearningPipeline(engine, store, config)
    question = "Tell me about Albert Einstein and the theory of relativity."
    turn = Turn.chat("req-real", [Message("user", question)], SamplingParams(max_tokens=40))
    trace = Trace()

    async def run() -> str:
        return "".join([o.text async for o in pipeline.generate(turn, trace)])

    try:
        answer = asyncio.run(run())
    finally:
        pipeline.close()
        engine.close()
        store.close()
    [(_, review)] = trace.reviews
    assert review.calls >= 1 and 0 < review.elapsed_ms < 60_000
    assert review.action in ("pass", "rewrite", "refuse") and review.reason != "timeout"
    assert not re.search(r"einstein", answer, re.IGNORECASE)  # the stage or the filter held
    if review.action == "refuse":
        assert answer == REFUSAL
