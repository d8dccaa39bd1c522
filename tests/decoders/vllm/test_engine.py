"""The ``vllm`` engine without vLLM: its capabilities, what it hands vLLM, and what it streams,
over a simulated vLLM whose persistent batch runs the same masking class as the adapter."""

from __future__ import annotations

import asyncio
import importlib.util
from types import SimpleNamespace
from typing import Any

import pytest

from lethe.decoders import GenerationOutput, Message, SamplingParams, Turn
from lethe.decoders.forbidden import ForbiddenStrings
from lethe.decoders.hf.prompt import PromptEncoder
from lethe.decoders.token_bans import PrefixMaskFactory
from lethe.decoders.vllm.config import VLLMEngineConfig
from lethe.decoders.vllm.engine import VLLMEngine
from lethe.errors import (
    ConfigurationError,
    ContextLengthExceeded,
    EngineError,
    InvalidRequest,
    Unavailable,
)
from lethe.guards.techniques import build_technique
from tests.decoders.vllm.simulated import SimulatedVLLM
from tests.tiny_model import tiny_tokenizer

CONFIG = VLLMEngineConfig("/models/tiny", max_num_seqs=8)
QUESTION = [Message("user", "What is the capital of France?")]


def loaded(**config: Any) -> tuple[VLLMEngine, SimulatedVLLM]:
    backend = SimulatedVLLM(tiny_tokenizer())
    engine = VLLMEngine(
        VLLMEngineConfig("/models/tiny", **{"max_num_seqs": 8, **config}),
        start=lambda _: backend,
        tokenizer=tiny_tokenizer(),
    )
    engine.load()
    return engine, backend


def paris_bans(engine: VLLMEngine) -> PrefixMaskFactory:
    vocabulary = engine.capabilities.vocabulary
    assert vocabulary is not None
    return PrefixMaskFactory(("Paris",), vocabulary)


def run(engine: VLLMEngine, turn: Turn, processors=()) -> list[GenerationOutput]:
    async def go() -> list[GenerationOutput]:
        return [out async for out in engine.generate(turn, processors)]

    return asyncio.run(go())


def texts(outputs: list[GenerationOutput], n: int = 1) -> list[str]:
    return ["".join(o.text for o in outputs if o.index == i) for i in range(n)]


def chat(**params: Any) -> Turn:
    return Turn.chat("req-1", QUESTION, SamplingParams(**{"temperature": 0.0, **params}))


def test_capabilities_make_forbidden_tokens_prefix_mask():
    engine = VLLMEngine(CONFIG, start=lambda _: pytest.fail("not loaded"))
    caps = engine.capabilities
    assert (caps.logits, caps.logit_bias, caps.rollback, caps.assistant) == (
        True,
        True,
        False,
        False,
    )
    assert caps.vocabulary is not None and not engine.ready
    technique = build_technique("forbidden_tokens")
    technique.bind(caps)
    assert technique.strategy == "prefix_mask"  # type: ignore[attr-defined]


def test_load_starts_vllm_and_takes_its_context_window():
    engine, backend = loaded()
    assert engine.ready and engine.max_model_len == backend.max_model_len == 256
    engine, _ = loaded(max_model_len=128)
    assert engine.max_model_len == 128
    engine.close()
    assert not engine.ready


def test_close_shuts_vllm_down():
    engine, backend = loaded()
    engine.close()
    assert backend.shut and not engine.ready


def test_load_without_vllm_is_a_configuration_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a)
    )
    engine = VLLMEngine(CONFIG, tokenizer=tiny_tokenizer())
    with pytest.raises(ConfigurationError, match=r"pip install 'lethe\[vllm\]'"):
        engine.load()
    assert not engine.ready


def test_a_request_before_load_is_unavailable():
    engine = VLLMEngine(CONFIG, start=lambda _: pytest.fail("not loaded"))
    with pytest.raises(Unavailable):
        run(engine, chat(max_tokens=4))


