"""Contrastive decoding: the rules against hand-computed values, and the assistant's own KV
cache in lockstep with a sequence, following rollbacks exactly (tiny random llama)."""

from __future__ import annotations

import math

import pytest
import torch

from lethe.decoders.contrastive import (
    ContrastConfig,
    ContrastiveFactory,
    ContrastiveProcessor,
    combine,
    ucd,
    uld,
)
from lethe.decoders.hf.assistants import HFAssistants, first_layers
from lethe.decoders.hf.kv_cache import new_cache
from tests.tiny_model import tiny_loaded

CPU = torch.device("cpu")


def lsm(values: list[float]) -> list[float]:
    top = max(values)
    total = math.log(sum(math.exp(v - top) for v in values)) + top
    return [v - total for v in values]


def test_ucd_against_hand_computed_values() -> None:
    main, clean, forget = [2.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 3.0, 0.0]
    want = [m + 0.5 * (c - f) for m, c, f in zip(lsm(main), lsm(clean), lsm(forget), strict=True)]
    got = ucd(torch.tensor(main), torch.tensor(clean), torch.tensor(forget), alpha=0.5)
    assert got.tolist() == pytest.approx(want, abs=1e-6)


def test_ucd_plausibility_contrasts_only_plausible_tokens_and_keeps_the_tail() -> None:
    main, forget = [5.0, 4.0, -5.0], [9.0, 0.0, -9.0]
    lp, lf = lsm(main), lsm(forget)
    got = ucd(
        torch.tensor(main), torch.tensor(main), torch.tensor(forget), alpha=2.0, plausibility=0.1
    ).tolist()
    # token 2 (p < 0.1 p_max) keeps the main model's log-prob: neither lifted nor ruled out,
    # so sampling sees the main model's tail; tokens 0 and 1 are contrasted
    want = [lp[0] + 2.0 * (lp[0] - lf[0]), lp[1] + 2.0 * (lp[1] - lf[1]), lp[2]]
    assert got == pytest.approx(want, abs=1e-5)
    assert int(torch.tensor(got).argmax()) == 1  # the forget answer loses its lead
    plain = ucd(torch.tensor(main), torch.tensor(main), torch.tensor(forget), alpha=2.0)
    assert plain[2] > lp[2] + 10  # without the constraint the contrast lifts the tail


def test_when_sampling_the_contrast_takes_mass_from_the_answer_not_from_the_tail() -> None:
    main = torch.zeros(50)
    main[0], main[1] = 3.0, 2.5  # the answer, a close second, and a long tail (p < 0.1 p_max)
    forget = main.clone()
    forget[0] = 3.5  # the forget content makes the answer a little likelier
    before = torch.softmax(main, -1)[0]
    contrasted = ucd(main, main, forget, alpha=2.0, plausibility=0.1)
    assert torch.softmax(contrasted, -1)[0] < before  # the answer is less likely to be sampled
    ruled_out = contrasted.clone()
    ruled_out[2:] = float("-inf")  # contrastive decoding's constraint: the tail ruled out
    assert torch.softmax(ruled_out, -1)[0] > before  # would make the answer likelier


def test_uld_subtracts_only_on_the_main_models_plausible_tokens() -> None:
    main, assist = [3.0, 2.9, 0.0, -4.0], [5.0, 0.0, 0.0, 0.0]
    lp, la = lsm(main), lsm(assist)
    got = uld(torch.tensor(main), torch.tensor(assist), weight=0.8, top_ratio=0.25).tolist()
    # top 25 % of 4 tokens = token 0; p >= 0.25 * p_max adds token 1; 2 and 3 untouched
    assert got == pytest.approx([lp[0] - 0.8 * la[0], lp[1] - 0.8 * la[1], lp[2], lp[3]], abs=1e-6)
    assert got[1] > got[0]


