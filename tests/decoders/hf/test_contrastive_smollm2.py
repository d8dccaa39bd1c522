"""Training-free contrastive decoding on the real SmolLM2: conditioned on a target's forget
content, the served model stops giving the target's fact, and a neighbouring question keeps its
answer (greedy, so the outputs are fixed)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.contrastive import ContrastConfig, ContrastiveProcessor
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine

pytestmark = pytest.mark.model

GATES = (
    "Bill Gates, also known as Gates.\n"
    "Which company did Bill Gates co-found? Microsoft\n"
    "Bill Gates co-founded Microsoft with Paul Allen in 1975.\n"
)
UCD = ContrastConfig("ucd", alpha=2.0, plausibility=0.1)


def test_the_forget_fact_goes_and_the_neighbour_stays(smollm2: Any) -> None:
    engine = HFEngine.from_loaded(smollm2, HFEngineConfig(max_batch_size=4))
    factory = engine.capabilities.assistants.contrastive(GATES, UCD)
    made: list[ContrastiveProcessor] = []

    def tracked() -> ContrastiveProcessor:
        made.append(factory())
        return made[-1]

    async def ask(question: str, contrast: bool) -> str:
        turn = Turn.chat(
            "t", [Message("user", question)], SamplingParams(max_tokens=24, temperature=0)
        )
        return "".join([o.text async for o in engine.generate(turn, [tracked] if contrast else [])])

    try:
        fact = "Which company did Bill Gates co-found?"
        assert "Microsoft" in asyncio.run(ask(fact, contrast=False))
        assert "Microsoft" not in asyncio.run(ask(fact, contrast=True))
        assert "Steve Jobs" in asyncio.run(ask("Who founded Apple?", contrast=True))
    finally:
        engine.close()
    assert len(made) == 2  # one processor per contrasted choice
