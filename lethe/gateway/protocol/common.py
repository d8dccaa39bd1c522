"""Wire pieces shared by the chat and legacy completion endpoints, and their conversions.

Bounds of sampling values are checked once, by :class:`~lethe.decoders.SamplingParams`; the
helpers here only turn wire shapes into its arguments (``stop`` as str or list, ``logit_bias``
keys as strings) and apply the limits only the gateway knows (``max_n``, the context window).

Example:
    >>> stop_sequences("\\n")
    ('\\n',)
    >>> token_biases({"50256": -100})
    {50256: -100.0}
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from lethe.decoders import Usage
from lethe.errors import ContextLengthExceeded, InvalidRequest

LOGPROB_FLOOR = -9999.0
"""The log-probability reported for tokens the model deems impossible (JSON has no -inf)."""


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """What the deployment allows per request: from the settings and the loaded engine."""

    max_n: int
    default_max_tokens: int
    max_model_len: int


class StreamOptions(BaseModel):
    """``stream_options``: ``include_usage`` adds a last chunk with the request's usage."""

    model_config = ConfigDict(extra="allow")

    include_usage: bool | None = None


class UsageInfo(BaseModel):
    """``usage``: token counts of the whole request, all choices together."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> UsageInfo:
        """The wire form of an engine :class:`~lethe.decoders.Usage`."""
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


class ErrorBody(BaseModel):
    """The inside of OpenAI's error envelope."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorBody


@dataclass(frozen=True, slots=True)
class CompletionMeta:
    """What every response object and chunk of one request repeats."""

    id: str
    created: int
    model: str
    system_fingerprint: str


def floor_logprob(value: float) -> float:
    """``value`` clamped to :data:`LOGPROB_FLOOR`, so that -inf serialises as a number."""
    return max(value, LOGPROB_FLOOR)


def stop_sequences(stop: str | list[str] | None) -> tuple[str, ...]:
    """``stop`` as a tuple (a single string is one sequence)."""
    if stop is None:
        return ()
    return (stop,) if isinstance(stop, str) else tuple(stop)


def token_biases(bias: dict[str, float] | None) -> dict[int, float]:
    """``logit_bias`` with its token-id keys as ints; a non-integer key is a 400."""
    if not bias:
        return {}
    try:
        return {int(key): float(value) for key, value in bias.items()}
    except ValueError:
        raise InvalidRequest(
            "logit_bias keys must be token ids (integers as strings)", param="logit_bias"
        ) from None


def choice_count(n: int | None, limits: RequestLimits) -> int:
    """``n`` with its default (1) and the deployment's cap; below 1 is left to SamplingParams."""
    value = 1 if n is None else n
    if value > limits.max_n:
        raise InvalidRequest(f"n must be at most {limits.max_n} on this server", param="n")
    return value


def completion_budget(value: int | None, param: str, limits: RequestLimits) -> int | None:
    """``max_tokens`` (named ``param`` on the wire) checked against the context window.

    None stays None: the engine then applies ``SamplingParams.default_max_tokens``, clamped to
    the context the prompt leaves (the gateway cannot count prompt tokens).
    """
    if value is None:
        return None
    if value < 1:
        raise InvalidRequest(f"{param} must be at least 1", param=param)
    if value > limits.max_model_len:
        raise ContextLengthExceeded(
            f"{param} is too large: {value}. This model's maximum context length is "
            f"{limits.max_model_len} tokens (prompt and completion together).",
            param=param,
        )
    return value


def top_k_value(top_k: int | None) -> int:
    """``top_k`` with vLLM's ``-1`` accepted as "off" (0)."""
    return 0 if top_k is None or top_k == -1 else top_k


class SamplingFields(BaseModel):
    """Sampling fields the chat and legacy completion requests share (OpenAI names)."""

    temperature: float | None = Field(default=None, description="0 to 2; 0 is greedy.")
    top_p: float | None = Field(default=None, description="Nucleus sampling, in (0, 1].")
    top_k: int | None = Field(default=None, description="Extension: top-k sampling; 0 is off.")
    n: int | None = Field(default=None, description="Choices to generate (1 to the server cap).")
    stop: str | list[str] | None = Field(default=None, description="Up to 4 stop sequences.")
    seed: int | None = Field(default=None, description="Same seed, same request: same output.")
    presence_penalty: float | None = Field(default=None, description="-2 to 2.")
    frequency_penalty: float | None = Field(default=None, description="-2 to 2.")
    logit_bias: dict[str, float] | None = Field(
        default=None, description="Token id (as a string) to a bias in [-100, 100]."
    )
    stream: bool | None = Field(default=None, description="Stream server-sent events.")
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, description="Accepted and ignored.")

    @property
    def include_usage(self) -> bool:
        """True when a streamed response ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)

    def extra_field_names(self) -> list[str]:
        """Names of the fields this server does not know (they are accepted and logged)."""
        return sorted(self.model_extra or {})
