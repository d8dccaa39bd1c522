"""Legacy completion responses and stream chunks (``text_completion``), in OpenAI's shape.

Legacy log-probabilities are four parallel lists: ``tokens``, ``token_logprobs``,
``top_logprobs`` (one dict of alternatives per token, the chosen token included) and
``text_offset`` (where each token starts in the choice's text, echoed prompt included).

Example:
    >>> from lethe.decoders import TokenLogprob
    >>> lp = LegacyLogprobs.of([TokenLogprob("Hi", -0.1, (72, 105))], start=3, top_n=0)
    >>> lp.tokens, lp.text_offset, lp.top_logprobs
    (['Hi'], [3], [{}])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from lethe.decoders import FinishReason, TokenLogprob, Usage
from lethe.gateway.protocol.common import CompletionMeta, UsageInfo, floor_logprob


class LegacyLogprobs(BaseModel):
    """A legacy choice's ``logprobs``."""

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float]] | None
    text_offset: list[int]

    @classmethod
    def of(cls, tokens: Sequence[TokenLogprob], start: int, top_n: int) -> LegacyLogprobs:
        """The legacy form of ``tokens``, whose text starts at character ``start``."""
        offsets, position = [], start
        for token in tokens:
            offsets.append(position)
            position += len(token.token)
        return cls(
            tokens=[t.token for t in tokens],
            token_logprobs=[floor_logprob(t.logprob) for t in tokens],
            top_logprobs=[_alternatives(t, top_n) for t in tokens],
            text_offset=offsets,
        )


def _alternatives(token: TokenLogprob, top_n: int) -> dict[str, float]:
    if top_n == 0:
        return {}
    alternatives = {top.token: floor_logprob(top.logprob) for top in token.top[:top_n]}
    alternatives.setdefault(token.token, floor_logprob(token.logprob))
    return alternatives


class CompletionChoice(BaseModel):
    """One choice of a legacy completion (or its part in a stream chunk)."""

    index: int
    text: str
    logprobs: LegacyLogprobs | None = None
    finish_reason: FinishReason | None = None


class CompletionResponse(BaseModel):
    """The body of a non-streamed ``POST /v1/completions`` response."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[CompletionChoice]
    usage: UsageInfo


class CompletionChunk(BaseModel):
    """One ``data:`` frame of a streamed legacy completion (also ``text_completion``)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[CompletionChoice]
    usage: UsageInfo | None = None

    @classmethod
    def build(cls, meta: CompletionMeta, choices: list[CompletionChoice]) -> CompletionChunk:
        """A chunk of the request described by ``meta``."""
        return cls(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.system_fingerprint,
            choices=choices,
        )

    @classmethod
    def usage_only(cls, meta: CompletionMeta, usage: Usage) -> CompletionChunk:
        """The chunk ``stream_options.include_usage`` adds at the end: no choices, the usage."""
        chunk = cls.build(meta, [])
        chunk.usage = UsageInfo.of(usage)
        return chunk
