"""``POST /v1/completions`` (legacy): several prompts, echo, legacy log-probabilities.

Choice ``i`` of prompt ``p`` is index ``p * n + i``. With ``echo`` the prompt text starts each
choice (in the first chunk of each choice when streaming), and ``text_offset`` counts it.

Example:
    >>> serving = CompletionServing(engine, EnginePipeline(engine), settings)  # doctest: +SKIP
    >>> response = await serving.complete(request, RequestContext("req-1"))    # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, Awaitable, Sequence
from contextlib import aclosing

from lethe.decoders import GenerationOutput, SamplingParams, Turn
from lethe.gateway.protocol import (
    CompletionChoice,
    CompletionChunk,
    CompletionMeta,
    CompletionRequest,
    CompletionResponse,
    LegacyLogprobs,
    UsageInfo,
)
from lethe.gateway.request_context import RequestContext
from lethe.gateway.serving.collect import collect
from lethe.gateway.serving.common import GenerationServing, check_deadline
from lethe.gateway.sse import event_stream
from lethe.gateway.streams import OutputStream


class CompletionServing(GenerationServing):
    """The legacy completions endpoint's logic."""

    id_prefix = "cmpl"
    endpoint = "completions"

    def _turns(
        self, body: CompletionRequest, ctx: RequestContext
    ) -> tuple[list[Turn], CompletionMeta]:
        meta = self.begin(body, body.model, ctx)
        turns = [
            dataclasses.replace(t, tenant=ctx.tenant)
            for t in body.to_turns(ctx.request_id, self.limits())
        ]
        self.check_capabilities(turns[0].params)
        return turns, meta

    async def complete(self, body: CompletionRequest, ctx: RequestContext) -> CompletionResponse:
        """The whole response, once every choice of every prompt has finished."""
        turns, meta = self._turns(body, ctx)
        params = turns[0].params
        stream = await OutputStream.open(self.pipeline, turns, ctx.trace)
        ctx.mark_first_output()
        async with aclosing(stream):
            buffers = await collect(stream)
        ctx.record_usage(stream.usage)
        choices = []
        for buffer in buffers:
            prefix = body.echo_prefix(_prompt_of(turns, buffer.index, params.n))
            logprobs = (
                LegacyLogprobs.of(buffer.tokens, len(prefix), params.top_logprobs)
                if params.logprobs
                else None
            )
            choices.append(
                CompletionChoice(
                    index=buffer.index,
                    text=prefix + buffer.text,
                    logprobs=logprobs,
                    finish_reason=buffer.finish_reason,
                )
            )
        response = CompletionResponse(
            id=meta.id,
            created=meta.created,
            model=meta.model,
            system_fingerprint=meta.system_fingerprint,
            choices=choices,
            usage=UsageInfo.of(stream.usage),
        )
        self.log_response(ctx, response.model_dump_json())
        return response

    async def stream(
        self, body: CompletionRequest, ctx: RequestContext
    ) -> AsyncGenerator[str, None]:
        """SSE frames of the response; every prompt's first output has arrived on return, unless
        that takes longer than ``sse_keepalive_s`` (see :meth:`open_stream`)."""
        turns, meta = self._turns(body, ctx)
        opening = await self.open_stream(turns, ctx)
        chunks = self._chunks(opening, meta, body, turns, ctx)
        return event_stream(chunks, ctx.request_id, self.settings.sse_keepalive_s)

    async def _chunks(
        self,
        opening: Awaitable[OutputStream],
        meta: CompletionMeta,
        body: CompletionRequest,
        turns: Sequence[Turn],
        ctx: RequestContext,
    ) -> AsyncGenerator[str, None]:
        deadline = self.deadline()
        stream = await opening
        exclude = None if body.include_usage else {"usage"}
        params = turns[0].params
        offsets: dict[int, int] = {}
        try:
            async with aclosing(stream):
                async for out in stream:
                    check_deadline(deadline)
                    first = out.index not in offsets
                    prefix = (
                        body.echo_prefix(_prompt_of(turns, out.index, params.n)) if first else ""
                    )
                    start = offsets.get(out.index, 0)
                    if prefix or out.text or out.logprobs or out.finished:
                        choice = _chunk_choice(out, prefix, start, params)
                        yield CompletionChunk.build(meta, [choice]).model_dump_json(exclude=exclude)
                    offsets[out.index] = start + len(prefix) + len(out.text)
        finally:
            ctx.record_usage(stream.usage)
        if body.include_usage:
            yield CompletionChunk.usage_only(meta, stream.usage).model_dump_json()


def _prompt_of(turns: Sequence[Turn], index: int, n: int) -> str | tuple[int, ...]:
    prompt = turns[index // n].prompt
    assert prompt is not None, "legacy completion turns always carry a prompt"
    return prompt


def _chunk_choice(
    out: GenerationOutput, prefix: str, start: int, params: SamplingParams
) -> CompletionChoice:
    logprobs = (
        LegacyLogprobs.of(out.logprobs, start + len(prefix), params.top_logprobs)
        if params.logprobs
        else None
    )
    return CompletionChoice(
        index=out.index,
        text=prefix + out.text,
        logprobs=logprobs,
        finish_reason=out.finish_reason,
    )
