"""What an engine yields: one frozen :class:`GenerationOutput` per delta of one choice.

Every output carries the request's running :class:`Usage`; the last output of a request holds
the final counts. A choice is finished when its output has a ``finish_reason``.

Example:
    >>> out = GenerationOutput(index=0, text="Paris", usage=Usage(12, 1))
    >>> out.finished
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True, slots=True)
class TopLogprob:
    """One alternative token and its log-probability."""

    token: str
    logprob: float
    bytes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """The chosen token, its log-probability and the most likely alternatives at that step.

    Log-probabilities come from the *processed* distribution (after logits processors and
    ``logit_bias``, before temperature), so a banned token never shows up here.
    """

    token: str
    logprob: float
    bytes: tuple[int, ...]
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of a whole request (all choices together)."""

    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class GenerationOutput:
    """A piece of one choice's text, with the tokens' log-probabilities when asked for."""

    index: int
    text: str
    usage: Usage
    logprobs: tuple[TokenLogprob, ...] = ()
    finish_reason: FinishReason | None = None

    @property
    def finished(self) -> bool:
        """True on the last output of this choice."""
        return self.finish_reason is not None
