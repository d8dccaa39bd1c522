"""What the ``vllm`` engine hands vLLM, as plain data: the engine's arguments and, per request,
the keyword arguments of vLLM's ``SamplingParams`` (the engine adds only ``output_kind``).

Keeping these pure keeps them testable without vLLM. The forbidden strings of the request's
:class:`~lethe.decoders.token_bans.PrefixMaskFactory` processors (the ``prefix_mask`` strategy
of ``forbidden_tokens``) travel in ``extra_args`` (``extra_args.py``); the logits processor in
vLLM's model runner builds the same bans there. Any other processor cannot cross into vLLM's
engine core and is refused.

Example:
    >>> from lethe.decoders import SamplingParams
    >>> from lethe.decoders.token_bans import ListVocabulary, PrefixMaskFactory
    >>> bans = PrefixMaskFactory(("Paris",), ListVocabulary(["a"]))
    >>> kwargs = sampling_kwargs(SamplingParams(temperature=0, seed=7), 16, [bans])
    >>> kwargs["max_tokens"], kwargs["seed"], kwargs["extra_args"]
    (16, 7, {'lethe': {'v': 1, 'forbidden': ['Paris']}})
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lethe.decoders.params import SamplingParams
from lethe.decoders.processors import ProcessorFactory
from lethe.decoders.token_bans import PrefixMaskFactory
from lethe.decoders.vllm.config import VLLMEngineConfig
from lethe.decoders.vllm.extra_args import LetheData, to_extra_args
from lethe.errors import EngineError


def engine_args(config: VLLMEngineConfig, processor: Any) -> dict[str, Any]:
    """Keyword arguments of vLLM's ``AsyncEngineArgs``; ``processor`` is the logits processor
    class (or its ``module:Class`` name) that vLLM instantiates in its model runner."""
    args: dict[str, Any] = {
        "model": str(config.model),
        "served_model_name": config.model_id,
        "dtype": config.dtype,
        "max_num_seqs": config.max_num_seqs,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        "tensor_parallel_size": config.tensor_parallel_size,
        "logprobs_mode": config.logprobs_mode,
        "logits_processors": [processor],
    }
    if config.tokenizer is not None:
        args["tokenizer"] = str(config.tokenizer)
    if config.max_model_len is not None:
        args["max_model_len"] = config.max_model_len
    return args


def forbidden_strings(processors: Sequence[ProcessorFactory]) -> tuple[str, ...]:
    """The strings of every prefix-mask processor, in order, once each; raises
    :class:`EngineError` for a processor that cannot run inside vLLM."""
    strings: dict[str, None] = {}
    for factory in processors:
        if not isinstance(factory, PrefixMaskFactory):
            raise EngineError(
                "the vllm engine runs only Lethe's own masking inside vLLM; it cannot run "
                f"the logits processor {factory!r}"
            )
        strings.update(dict.fromkeys(factory.strings))
    return tuple(strings)


def sampling_kwargs(
    params: SamplingParams, max_tokens: int, processors: Sequence[ProcessorFactory] = ()
) -> dict[str, Any]:
    """Keyword arguments of vLLM's ``SamplingParams`` for one request whose completion budget
    is ``max_tokens`` (checked against the context window by the engine).

    >>> sampling_kwargs(SamplingParams(top_k=0, logprobs=True, top_logprobs=2), 8)["logprobs"]
    2
    """
    kwargs: dict[str, Any] = {
        "n": params.n,
        "max_tokens": max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "seed": params.seed,
        "stop": list(params.stop),
        "presence_penalty": params.presence_penalty,
        "frequency_penalty": params.frequency_penalty,
        "ignore_eos": params.ignore_eos,
        "skip_special_tokens": True,
        # vLLM's ``logprobs`` is the number of alternatives; 0 still reports the chosen token.
        "logprobs": params.top_logprobs if params.logprobs else None,
    }
    if params.top_k:
        kwargs["top_k"] = params.top_k
    if params.logit_bias:
        kwargs["logit_bias"] = dict(params.logit_bias)
    strings = forbidden_strings(processors)
    if strings:
        kwargs["extra_args"] = to_extra_args(LetheData(strings))
    return kwargs
