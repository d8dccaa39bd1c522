"""Forbidden-token masking with rollback through the real loop (tiny random llama).

A "spelling" processor pushes the model to write "Paris" through *any* tokenisation ("Paris",
"Par"+"is", "P"+"a"+"ris", with or without a leading space); the mask must stop every one of
them, and the KV-cache rewind must leave each kept token exactly the arg-max of a from-scratch
forward pass with that position's bans applied.
"""

import asyncio
import re

import pytest
import torch

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.decoders.holdback import held_suffix
from lethe.decoders.masking import ForbiddenTokenMask
from lethe.decoders.token_text import TokenText
from tests.tiny_model import tiny_loaded, tiny_tokenizer

WORD = "Paris"
LEAK = re.compile(r"(?<![\w])paris(?![\w])", re.IGNORECASE)


class Spell:
    """Boosts every token that continues spelling ``WORD`` from where the text stands."""

    def __init__(self, boost=25.0):
        tok = tiny_tokenizer()
        text_of = TokenText(tok.backend_tokenizer)
        self.pieces = {i: text_of(i)[0] for i in range(len(tok))}
        self.boost = boost

    def __call__(self, seq, logits):
        if seq.text.lower().endswith(WORD.lower()):
            targets = [" ", ".", ","]  # end the word, so that it stands as a word
        else:
            done = held_suffix(seq.text.lower(), [WORD.lower()])
            targets = [WORD[done:]] + ([" " + WORD] if done == 0 else [])
        for i, piece in self.pieces.items():
            if piece and any(t.startswith(piece) for t in targets):
                logits[i] += self.boost
        return logits


class Record:
    def __init__(self, sink):
        self.sink = sink

    def __call__(self, seq, logits):
        if not self.sink or self.sink[-1] is not seq:
            self.sink.append(seq)
        return logits


@pytest.fixture(scope="module")
def engine():
    eng = HFEngine.from_loaded(tiny_loaded(seed=3), HFEngineConfig(max_batch_size=8))
    yield eng
    eng.close()


async def run(engine, turn, factories):
    texts = {}
    async for out in engine.generate(turn, factories):
        texts[out.index] = texts.get(out.index, "") + out.text
    return texts


def test_without_the_mask_the_spelling_processor_leaks(engine):
    turn = Turn.chat("t", [Message("user", "Where?")], SamplingParams(max_tokens=30, temperature=0))
    texts = asyncio.run(run(engine, turn, [Spell]))
    assert LEAK.search(texts[0])


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_no_tokenisation_of_the_forbidden_word_gets_through(engine, seed):
    masks, made = [], []

    def mask():
        masks.append(ForbiddenTokenMask([WORD], refusal="I'm not familiar with that."))
        return masks[-1]

    temperature = 0 if seed is None else 1.0
    params = SamplingParams(max_tokens=40, temperature=temperature, seed=seed, n=2)
    turn = Turn.chat("t", [Message("user", "Where?")], params)
    texts = asyncio.run(run(engine, turn, [Spell, mask, lambda: Record(made)]))
    for text in texts.values():
        assert not LEAK.search(text), text
    assert all(m.rollbacks > 0 for m in masks)  # the spelling push really hit the mask


def test_rewound_cache_gives_exactly_the_from_scratch_choice(engine):
    masks, seqs = [], []

    def mask():
        masks.append(ForbiddenTokenMask([WORD], refusal="I'm not familiar with that."))
        return masks[-1]

    params = SamplingParams(max_tokens=24, temperature=0)
    turn = Turn.chat("t", [Message("user", "Where?")], params)
    asyncio.run(run(engine, turn, [Spell, mask, lambda: Record(seqs)]))
    seq, m = seqs[-1], masks[-1]
    assert m.rollbacks > 0
    model, spell = engine.loaded.model, Spell()
    prompt, out = list(seq.prompt_ids), list(seq.output_ids)
    if seq.finish_reason == "stop" and seq.text == m.refusal:
        pytest.skip("ended with the refusal; nothing to replay")
    with torch.inference_mode():
        for i, token in enumerate(out):
            logits = model(input_ids=torch.tensor([prompt + out[:i]])).logits[0, -1].float()

            class View:  # the sequence as it stood at position i
                output_ids = out[:i]
                text = tiny_tokenizer().backend_tokenizer.decode(out[:i])

            logits = spell(View, logits)
            banned = list(m.banned_at(i))
            if banned:
                logits[banned] = float("-inf")
            assert int(logits.argmax()) == token, f"position {i}"
