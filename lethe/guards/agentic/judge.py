"""The model the agentic stage asks: any :class:`~lethe.decoders.Engine`, behind one call.

:class:`EngineJudge` runs a chat turn on an engine and returns each choice's whole text. The
engine is the served one (its calls join the running batch like any request), or another
engine built for judging, e.g. an ``upstream`` engine pointed at a larger hosted model; an
engine that is not loaded yet is loaded on first use, in a worker thread (or from start-up
with :meth:`EngineJudge.start`).

Example:
    >>> judge = EngineJudge(engine)                                   # doctest: +SKIP
    >>> await judge.complete(messages, JudgeCall(max_tokens=32))      # doctest: +SKIP
    ['{"leaked": []}']
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Protocol

from lethe.decoders import Engine, Message, SamplingParams, Turn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JudgeCall:
    """Sampling for one judge call: ``n`` answers of at most ``max_tokens``."""

    max_tokens: int
    n: int = 1
    temperature: float = 0.0
    seed: int | None = None


class Judge(Protocol):
    """Answers chat messages; raises on failure (the stage then refuses)."""

    async def complete(self, messages: Sequence[Message], call: JudgeCall) -> list[str]:
        """The text of each of ``call.n`` answers to ``messages``."""
        ...


class EngineJudge:
    """A judge backed by an engine (see the module docstring)."""

    def __init__(self, engine: Engine, *, owned: bool = False, request_prefix: str = "alu") -> None:
        self._engine = engine
        self._owned = owned
        self._prefix = request_prefix
        self._load_lock = threading.Lock()
        self._calls = 0

    async def complete(self, messages: Sequence[Message], call: JudgeCall) -> list[str]:
        """Run one turn; the texts in choice order."""
        if not self._engine.ready:
            await asyncio.to_thread(self._load)
        self._calls += 1
        params = SamplingParams(
            max_tokens=call.max_tokens,
            temperature=call.temperature,
            n=call.n,
            seed=call.seed,
        )
        turn = Turn.chat(f"{self._prefix}-{self._calls}", messages, params)
        texts = [""] * call.n
        async with aclosing(self._engine.generate(turn)) as stream:  # type: ignore[type-var]
            async for out in stream:
                texts[out.index] += out.text
        return texts

    def start(self) -> None:
        """Start loading the engine in the background (a separate judge, at start-up), so that
        the first review does not wait for it."""
        threading.Thread(target=self._preload, name="lethe-judge-load", daemon=True).start()

    def _preload(self) -> None:
        try:
            self._load()
        except Exception as exc:  # a review retries the load, and refuses if it fails again
            logger.warning("event=judge_load_failed error=%s", type(exc).__name__)

    def _load(self) -> None:
        with self._load_lock:
            if not self._engine.ready:
                self._engine.load()

    def close(self) -> None:
        """Close the engine if this judge owns it (one built only for judging)."""
        if self._owned:
            self._engine.close()
