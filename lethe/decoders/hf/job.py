"""A :class:`Job` is one admitted request inside the ``hf`` engine: its choices and its outbox.

The engine's worker thread advances the job's sequences and posts their outputs to the asyncio
queue of the coroutine that is streaming them, through ``loop.call_soon_threadsafe`` (one call per
step per job). The coroutine closing its stream sets ``cancelled``; the worker drops the job's rows
before the next step.

Example:
    >>> job = Job(...)                 # doctest: +SKIP
    >>> job.post([output]); job.fail(EngineError("boom"))  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field

from lethe.decoders.output import GenerationOutput, TokenLogprob, TopLogprob, Usage
from lethe.decoders.processors import ProcessorFactory
from lethe.decoders.sampler import Pick
from lethe.decoders.sequence import Sequence, Step
from lethe.decoders.turn import Turn

TokenTextFn = Callable[[int], tuple[str, tuple[int, ...]]]


@dataclass(eq=False)
class Job:
    """One request in flight: its prompt, its choices and where their outputs go."""

    turn: Turn
    prompt_ids: list[int]
    max_new_tokens: int
    processors: Seq[ProcessorFactory]
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[list[GenerationOutput] | BaseException]
    sequences: list[Sequence] = field(default_factory=list)
    _cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def n(self) -> int:
        """Number of choices."""
        return self.turn.params.n

    @property
    def cancelled(self) -> bool:
        """True once the consumer went away."""
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Ask the worker to drop this job (idempotent, any thread)."""
        self._cancelled.set()

    @property
    def done(self) -> bool:
        """True when every choice has finished."""
        return bool(self.sequences) and all(s.finished for s in self.sequences)

    def usage(self) -> Usage:
        """Token counts so far."""
        return Usage(len(self.prompt_ids), sum(len(s.output_ids) for s in self.sequences))

    def post(self, outputs: list[GenerationOutput]) -> None:
        """Deliver outputs to the consumer (called from the worker thread)."""
        if outputs and not self.cancelled:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, outputs)

    def fail(self, error: BaseException) -> None:
        """Deliver an error; the consumer raises it."""
        if not self.cancelled:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, error)


def step_output(seq: Sequence, step: Step, usage: Usage) -> GenerationOutput | None:
    """The output one appended token yields for its choice, or None when there is nothing new.

    Log-probabilities travel as the tokens' notes, so they go out with their text and never
    for a token that was rolled back.
    """
    if not step.text and not step.notes and step.finish_reason is None:
        return None
    return GenerationOutput(
        index=seq.index,
        text=step.text,
        usage=usage,
        logprobs=step.notes,
        finish_reason=step.finish_reason,
    )


def token_note(seq: Sequence, pick: Pick, token_text: TokenTextFn) -> TokenLogprob | None:
    """The note to keep with a sampled token: its log-probabilities, when asked for.

    The end-of-sequence token is not part of the completion, so it gets none.
    """
    if pick.logprob is None or pick.token_id in seq.eos_token_ids:
        return None
    return _token_logprob(pick, token_text)


def _token_logprob(pick: Pick, token_text: TokenTextFn) -> TokenLogprob:
    text, raw = token_text(pick.token_id)
    top = []
    for token_id, logprob in pick.top:
        alt_text, alt_raw = token_text(token_id)
        top.append(TopLogprob(alt_text, logprob, alt_raw))
    assert pick.logprob is not None
    return TokenLogprob(text, pick.logprob, raw, tuple(top))
