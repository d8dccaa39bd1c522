"""Companion rows (contrastive decoding's assistant) in the hf engine, on a tiny random llama.

With the served model as the assistant, its logits come out of the main forward pass; with
another model (the first layer, or the first layer with a LoRA adapter as a trained assistant
is), out of one side-batch pass per step for all its rows. Either
way they equal a fresh pass over the companion's prefix at every step — also across rollbacks,
padding and sampled choices — and the contrasted answer equals the one of a processor running
its assistant itself."""

import asyncio

import pytest
import torch

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.contrastive import ContrastConfig, ContrastiveProcessor
from lethe.decoders.hf.assistants import first_layers
from lethe.decoders.hf.config import HFEngineConfig
from lethe.decoders.hf.engine import HFEngine
from lethe.decoders.hf.kv_cache import new_cache
from lethe.decoders.hf.lora import adapted_first_layers, adapter_parameters
from lethe.decoders.masking import ForbiddenTokenMask
from tests.decoders.hf.test_rollback import LEAK, WORD, Spell
from tests.decoders.hf.test_rollback import run as collect
from tests.tiny_model import tiny_loaded

CPU = torch.device("cpu")
CONTEXT = (40, 41, 42, 43, 44, 45, 46)
CONFIG = ContrastConfig("ucd", alpha=0.5)


@pytest.fixture(scope="module")
def engine():
    eng = HFEngine.from_loaded(tiny_loaded(seed=3), HFEngineConfig(max_batch_size=8))
    eng.first_layer = first_layers(eng.loaded.model, 1)  # a second model for side batches
    eng.lora, adapters = adapted_first_layers(eng.loaded.model, 1, rank=4)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in adapter_parameters(adapters):
            p.normal_(std=0.05)  # as if trained: not the plain first layer
    eng.lora.eval()
    yield eng
    eng.close()


def assistant_of(engine, which):
    return {"served": engine.loaded.model, "side": engine.first_layer, "lora": engine.lora}[which]


class Checked(ContrastiveProcessor):
    """Records, at every call, how far the fed logits are from a fresh pass of the model."""

    def __init__(self, model, sink):
        super().__init__(model, new_cache, CONTEXT, CONFIG, CPU)
        self.sink, self.fed, self.calls = sink, None, 0
        sink.append(self)

    def feed(self, logits):
        self.fed = logits.clone()
        super().feed(logits)

    def __call__(self, seq, logits):
        ids = [*CONTEXT, *seq.prompt_ids, *seq.output_ids]
        with torch.inference_mode():
            fresh = self._model(input_ids=torch.tensor([ids])).logits[0, -1].float()
        self.calls += 1
        self.worst = max(getattr(self, "worst", 0.0), float((self.fed - fresh).abs().max()))
        return super().__call__(seq, logits)


class Unbatched(ContrastiveProcessor):
    """The same processor, not offered to the engine: it runs its assistant itself."""

    assistant_model = None


def turn(text="Where?", **params):
    return Turn.chat("t", [Message("user", text)], SamplingParams(**params))


@pytest.mark.parametrize("which", ["served", "side", "lora"])
@pytest.mark.parametrize("params", [{"temperature": 0}, {"temperature": 1.0, "seed": 7, "n": 3}])
def test_fed_logits_equal_a_fresh_pass_through_rollbacks_and_padding(engine, params, which):
    model, checked, masks = assistant_of(engine, which), [], []

    def mask():
        masks.append(ForbiddenTokenMask([WORD], refusal="I'm not familiar with that."))
        return masks[-1]

    async def together():
        # a plain request with a longer prompt shares the batch, so rows are padded
        plain = collect(engine, turn("Hello world! " * 6, max_tokens=30, temperature=0), [])
        mine = collect(
            engine,
            turn(max_tokens=30, **params),
            [Spell, lambda: Checked(model, checked), mask],
        )
        return await asyncio.gather(mine, plain)

    texts, _ = asyncio.run(together())
    assert len(checked) == params.get("n", 1)
    assert all(c.calls >= 5 for c in checked)
    assert max(c.worst for c in checked) < 1e-4
    assert any(m.rollbacks > 0 for m in masks)  # rollbacks really rewound the companion rows
    assert not any(LEAK.search(t) for t in texts.values())


def test_the_assistant_rides_in_the_main_forward_pass(engine):
    model, shapes = engine.loaded.model, []
    hook = model.register_forward_hook(
        lambda _module, _args, kwargs, _out: shapes.append(tuple(kwargs["input_ids"].shape)),
        with_kwargs=True,
    )
    made: list[ContrastiveProcessor] = []

    def factory():
        made.append(ContrastiveProcessor(model, new_cache, CONTEXT, CONFIG, CPU))
        return made[-1]

    try:
        params = {"max_tokens": 6, "temperature": 0, "ignore_eos": True}
        asyncio.run(collect(engine, turn(**params), [factory]))
    finally:
        hook.remove()
    prompt_len = shapes[0][1]
    assert shapes[:2] == [(1, prompt_len), (1, len(CONTEXT) + prompt_len)]  # the two prefills
    assert shapes[2:] == [(2, 1)] * 5  # then one pass per step: the choice and its companion
    assert made[0].forward_tokens == 0  # the processor never ran the model itself


def test_a_side_batch_runs_one_pass_per_step_for_all_its_rows(engine):
    model, small, calls = engine.loaded.model, engine.first_layer, []

    def record(module, _args, kwargs, _out):
        # first_layers shares the hook table with the model: tell the two apart by module
        calls.append(("small" if module is small else "main", tuple(kwargs["input_ids"].shape)))

    hook = model.register_forward_hook(record, with_kwargs=True)
    made: list[ContrastiveProcessor] = []

    def factory():
        made.append(ContrastiveProcessor(small, new_cache, CONTEXT, CONFIG, CPU))
        return made[-1]

    try:
        params = {"max_tokens": 4, "temperature": 1.0, "seed": 1, "n": 3, "ignore_eos": True}
        asyncio.run(collect(engine, turn(**params), [factory]))
    finally:
        hook.remove()
    prompt_len = calls[0][1][1]
    assert calls[:2] == [("main", (1, prompt_len)), ("small", (1, len(CONTEXT) + prompt_len))]
    assert calls[2:] == [("main", (3, 1)), ("small", (3, 1))] * 3
    assert [p.forward_tokens for p in made] == [0, 0, 0]


@pytest.mark.parametrize("which", ["served", "side", "lora"])
def test_batched_and_unbatched_contrast_give_the_same_answer(engine, which):
    model = assistant_of(engine, which)

    def answer(cls, **params):
        def factory():
            return cls(model, new_cache, CONTEXT, CONFIG, CPU)

        return asyncio.run(collect(engine, turn(max_tokens=20, **params), [factory]))

    greedy = {"temperature": 0}
    assert answer(ContrastiveProcessor, **greedy) == answer(Unbatched, **greedy)
    sampled = {"temperature": 1.0, "seed": 3, "n": 2}
    assert answer(ContrastiveProcessor, **sampled) == answer(Unbatched, **sampled)
    assert answer(ContrastiveProcessor, **greedy) != asyncio.run(
        collect(engine, turn(max_tokens=20, **greedy), [])
    )  # the contrast changed the answer at all
