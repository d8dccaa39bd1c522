"""A scripted judge for the agentic stage's tests: answers are enqueued, calls are recorded."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from lethe.decoders import Message
from lethe.guards.agentic import JudgeCall


@dataclass(frozen=True, slots=True)
class Slow:
    """An answer that takes ``seconds`` to arrive."""

    seconds: float
    answers: tuple[str, ...] = ('{"leaked": []}',)


Scripted = tuple[str, ...] | Exception | Slow


class ScriptedJudge:
    """Answers each call with the next enqueued item: texts (one per choice; a single text is
    repeated for ``n`` choices), an exception to raise, or a :class:`Slow` answer."""

    def __init__(self, *items: Scripted | str) -> None:
        self.items: deque[Scripted] = deque()
        self.calls: list[tuple[tuple[Message, ...], JudgeCall]] = []
        self.enqueue(*items)

    def enqueue(self, *items: Scripted | str) -> None:
        for item in items:
            self.items.append((item,) if isinstance(item, str) else item)

    async def complete(self, messages: Sequence[Message], call: JudgeCall) -> list[str]:
        self.calls.append((tuple(messages), call))
        item = self.items.popleft()
        if isinstance(item, Exception):
            raise item
        if isinstance(item, Slow):
            await asyncio.sleep(item.seconds)
            item = item.answers
        texts = list(item)
        return texts * call.n if len(texts) == 1 else texts

    def roles(self) -> list[str]:
        """Which agent each call was, read from its system message."""
        names = {
            "auditor": "audit",
            "edit answers": "rewrite",
            "critic": "critic",
            "merge": "composer",
        }
        return [
            next(role for key, role in names.items() if key in messages[0].content)
            for messages, _ in self.calls
        ]
