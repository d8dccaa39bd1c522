"""What the vllm engine hands vLLM, as plain data: engine arguments and sampling arguments."""

from __future__ import annotations

from typing import Any

import pytest

from lethe.decoders import SamplingParams
from lethe.decoders.token_bans import ListVocabulary, PrefixMaskFactory
from lethe.decoders.vllm.config import VLLMEngineConfig
from lethe.decoders.vllm.requests import engine_args, forbidden_strings, sampling_kwargs
from lethe.errors import EngineError

VOCAB = ListVocabulary(["<eos>", " Paris"])
PROCESSOR = object()  # stands in for the adapter class


def test_engine_args_of_a_minimal_config():
    args = engine_args(VLLMEngineConfig("/models/Qwen2.5-0.5B-Instruct"), PROCESSOR)
    assert args == {
        "model": "/models/Qwen2.5-0.5B-Instruct",
        "served_model_name": "Qwen2.5-0.5B-Instruct",
        "dtype": "auto",
        "max_num_seqs": 64,
        "gpu_memory_utilization": 0.85,
        "tensor_parallel_size": 1,
        "logprobs_mode": "processed_logprobs",  # banned tokens stay out of top_logprobs
        "logits_processors": [PROCESSOR],
    }


def test_engine_args_of_a_full_config():
    config = VLLMEngineConfig(
        "org/model",
        tokenizer="/tok",
        served_model_name="m",
        dtype="bfloat16",
        max_model_len=4096,
        max_num_seqs=8,
        gpu_memory_utilization=0.5,
        tensor_parallel_size=2,
    )
    args = engine_args(config, PROCESSOR)
    assert args["tokenizer"] == "/tok" and args["max_model_len"] == 4096
    assert (args["served_model_name"], args["dtype"], args["tensor_parallel_size"]) == (
        "m",
        "bfloat16",
        2,
    )


@pytest.mark.parametrize(
    "values",
    [{"gpu_memory_utilization": 0}, {"gpu_memory_utilization": 1.5}, {"max_num_seqs": 0}],
)
def test_config_refuses_impossible_values(values: dict[str, Any]):
    with pytest.raises(ValueError):
        VLLMEngineConfig("m", **values)


BASE = {
    "n": 1,
    "max_tokens": 16,
    "temperature": 1.0,
    "top_p": 1.0,
    "seed": None,
    "stop": [],
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "ignore_eos": False,
    "skip_special_tokens": True,
    "logprobs": None,
}


@pytest.mark.parametrize(
    ("params", "changed"),
    [
        ({}, {}),
        ({"temperature": 0.0, "seed": 7}, {"temperature": 0.0, "seed": 7}),
        ({"n": 3, "top_p": 0.9, "top_k": 40}, {"n": 3, "top_p": 0.9, "top_k": 40}),
        ({"top_k": 0}, {}),  # off: left to vLLM's default, which means off too
        ({"stop": ("\n", "END")}, {"stop": ["\n", "END"]}),
        ({"logprobs": True}, {"logprobs": 0}),  # the chosen token only
        ({"logprobs": True, "top_logprobs": 5}, {"logprobs": 5}),
        ({"top_logprobs": 5}, {}),  # without logprobs, none
        ({"logit_bias": {42: -100.0}}, {"logit_bias": {42: -100.0}}),
        (
            {"presence_penalty": 0.5, "ignore_eos": True},
            {"presence_penalty": 0.5, "ignore_eos": True},
        ),
    ],
)
def test_sampling_kwargs(params: dict[str, Any], changed: dict[str, Any]):
    assert sampling_kwargs(SamplingParams(**params), 16) == BASE | changed


def test_prefix_masks_travel_in_extra_args():
    processors = [
        PrefixMaskFactory(("Paris", "Lutetia"), VOCAB),
        PrefixMaskFactory(("Paris", "Seine"), VOCAB),
    ]
    kwargs = sampling_kwargs(SamplingParams(), 16, processors)
    assert kwargs["extra_args"] == {
        "lethe": {"v": 1, "forbidden": ["Paris", "Lutetia", "Seine"]}  # merged, once each
    }
    assert forbidden_strings([]) == ()


def test_a_processor_that_cannot_cross_into_vllm_is_refused():
    with pytest.raises(EngineError, match="cannot run the logits processor"):
        forbidden_strings([PrefixMaskFactory(("Paris",), VOCAB), lambda: None])
