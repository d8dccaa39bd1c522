"""EngineJudge: one chat turn on an engine, each choice's whole text; loads a cold engine."""

from __future__ import annotations

import asyncio

from lethe.decoders import Message
from lethe.guards.agentic import EngineJudge, JudgeCall
from tests.gateway.fakes import FakeEngine, Reply


def test_the_judge_collects_each_choice_and_passes_its_sampling() -> None:
    engine = FakeEngine()
    engine.load()
    engine.enqueue(Reply(choices=(("{", '"leaked": []}'), ("Other", " text"))))
    judge = EngineJudge(engine)
    messages = [Message("system", "s"), Message("user", "u")]
    texts = asyncio.run(judge.complete(messages, JudgeCall(max_tokens=9, n=2, temperature=0.5)))
    assert texts == ['{"leaked": []}', "Other text"]
    turn = engine.turns[-1]
    assert turn.messages == tuple(messages) and turn.request_id.startswith("alu-")
    assert (turn.params.max_tokens, turn.params.n, turn.params.temperature) == (9, 2, 0.5)


def test_a_cold_engine_is_loaded_first_and_an_owned_one_closed() -> None:
    engine = FakeEngine()
    engine.enqueue(Reply(choices=(("ok",),)))
    judge = EngineJudge(engine, owned=True)
    assert asyncio.run(judge.complete([Message("user", "u")], JudgeCall(4))) == ["ok"]
    assert engine.ready
    judge.close()
    assert engine.closed