def test_what_vllm_receives():
    engine, backend = loaded()
    outputs = run(engine, chat(max_tokens=5, seed=3, stop=("\n",)), [paris_bans(engine)])
    run(engine, chat(max_tokens=5))  # the same turn again: another vLLM request id
    (prompt_ids, sampling, request_id), (_, bare, again) = backend.calls
    assert prompt_ids == PromptEncoder(tiny_tokenizer()).encode(chat())
    assert sampling["max_tokens"] == 5 and sampling["seed"] == 3 and sampling["stop"] == ["\n"]
    assert sampling["extra_args"] == {"lethe": {"v": 1, "forbidden": ["Paris"]}}
    assert "extra_args" not in bare
    assert request_id.startswith("req-1") and again.startswith("req-1") and request_id != again
    assert outputs[-1].finish_reason == "length"
    assert outputs[-1].usage.prompt_tokens == len(prompt_ids)
    assert outputs[-1].usage.completion_tokens == 5


def test_guarded_requests_never_complete_the_forbidden_string():
    engine, _ = loaded()
    bare = texts(run(engine, chat(max_tokens=24, n=2)), 2)
    guarded = texts(run(engine, chat(max_tokens=24, n=2), [paris_bans(engine)]), 2)
    forbidden = ForbiddenStrings(["Paris"])
    assert all(forbidden.violation(t, 0, final=True) is not None for t in bare), bare
    assert all(forbidden.violation(t, 0, final=True) is None for t in guarded), guarded


def test_concurrent_guarded_and_bare_requests_share_the_batch():
    engine, backend = loaded()

    async def both() -> tuple[list[GenerationOutput], list[GenerationOutput]]:
        async def collect(turn: Turn, processors=()) -> list[GenerationOutput]:
            return [o async for o in engine.generate(turn, processors)]

        return await asyncio.gather(
            collect(chat(max_tokens=20, n=3), [paris_bans(engine)]),
            collect(chat(max_tokens=12, n=2)),
        )

    guarded, bare = asyncio.run(both())
    forbidden = ForbiddenStrings(["Paris"])
    assert all(forbidden.violation(t, 0, final=True) is None for t in texts(guarded, 3))
    assert any(forbidden.violation(t, 0, final=True) for t in texts(bare, 2))
    assert backend.rows == [] and len(backend.bans) == 0  # every row left the batch


def test_banned_tokens_never_show_in_top_logprobs():
    engine, _ = loaded()
    turn = chat(max_tokens=12, logprobs=True, top_logprobs=5)
    outputs = run(engine, turn, [paris_bans(engine)])
    steps = [lp for o in outputs for lp in o.logprobs]
    assert len(steps) == 12 and all(len(step.top) == 5 for step in steps)
    text = ""
    bans = paris_bans(engine)()
    for step in steps:
        view = SimpleNamespace(text=text, prompt_ids=(), output_ids=())
        banned_texts = {tiny_tokenizer().decode([t]) for t in bans.bans.banned(view.text)}
        assert not {top.token for top in step.top} & banned_texts
        assert step.logprob > float("-inf") and step.bytes == tuple(step.token.encode())
        text += step.token


def test_closing_the_stream_aborts_the_request_in_vllm():
    engine, backend = loaded()

    async def two_then_close() -> None:
        stream = engine.generate(chat(max_tokens=50))
        await anext(stream)
        await anext(stream)
        await stream.aclose()

    asyncio.run(two_then_close())
    assert len(backend.closed) == 1 and backend.rows == []
    assert engine.stats().running == 0


@pytest.mark.parametrize(
    ("turn", "error"),
    [
        (chat(max_tokens=250), ContextLengthExceeded),  # the prompt leaves less room
        (Turn("r", SamplingParams(), prompt="x" * 300), ContextLengthExceeded),
        (chat(n=9), InvalidRequest),  # more choices than max_num_seqs
    ],
)
def test_requests_that_cannot_run_are_refused_before_vllm_sees_them(turn, error):
    engine, backend = loaded()
    with pytest.raises(error):
        run(engine, turn)
    assert backend.calls == []


def test_processors_vllm_cannot_run_are_refused():
    engine, backend = loaded()
    with pytest.raises(EngineError, match="cannot run the logits processor"):
        run(engine, chat(max_tokens=4), [lambda: None])
    assert backend.calls == []


def test_a_default_budget_is_clamped_to_the_room_left():
    engine, backend = loaded()
    run(engine, chat(default_max_tokens=10_000))
    ((prompt_ids, sampling, _),) = backend.calls
    assert sampling["max_tokens"] == 256 - len(prompt_ids)
