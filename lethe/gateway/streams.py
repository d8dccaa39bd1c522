"""One request's outputs: the streams of its Turns, primed, merged and renumbered.

A legacy completion with several prompts runs one Turn per prompt; choice ``i`` of prompt ``p``
becomes choice ``p * n + i``. :meth:`OutputStream.open` awaits every Turn's first output before
returning, so validation and admission errors surface while an HTTP status can still be chosen.
:meth:`OutputStream.aclose` closes every engine iterator, which cancels their generation.

Example:
    >>> stream = await OutputStream.open(pipeline, [turn])   # doctest: +SKIP
    >>> async with aclosing(stream):                          # doctest: +SKIP
    ...     async for out in stream: ...
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence

from lethe.decoders import GenerationOutput, Turn, Usage
from lethe.errors import EngineError
from lethe.gateway.pipeline import Pipeline
from lethe.gateway.unlearning import Trace


async def _first(source: AsyncIterator[GenerationOutput]) -> GenerationOutput:
    try:
        return await anext(source)
    except StopAsyncIteration:
        raise EngineError("the engine finished without any output") from None


class OutputStream:
    """The merged outputs of one request's Turns, with request-wide choice indices."""

    def __init__(
        self,
        sources: Sequence[AsyncIterator[GenerationOutput]],
        firsts: Sequence[GenerationOutput],
        n: int,
    ) -> None:
        self._sources = list(sources)
        self._firsts = list(firsts)
        self._n = n
        self._usages = [first.usage for first in firsts]
        self._pending: dict[asyncio.Future[GenerationOutput], int] = {}

    @classmethod
    async def open(
        cls, pipeline: Pipeline, turns: Sequence[Turn], trace: Trace | None = None
    ) -> OutputStream:
        """Start every Turn and await its first output; on any error, close them all.

        ``trace`` (the operator's debug view) follows the first Turn.
        """
        sources = [
            pipeline.generate(turn, trace if i == 0 else None) for i, turn in enumerate(turns)
        ]
        if len(sources) == 1:
            try:
                firsts = [await _first(sources[0])]
            except BaseException:
                await _close_all(sources)
                raise
            return cls(sources, firsts, turns[0].params.n)
        tasks = [asyncio.ensure_future(_first(source)) for source in sources]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            failure = next((t.exception() for t in tasks if t.done() and t.exception()), None)
            if failure is not None:
                raise failure
        except BaseException:
            await _cancel(tasks)
            await _close_all(sources)
            raise
        return cls(sources, [t.result() for t in tasks], turns[0].params.n)

    @property
    def usage(self) -> Usage:
        """The request's running usage: the latest counts of every Turn, added up."""
        return Usage(
            prompt_tokens=sum(u.prompt_tokens for u in self._usages),
            completion_tokens=sum(u.completion_tokens for u in self._usages),
        )

    def _renumber(self, turn: int, output: GenerationOutput) -> GenerationOutput:
        self._usages[turn] = output.usage
        if turn == 0:
            return output
        return dataclasses.replace(output, index=turn * self._n + output.index)

    async def __aiter__(self) -> AsyncIterator[GenerationOutput]:
        for turn, first in enumerate(self._firsts):
            yield self._renumber(turn, first)
        if len(self._sources) == 1:
            async for output in self._sources[0]:
                yield self._renumber(0, output)
            return
        async for turn, output in self._merged():
            yield self._renumber(turn, output)

    async def _merged(self) -> AsyncIterator[tuple[int, GenerationOutput]]:
        for turn, source in enumerate(self._sources):
            self._pending[asyncio.ensure_future(anext(source))] = turn
        while self._pending:
            done, _ = await asyncio.wait(self._pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                turn = self._pending.pop(task)
                if isinstance(task.exception(), StopAsyncIteration):
                    continue
                output = task.result()
                self._pending[asyncio.ensure_future(anext(self._sources[turn]))] = turn
                yield turn, output

    async def aclose(self) -> None:
        """Cancel whatever is in flight and close every engine iterator."""
        pending, self._pending = list(self._pending), {}
        await _cancel(pending)
        await _close_all(self._sources)


async def _cancel(tasks: Sequence[asyncio.Future[GenerationOutput]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _close_all(sources: Sequence[AsyncIterator[GenerationOutput]]) -> None:
    for source in sources:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
