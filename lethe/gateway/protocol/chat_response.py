"""Chat completion responses and stream chunks, in OpenAI's exact shape.

Example:
    >>> meta = CompletionMeta("chatcmpl-1", 0, "m", "fp_x")
    >>> chunk = ChatCompletionChunk.role(meta, index=0)
    >>> chunk.choices[0].model_dump()["delta"]
    {'role': 'assistant', 'content': ''}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from lethe.decoders import FinishReason, TokenLogprob, TopLogprob, Usage
from lethe.gateway.protocol.common import CompletionMeta, UsageInfo, floor_logprob


class ChatTopLogprob(BaseModel):
    """One alternative token at a step."""

    token: str
    logprob: float
    bytes: list[int] | None

    @classmethod
    def of(cls, top: TopLogprob) -> ChatTopLogprob:
        """Wire form of an engine :class:`TopLogprob`."""
        return cls(token=top.token, logprob=floor_logprob(top.logprob), bytes=list(top.bytes))


class ChatTokenLogprob(ChatTopLogprob):
    """The chosen token at a step and its ``top_logprobs`` alternatives."""

    top_logprobs: list[ChatTopLogprob]

    @classmethod
    def of_token(cls, token: TokenLogprob, top_n: int) -> ChatTokenLogprob:
        """Wire form of an engine :class:`TokenLogprob`, keeping ``top_n`` alternatives."""
        return cls(
            token=token.token,
            logprob=floor_logprob(token.logprob),
            bytes=list(token.bytes),
            top_logprobs=[ChatTopLogprob.of(top) for top in token.top[:top_n]],
        )


class ChatLogprobs(BaseModel):
    """A choice's ``logprobs``: one entry per generated token."""

    content: list[ChatTokenLogprob] | None
    refusal: list[ChatTokenLogprob] | None = None

    @classmethod
    def of(cls, tokens: Sequence[TokenLogprob], top_n: int) -> ChatLogprobs:
        """Wire form of the engine's per-token log-probabilities."""
        return cls(content=[ChatTokenLogprob.of_token(t, top_n) for t in tokens])


class AssistantMessage(BaseModel):
    """The generated message of a choice."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class ChatChoice(BaseModel):
    """One choice of a non-streamed chat completion."""

    index: int
    message: AssistantMessage
    logprobs: ChatLogprobs | None = None
    finish_reason: FinishReason | None


class ChatCompletionResponse(BaseModel):
    """The body of a non-streamed ``POST /v1/chat/completions`` response."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChoice]
    usage: UsageInfo


class ChatDelta(BaseModel):
    """What a chunk adds to a choice; unset fields are left out on the wire (``{}`` at the end)."""

    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class ChatChunkChoice(BaseModel):
    """One choice's part of a stream chunk."""

    index: int
    delta: ChatDelta
    logprobs: ChatLogprobs | None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    """One ``data:`` frame of a streamed chat completion (``chat.completion.chunk``)."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: str
    choices: list[ChatChunkChoice]
    usage: UsageInfo | None = None

    @classmethod
    def build(cls, meta: CompletionMeta, choices: list[ChatChunkChoice]) -> ChatCompletionChunk:
        """A chunk of the request described by ``meta``."""
        return cls(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.system_fingerprint,
            choices=choices,
        )

    @classmethod
    def role(cls, meta: CompletionMeta, index: int) -> ChatCompletionChunk:
        """The first chunk of a choice: ``{"role": "assistant", "content": ""}``."""
        delta = ChatDelta(role="assistant", content="")
        return cls.build(meta, [ChatChunkChoice(index=index, delta=delta)])

    @classmethod
    def content(
        cls, meta: CompletionMeta, index: int, text: str, logprobs: ChatLogprobs | None
    ) -> ChatCompletionChunk:
        """A chunk adding ``text`` (and its tokens' log-probabilities) to a choice."""
        choice = ChatChunkChoice(index=index, delta=ChatDelta(content=text), logprobs=logprobs)
        return cls.build(meta, [choice])

    @classmethod
    def finish(cls, meta: CompletionMeta, index: int, reason: FinishReason) -> ChatCompletionChunk:
        """The last chunk of a choice: an empty delta and the finish reason."""
        choice = ChatChunkChoice(index=index, delta=ChatDelta(), finish_reason=reason)
        return cls.build(meta, [choice])

    @classmethod
    def usage_only(cls, meta: CompletionMeta, usage: Usage) -> ChatCompletionChunk:
        """The chunk ``stream_options.include_usage`` adds at the end: no choices, the usage."""
        chunk = cls.build(meta, [])
        chunk.usage = UsageInfo.of(usage)
        return chunk
