"""The hf engine on the real embedded model (SmolLM2-135M-Instruct)."""

import asyncio

import pytest
import torch

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine

pytestmark = pytest.mark.model

QUESTIONS = [
    "What is the capital of France?",
    "Who wrote Romeo and Juliet?",
    "Write one sentence about the sea.",
    "List three colours.",
]


class Record:
    """Keeps a handle on the sequence so the test can read every generated token id."""

    def __init__(self, sink):
        self.sink = sink

    def __call__(self, seq, logits):
        self.sink.append(seq)
        return logits


class Force:
    def __init__(self, ids, eos):
        self.ids = [*ids, eos]

    def __call__(self, seq, logits):
        forced = torch.full_like(logits, float("-inf"))
        forced[self.ids[min(len(seq.output_ids), len(self.ids) - 1)]] = 0.0
        return forced


@pytest.fixture(scope="module")
def engine(smollm2):
    eng = HFEngine.from_loaded(smollm2, HFEngineConfig(max_batch_size=4))
    yield eng
    eng.close()


def chat(q, **params):
    return Turn.chat("t", [Message("user", q)], SamplingParams(**params))


async def generate(engine, turn, processors=()):
    pieces, finish = [], None
    async for out in engine.generate(turn, processors):
        pieces.append(out.text)
        finish = out.finish_reason or finish
    return pieces, finish


@pytest.mark.parametrize("question", QUESTIONS)
def test_greedy_tokens_equal_transformers_generate(engine, smollm2, question):
    seen = []
    turn = chat(question, max_tokens=48, temperature=0)
    pieces, _ = asyncio.run(generate(engine, turn, [lambda: Record(seen)]))
    ours = list(seen[-1].output_ids)
    tok = smollm2.tokenizer
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt"
    )
    with torch.inference_mode():
        out = smollm2.model.generate(**prompt, max_new_tokens=48, do_sample=False)
    theirs = out[0, prompt["input_ids"].shape[1] :].tolist()
    assert ours == theirs
    assert "".join(pieces) == tok.decode(theirs, skip_special_tokens=True)


def test_stop_string_split_across_tokens(engine, smollm2):
    full, _ = asyncio.run(generate(engine, chat(QUESTIONS[0], max_tokens=20, temperature=0)))
    text = "".join(full)
    assert text.startswith("The capital of France is Paris")
    ids = smollm2.tokenizer.backend_tokenizer.encode(text).ids
    pieces = [smollm2.tokenizer.backend_tokenizer.decode([i]) for i in ids]
    assert " France" in pieces and " is" in pieces  # so "nce is Pa" spans three tokens
    turn = chat(QUESTIONS[0], max_tokens=20, temperature=0, stop=["nce is Pa"])
    got, finish = asyncio.run(generate(engine, turn))
    assert "".join(got) == "The capital of Fra"
    assert finish == "stop"


@pytest.mark.parametrize(
    "text", ["Emoji 🙂👍🏽 and 日本語, Ελληνικά, naïve café.", "€100 — “quoted” ✓"]
)
def test_multibyte_characters_split_over_tokens_never_break(engine, smollm2, text):
    backend = smollm2.tokenizer.backend_tokenizer
    ids = backend.encode(text).ids
    singles = [backend.decode([i]) for i in ids]
    assert any("\ufffd" in s for s in singles)  # some characters really span tokens
    eos = min(smollm2.eos_token_ids)
    turn = chat("Say something.", max_tokens=len(ids) + 5, temperature=0)
    pieces, finish = asyncio.run(generate(engine, turn, [lambda: Force(ids, eos)]))
    assert all("\ufffd" not in p for p in pieces)
    assert "".join(pieces) == text
    assert finish == "stop"


def test_sampled_output_is_reproducible_with_a_seed(engine):
    turn = chat("Tell me a short story about a cat.", max_tokens=30, temperature=0.9, seed=7, n=2)
    first = asyncio.run(generate(engine, turn))
    second = asyncio.run(generate(engine, turn))
    assert first == second
