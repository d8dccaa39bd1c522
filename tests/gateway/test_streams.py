"""OutputStream: priming, merging several Turns, renumbering choices, summing usage, closing."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from lethe.decoders import GenerationOutput, SamplingParams, Turn
from lethe.errors import Overloaded
from lethe.gateway.pipeline import EnginePipeline
from lethe.gateway.serving.collect import collect
from lethe.gateway.streams import OutputStream
from tests.gateway.fakes import FakeEngine, Reply


def turns(count: int, n: int = 1) -> list[Turn]:
    params = SamplingParams(max_tokens=8, n=n)
    return [Turn(request_id=f"r-{p}", params=params, prompt=f"p{p} words") for p in range(count)]


async def drain(stream: OutputStream) -> list[GenerationOutput]:
    async with aclosing(stream):
        return [output async for output in stream]


@pytest.mark.parametrize(("prompts", "n"), [(1, 1), (1, 3), (2, 1), (3, 2)])
def test_indices_and_usage(prompts: int, n: int) -> None:
    engine = FakeEngine()

    async def run() -> tuple[list[GenerationOutput], OutputStream]:
        stream = await OutputStream.open(EnginePipeline(engine), turns(prompts, n))
        return await drain(stream), stream

    outputs, stream = asyncio.run(run())
    finished = sorted(o.index for o in outputs if o.finished)
    assert finished == list(range(prompts * n))
    assert stream.usage.prompt_tokens == 2 * prompts
    assert stream.usage.completion_tokens == 2 * prompts * n


def test_collect_orders_choices() -> None:
    engine = FakeEngine()
    engine.enqueue(Reply(choices=(("a", "b"), ("c",))), Reply(choices=(("d",), ("e", "f"))))

    async def run() -> list[str]:
        stream = await OutputStream.open(EnginePipeline(engine), turns(2, n=2))
        async with aclosing(stream):
            return [choice.text for choice in await collect(stream)]

    assert asyncio.run(run()) == ["ab", "c", "d", "ef"]


def test_error_of_any_turn_surfaces_on_open_and_closes_the_others() -> None:
    engine = FakeEngine()
    slow = Reply(delay_s=0.01)
    engine.enqueue(slow, Reply(error=Overloaded("full")))

    async def run() -> None:
        await OutputStream.open(EnginePipeline(engine), turns(2))

    with pytest.raises(Overloaded):
        asyncio.run(run())
    assert engine.cancelled.is_set()  # the first Turn had started; it was closed


def test_aclose_cancels_every_turn() -> None:
    engine = FakeEngine()
    slow = Reply(choices=(tuple("x" * 100),), delay_s=0.01)
    engine.enqueue(slow, slow)

    async def run() -> None:
        stream = await OutputStream.open(EnginePipeline(engine), turns(2))
        async with aclosing(stream):
            async for _ in stream:
                break

    asyncio.run(run())
    assert engine.cancelled.is_set()


def test_cancelled_consumer_closes_the_engine() -> None:
    engine = FakeEngine()
    engine.enqueue(Reply(choices=(tuple("x" * 100),), delay_s=0.01))

    async def run() -> None:
        stream = await OutputStream.open(EnginePipeline(engine), turns(1))
        task = asyncio.ensure_future(drain(stream))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run())
    assert engine.cancelled.is_set()
