"""``POST /v1/completions`` (legacy) request: the wire model and its conversion to Turns.

``prompt`` is a string, a list of strings, a list of token ids, or a list of token-id lists;
each prompt becomes one :class:`Turn`, and choice ``i`` of prompt ``p`` is returned at index
``p * n + i`` (OpenAI's order).

Example:
    >>> req = CompletionRequest(model="m", prompt=["a", "b"], n=2)
    >>> limits = RequestLimits(max_n=8, default_max_tokens=512, max_model_len=2048)
    >>> turns = req.to_turns("r", limits)
    >>> [t.prompt for t in turns], [t.request_id for t in turns], turns[0].params.default_max_tokens
    (['a', 'b'], ['r-0', 'r-1'], 16)
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from lethe.decoders import SamplingParams, Turn
from lethe.errors import InvalidRequest, UnsupportedFeature
from lethe.gateway.protocol.common import (
    RequestLimits,
    SamplingFields,
    choice_count,
    completion_budget,
    stop_sequences,
    token_biases,
    top_k_value,
)

DEFAULT_MAX_TOKENS = 16
"""OpenAI's default completion budget on the legacy endpoint."""
MAX_LEGACY_LOGPROBS = 5

Prompt = str | tuple[int, ...]


class CompletionRequest(SamplingFields):
    """The body of ``POST /v1/completions`` (OpenAI's fields; unknown ones accepted)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="Must be the served model's id (see GET /v1/models).")
    prompt: str | list[str] | list[int] | list[list[int]] = Field(
        description="Text, texts, token ids, or lists of token ids."
    )
    max_tokens: int | None = Field(default=None, description="Per choice; default 16.")
    echo: bool | None = Field(default=None, description="Prepend the prompt to each choice.")
    logprobs: int | None = Field(default=None, description="0 to 5 alternatives per token.")
    suffix: str | None = Field(default=None, description="Unsupported (400).")
    best_of: int | None = Field(default=None, description="Only absent or equal to n.")

    def prompts(self) -> list[Prompt]:
        """Every prompt of the request, in order (token-id prompts as tuples)."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if not prompt:
            raise InvalidRequest("'prompt' must not be empty", param="prompt")
        if isinstance(prompt[0], str):
            return list(prompt)  # type: ignore[arg-type]
        if isinstance(prompt[0], int):
            return [_token_ids(prompt, "prompt")]  # type: ignore[arg-type]
        return [_token_ids(ids, f"prompt[{p}]") for p, ids in enumerate(prompt)]  # type: ignore[arg-type]

    def to_turns(self, request_id: str, limits: RequestLimits) -> list[Turn]:
        """One :class:`Turn` per prompt; ids are ``<request_id>`` or ``<request_id>-<p>``."""
        self._refuse_unsupported()
        prompts = self.prompts()
        if self.echo and any(not isinstance(p, str) for p in prompts):
            raise UnsupportedFeature("echo needs text prompts on this server", param="echo")
        params = self.sampling_params(limits)
        if len(prompts) == 1:
            return [Turn(request_id=request_id, params=params, prompt=prompts[0])]
        return [
            Turn(request_id=f"{request_id}-{p}", params=params, prompt=prompt)
            for p, prompt in enumerate(prompts)
        ]

    def sampling_params(self, limits: RequestLimits) -> SamplingParams:
        """The validated :class:`SamplingParams` shared by every prompt."""
        if self.logprobs is not None and not 0 <= self.logprobs <= MAX_LEGACY_LOGPROBS:
            raise InvalidRequest(
                f"logprobs must be in [0, {MAX_LEGACY_LOGPROBS}]", param="logprobs"
            )
        n = choice_count(self.n, limits)
        if self.best_of is not None and self.best_of != n:
            raise UnsupportedFeature("best_of other than n is not supported", param="best_of")
        return SamplingParams(
            max_tokens=completion_budget(self.max_tokens, "max_tokens", limits),
            default_max_tokens=DEFAULT_MAX_TOKENS,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            top_k=top_k_value(self.top_k),
            n=n,
            seed=self.seed,
            stop=stop_sequences(self.stop),
            logprobs=self.logprobs is not None,
            top_logprobs=self.logprobs or 0,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            logit_bias=token_biases(self.logit_bias),
        )

    def echo_prefix(self, prompt: Prompt) -> str:
        """The text to put before a choice's completion: the prompt with ``echo``, else ''."""
        return prompt if self.echo and isinstance(prompt, str) else ""

    def _refuse_unsupported(self) -> None:
        if self.suffix is not None:
            raise UnsupportedFeature("'suffix' is not supported by this server", param="suffix")
        if self.echo and self.logprobs is not None:
            raise UnsupportedFeature(
                "echo with logprobs (prompt log-probabilities) is not supported", param="echo"
            )


def _token_ids(ids: list[int], param: str) -> tuple[int, ...]:
    if not ids:
        raise InvalidRequest(f"'{param}' must not be empty", param=param)
    if any(token < 0 for token in ids):
        raise InvalidRequest(f"'{param}' holds a negative token id", param=param)
    return tuple(ids)