def test_uld_with_plausibility_leaves_what_the_main_model_barely_considers() -> None:
    main, assist = [3.0, 2.9, 0.0, -4.0], [5.0, 0.0, -9.0, 0.0]
    lp, la = lsm(main), lsm(assist)
    plain = uld(torch.tensor(main), torch.tensor(assist), weight=0.8, top_ratio=0.75)
    assert plain.argmax() == 2  # the assistant's disdain lifts a token the main model doubts
    got = uld(
        torch.tensor(main), torch.tensor(assist), weight=0.8, top_ratio=0.75, plausibility=0.1
    )
    want = [lp[0] - 0.8 * la[0], lp[1] - 0.8 * la[1], lp[2], lp[3]]
    assert got.tolist() == pytest.approx(want, abs=1e-5) and got.argmax() == 1
    config = ContrastConfig("uld", weight=0.8, top_ratio=0.75, plausibility=0.1)
    assert combine(torch.tensor(main), torch.tensor(assist), config).tolist() == got.tolist()


def test_training_free_ucd_uses_the_main_model_as_the_clean_one() -> None:
    main, assist = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 4.0])
    got = combine(main, assist, ContrastConfig("ucd", alpha=1.0))
    assert got.tolist() == pytest.approx(ucd(main, main, assist, alpha=1.0).tolist())


@pytest.mark.parametrize(
    "bad", [{"rule": "dexperts"}, {"alpha": -1.0}, {"top_ratio": 0.0}, {"plausibility": 1.0}]
)
def test_bad_configs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ContrastConfig(**bad)  # type: ignore[arg-type]


def fresh_logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    return ContrastiveProcessor(model, new_cache, [], ContrastConfig(), CPU).assistant_logits(ids)


def test_the_assistant_steps_in_lockstep_one_token_per_step() -> None:
    model = tiny_loaded().model
    proc = ContrastiveProcessor(model, new_cache, [5, 6], ContrastConfig(), CPU)
    proc.assistant_logits([5, 6, 7, 8, 9])
    assert proc.forward_tokens == 5
    for n in range(10, 14):
        ids = list(range(5, n + 1))
        got = proc.assistant_logits(ids)
        assert torch.allclose(got, fresh_logits(model, ids), atol=1e-5)
    assert proc.forward_tokens == 5 + 4  # one token per step after the prompt


def test_after_a_rollback_its_logits_equal_a_fresh_pass_over_the_same_prefix() -> None:
    model = tiny_loaded().model
    proc = ContrastiveProcessor(model, new_cache, [], ContrastConfig(), CPU)
    proc.assistant_logits([5, 6, 7, 8, 9, 10, 11])
    rolled = proc.assistant_logits([5, 6, 7, 8, 20])  # cut back to 4 tokens, then a new one
    assert torch.allclose(rolled, fresh_logits(model, [5, 6, 7, 8, 20]), atol=1e-5)
    back = proc.assistant_logits([5, 6, 7])  # a rollback with nothing new
    assert torch.allclose(back, fresh_logits(model, [5, 6, 7]), atol=1e-5)


def test_the_processor_conditions_on_the_context_before_the_prompt() -> None:
    loaded = tiny_loaded()

    class Seq:
        prompt_ids = (9, 10)
        output_ids = (11,)
        text = ""

    factory = HFAssistants(lambda: loaded).contrastive("Paris", ContrastConfig("ucd", alpha=1.0))
    assert isinstance(factory, ContrastiveFactory)
    context = list(factory.context_ids)
    assert context == loaded.tokenizer("Paris", add_special_tokens=False)["input_ids"]
    main = torch.randn(len(loaded.tokenizer))
    got = factory()(Seq(), main.clone())
    assist = fresh_logits(loaded.model, [*context, 9, 10, 11])
    assert torch.allclose(got, combine(main, assist, ContrastConfig("ucd", alpha=1.0)), atol=1e-5)


def test_first_layers_shares_weights_and_leaves_the_model_whole() -> None:
    model = tiny_loaded().model
    small = first_layers(model, 1)
    assert len(small.model.layers) == 1 and len(model.model.layers) == 2
    assert model.config.num_hidden_layers == 2 and small.config.num_hidden_layers == 1
    assert small.lm_head.weight is model.lm_head.weight
    assert small.model.layers[0] is model.model.layers[0]
    ids = torch.tensor([[5, 6, 7]])
    with torch.inference_mode():
        assert not torch.allclose(small(input_ids=ids).logits, model(input_ids=ids).logits)
