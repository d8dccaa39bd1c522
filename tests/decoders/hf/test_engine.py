"""The hf engine's loop on a tiny random llama: batching, limits, cancellation, processors."""

import asyncio

import pytest
import torch

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.errors import ContextLengthExceeded, InvalidRequest, Overloaded, Unavailable
from tests.tiny_model import tiny_loaded, tiny_tokenizer


class Force:
    """Forces a scripted token sequence, then EOS: deterministic text through the real loop."""

    def __init__(self, ids):
        self.ids = [*list(ids), tiny_tokenizer().eos_token_id]

    def __call__(self, seq, logits):
        want = self.ids[min(len(seq.output_ids), len(self.ids) - 1)]
        forced = torch.full_like(logits, float("-inf"))
        forced[want] = 0.0
        return forced


def encode(text):
    return tiny_tokenizer().backend_tokenizer.encode(text).ids


@pytest.fixture
def engine():
    eng = HFEngine.from_loaded(tiny_loaded(), HFEngineConfig(max_batch_size=4, max_waiting=2))
    yield eng
    eng.close()


def chat(text="Hello world", **params):
    return Turn.chat("t", [Message("user", text)], SamplingParams(**params))


async def collect(engine, turn, processors=()):
    texts, last, logprobs = {}, None, {}
    async for out in engine.generate(turn, processors):
        texts[out.index] = texts.get(out.index, "") + out.text
        logprobs.setdefault(out.index, []).extend(out.logprobs)
        if out.finished:
            texts[(out.index, "finish")] = out.finish_reason
        last = out
    return texts, last.usage, logprobs


def run(coro):
    return asyncio.run(coro)


def test_greedy_generation_is_repeatable_and_counts_tokens(engine):
    a, usage, _ = run(collect(engine, chat(max_tokens=10, temperature=0)))
    b, _, _ = run(collect(engine, chat(max_tokens=10, temperature=0)))
    assert a == b
    assert usage.completion_tokens == 10 and a[(0, "finish")] == "length"
    assert usage.prompt_tokens == len(engine._encoder.encode(chat()))


def test_concurrent_requests_get_what_they_get_alone(engine):
    texts = ["Hello world", "Paris is the capital", "日本語 🙂", "quick brown fox"]
    turns = [chat(t, max_tokens=12, temperature=0) for t in texts]
    alone = [run(collect(engine, t))[0] for t in turns]

    async def together():
        return await asyncio.gather(*(collect(engine, t) for t in turns))

    assert [r[0] for r in run(together())] == alone


def test_forced_tokens_come_out_as_exact_text_with_stop_split_across_tokens(engine):
    text = "Hello world. Café 日本語 🙂 done"
    force = Force(encode(text))
    got, _, _ = run(collect(engine, chat(max_tokens=60, temperature=0), [lambda: force]))
    assert got[0] == text and got[(0, "finish")] == "stop"
    stop = Force(encode(text))
    got, _, _ = run(
        collect(engine, chat(max_tokens=60, temperature=0, stop=["本語 🙂"]), [lambda: stop])
    )
    assert got[0] == "Hello world. Café 日" and got[(0, "finish")] == "stop"


def test_processor_factories_give_each_choice_its_own_state(engine):
    made = []

    def factory():
        made.append(Force(encode(" same text")))
        return made[-1]

    got, usage, _ = run(collect(engine, chat(n=3, max_tokens=20, temperature=1.0), [factory]))
    assert len(made) == 3
    assert got[0] == got[1] == got[2] == " same text"
    assert usage.completion_tokens == 3 * (len(encode(" same text")) + 1)


def test_seeded_sampling_is_reproducible_and_choices_differ(engine):
    turn = chat(n=2, max_tokens=15, temperature=1.0, seed=11)
    a, _, _ = run(collect(engine, turn))
    b, _, _ = run(collect(engine, turn))
    assert a == b
    assert a[0] != a[1]


def test_logprobs_cover_every_token_but_eos(engine):
    force = Force(encode("Hello world"))
    turn = chat(max_tokens=20, temperature=0, logprobs=True, top_logprobs=2)
    _got, usage, logprobs = run(collect(engine, turn, [lambda: force]))
    tokens = logprobs[0]
    assert len(tokens) == usage.completion_tokens - 1  # EOS is not part of the completion
    assert "".join(t.token for t in tokens) == "Hello world"
    assert all(t.logprob == 0.0 and len(t.top) == 2 for t in tokens)
    assert b"".join(bytes(t.bytes) for t in tokens) == b"Hello world"


@pytest.mark.parametrize(
    ("params", "error", "param"),
    [
        ({"max_tokens": 250}, ContextLengthExceeded, "max_tokens"),
        ({"n": 5, "max_tokens": 3}, InvalidRequest, "n"),
    ],
)
def test_requests_that_cannot_run_are_refused_before_any_output(engine, params, error, param):
    with pytest.raises(error) as info:
        run(collect(engine, chat(**params)))
    assert info.value.param == param


def test_prompt_longer_than_the_context_is_refused(engine):
    with pytest.raises(ContextLengthExceeded) as info:
        run(collect(engine, chat("word " * 400, max_tokens=1)))
    assert info.value.param == "messages"


def test_default_max_tokens_is_clamped_to_the_room_left(engine):
    prompt_len = len(engine._encoder.encode(chat("Hello world")))
    _, usage, _ = run(collect(engine, chat(default_max_tokens=10_000, ignore_eos=True)))
    assert usage.completion_tokens == 256 - prompt_len


def test_legacy_prompt_as_text_and_as_token_ids(engine):
    params = SamplingParams(max_tokens=5, temperature=0)
    by_text, _, _ = run(collect(engine, Turn("t", params, prompt="Hello world")))
    ids = tuple(engine._encoder.encode(Turn("t", params, prompt="Hello world")))
    by_ids, _, _ = run(collect(engine, Turn("t", params, prompt=ids)))
    assert by_text == by_ids


def test_a_full_queue_is_refused_with_overloaded(engine):
    async def scenario():
        long = [chat(max_tokens=200, ignore_eos=True) for _ in range(4)]
        running = [asyncio.ensure_future(collect(engine, t)) for t in long]
        await asyncio.sleep(0.3)
        waiting = [asyncio.ensure_future(collect(engine, chat(max_tokens=2))) for _ in range(2)]
        await asyncio.sleep(0.1)
        with pytest.raises(Overloaded):
            await collect(engine, chat(max_tokens=2))
        await asyncio.gather(*running, *waiting)

    run(scenario())


def test_closing_the_stream_cancels_the_request(engine):
    async def scenario():
        stream = engine.generate(chat(max_tokens=200, ignore_eos=True))
        first = await stream.__anext__()
        assert first.index == 0
        await stream.aclose()
        for _ in range(100):
            if engine.stats().running == 0:
                return True
            await asyncio.sleep(0.02)
        return False

    assert run(scenario())


def test_a_closed_engine_refuses_new_requests(engine):
    engine.close()
    with pytest.raises(Unavailable):
        run(collect(engine, chat(max_tokens=2)))
