"""``POST /v1/chat/completions``: from the wire request to a response or an SSE stream.

Both paths await the engine's first output before anything is sent, so that a bad request is
a 4xx with the envelope, not a broken stream. After that, errors go in-band.

Example:
    >>> serving = ChatServing(engine, EnginePipeline(engine), settings)   # doctest: +SKIP
    >>> response = await serving.complete(request, RequestContext("req-1"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Awaitable
from contextlib import aclosing

from lethe.decoders import SamplingParams, Turn
from lethe.gateway.protocol import (
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatLogprobs,
    CompletionMeta,
    UsageInfo,
)
from lethe.gateway.protocol.chat_response import AssistantMessage, ChatChoice
from lethe.gateway.request_context import RequestContext
from lethe.gateway.serving.collect import ChoiceBuffer, collect
from lethe.gateway.serving.common import GenerationServing, check_deadline
from lethe.gateway.sse import event_stream
from lethe.gateway.streams import OutputStream


class ChatServing(GenerationServing):
    """The chat completions endpoint's logic."""

    id_prefix = "chatcmpl"
    endpoint = "chat.completions"

    def _turn(
        self, body: ChatCompletionRequest, ctx: RequestContext
    ) -> tuple[Turn, CompletionMeta]:
        meta = self.begin(body, body.model, ctx)
        turn = dataclasses.replace(body.to_turn(ctx.request_id, self.limits()), tenant=ctx.tenant)
        self.check_capabilities(turn.params)
        return turn, meta

    async def complete(
        self, body: ChatCompletionRequest, ctx: RequestContext
    ) -> ChatCompletionResponse:
        """The whole response, once every choice has finished."""
        turn, meta = self._turn(body, ctx)
        stream = await OutputStream.open(self.pipeline, [turn], ctx.trace)
        ctx.mark_first_output()
        async with aclosing(stream):
            choices = await collect(stream)
        ctx.record_usage(stream.usage)
        response = ChatCompletionResponse(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.system_fingerprint,
            choices=[_choice(choice, turn.params) for choice in choices],
            usage=UsageInfo.of(stream.usage),
        )
        self.log_response(ctx, response.model_dump_json())
        return response

    async def stream(
        self, body: ChatCompletionRequest, ctx: RequestContext
    ) -> AsyncGenerator[str, None]:
        """SSE frames of the response; the first output has arrived when this returns, unless
        it takes longer than ``sse_keepalive_s`` (see :meth:`open_stream`)."""
        turn, meta = self._turn(body, ctx)
        opening = await self.open_stream([turn], ctx)
        chunks = self._chunks(opening, meta, turn.params, body.include_usage, ctx)
        return event_stream(chunks, ctx.request_id, self.settings.sse_keepalive_s)

    async def _chunks(
        self,
        opening: Awaitable[OutputStream],
        meta: CompletionMeta,
        params: SamplingParams,
        include_usage: bool,
        ctx: RequestContext,
    ) -> AsyncGenerator[str, None]:
        deadline = self.deadline()
        stream = await opening
        exclude = None if include_usage else {"usage"}
        started: set[int] = set()
        try:
            async with aclosing(stream):
                async for out in stream:
                    check_deadline(deadline)
                    if out.index not in started:
                        started.add(out.index)
                        yield ChatCompletionChunk.role(meta, out.index).model_dump_json(
                            exclude=exclude
                        )
                    if out.text or out.logprobs:
                        logprobs = (
                            ChatLogprobs.of(out.logprobs, params.top_logprobs)
                            if params.logprobs
                            else None
                        )
                        chunk = ChatCompletionChunk.content(meta, out.index, out.text, logprobs)
                        yield chunk.model_dump_json(exclude=exclude)
                    if out.finish_reason is not None:
                        chunk = ChatCompletionChunk.finish(meta, out.index, out.finish_reason)
                        yield chunk.model_dump_json(exclude=exclude)
        finally:
            ctx.record_usage(stream.usage)
        if include_usage:
            yield ChatCompletionChunk.usage_only(meta, stream.usage).model_dump_json()


def _choice(choice: ChoiceBuffer, params: SamplingParams) -> ChatChoice:
    logprobs = ChatLogprobs.of(choice.tokens, params.top_logprobs) if params.logprobs else None
    return ChatChoice(
        index=choice.index,
        message=AssistantMessage(content=choice.text),
        logprobs=logprobs,
        finish_reason=choice.finish_reason,
    )
