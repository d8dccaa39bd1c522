"""Aggregation of a non-streamed response: each choice's text, tokens and finish reason.

Example:
    >>> buf = ChoiceBuffer(0)
    >>> buf.add(GenerationOutput(0, "Hel", Usage(3, 1)))
    >>> buf.add(GenerationOutput(0, "lo", Usage(3, 2), finish_reason="stop"))
    >>> buf.text, buf.finish_reason
    ('Hello', 'stop')
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lethe.decoders import FinishReason, GenerationOutput, TokenLogprob, Usage  # noqa: F401
from lethe.gateway.streams import OutputStream


@dataclass(slots=True)
class ChoiceBuffer:
    """One choice, as its outputs arrive."""

    index: int
    texts: list[str] = field(default_factory=list)
    tokens: list[TokenLogprob] = field(default_factory=list)
    finish_reason: FinishReason | None = None

    def add(self, output: GenerationOutput) -> None:
        """Append one output of this choice."""
        self.texts.append(output.text)
        self.tokens.extend(output.logprobs)
        if output.finish_reason is not None:
            self.finish_reason = output.finish_reason

    @property
    def text(self) -> str:
        """The choice's whole text so far."""
        return "".join(self.texts)


async def collect(stream: OutputStream) -> list[ChoiceBuffer]:
    """Every choice of ``stream``, by index, once the stream is exhausted."""
    choices: dict[int, ChoiceBuffer] = {}
    async for output in stream:
        choices.setdefault(output.index, ChoiceBuffer(output.index)).add(output)
    return [choices[index] for index in sorted(choices)]
