"""A :class:`Turn` as the body of an OpenAI request to the upstream.

Chat turns go to ``/chat/completions``, raw prompts (text or token ids) to ``/completions``.
Every request streams with ``stream_options.include_usage``, so that the first token arrives as
soon as the upstream has it and the usage comes with the last chunk; Lethe's own clients get
JSON or SSE from the gateway either way. Only the fields a request sets are sent, so a strict
upstream (OpenAI's) never sees ``top_k`` or ``ignore_eos`` unless a client asked for them.
``logit_bias`` is the turn's: the client's own, with the ``forbidden_tokens`` bans merged in.

``max_tokens`` is the client's value, else the gateway's default budget (``default_budget``);
the engine sends the request again without it when the upstream refuses the default for its
context window. OpenAI's ``developer`` role is sent as ``system``, which every
OpenAI-compatible server knows.

Example:
    >>> from lethe.decoders import Message, SamplingParams, Turn
    >>> params = SamplingParams(max_tokens=8, seed=3, logit_bias={42: -100})
    >>> path, body = request_body(Turn.chat("r1", [Message("user", "Hi")], params), "smollm2")
    >>> path, body["max_tokens"], body["seed"], body["logit_bias"], body["stream_options"]
    ('/chat/completions', 8, 3, {'42': -100}, {'include_usage': True})
"""

from __future__ import annotations

from typing import Any

from lethe.decoders.params import SamplingParams
from lethe.decoders.turn import Turn


def request_body(
    turn: Turn, model: str, *, default_budget: bool = True
) -> tuple[str, dict[str, Any]]:
    """``(path, json body)`` of the upstream request for ``turn``; ``default_budget`` False
    leaves ``max_tokens`` out unless the client gave one (the upstream's default applies)."""
    params = turn.params
    body: dict[str, Any] = {"model": model}
    if turn.is_chat:
        path = "/chat/completions"
        body["messages"] = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.content}
            for m in turn.messages
        ]
        if params.logprobs:
            body["logprobs"] = True
            if params.top_logprobs:
                body["top_logprobs"] = params.top_logprobs
    else:
        path = "/completions"
        prompt = turn.prompt
        body["prompt"] = list(prompt) if isinstance(prompt, tuple) else prompt
        if params.logprobs:
            body["logprobs"] = params.top_logprobs
    body.update(sampling_fields(params, default_budget=default_budget))
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return path, body


def sampling_fields(params: SamplingParams, *, default_budget: bool = True) -> dict[str, Any]:
    """The sampling fields both endpoints share, defaults left out.

    >>> sampling_fields(SamplingParams(temperature=0, n=2, stop=("\\n",)))
    {'temperature': 0, 'n': 2, 'stop': ['\\n']}
    """
    budget = params.max_tokens
    if budget is None and default_budget:
        budget = params.default_max_tokens
    fields: dict[str, Any] = {"temperature": params.temperature}
    optional: dict[str, Any] = {
        "max_tokens": budget,
        "top_p": params.top_p if params.top_p != 1.0 else None,
        "top_k": params.top_k or None,
        "n": params.n if params.n != 1 else None,
        "seed": params.seed,
        "stop": list(params.stop) or None,
        "presence_penalty": params.presence_penalty or None,
        "frequency_penalty": params.frequency_penalty or None,
        "logit_bias": {str(t): b for t, b in params.logit_bias.items()} or None,
        "ignore_eos": True if params.ignore_eos else None,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    return fields
