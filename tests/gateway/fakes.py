"""A scripted fake engine for the gateway's pipeline tests (after simonw/llm's MockModel).

``engine.enqueue(Reply(...))`` scripts the next request; with nothing queued every choice
answers ``"Hello" + " world"``. The fake implements the :class:`~lethe.decoders.Engine`
protocol: choices are interleaved, every output carries the running usage, errors are raised on
the first ``__anext__``, and a prompt (words, or token ids) that fills the context window, or
leaves less than an explicit ``max_tokens``, raises :class:`ContextLengthExceeded`, as the
real engine does (a defaulted budget is clamped instead). Closing the
iterator early sets :attr:`FakeEngine.cancelled`.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass

from lethe.decoders import (
    Capabilities,
    EngineStats,
    FinishReason,
    GenerationOutput,
    ProcessorFactory,
    TokenLogprob,
    TopLogprob,
    Turn,
    Usage,
)
from lethe.errors import ContextLengthExceeded

DEFAULT_PIECES = ("Hello", " world")


@dataclass(frozen=True)
class Reply:
    """The fake's answer to one request.

    ``choices``: the text pieces of each choice (choice ``i`` takes ``choices[i % len]``).
    ``error``: raised on the first iteration (after ``delay_s``). ``error_after``: raised after
    the first output.
    ``delay_s``: a pause before every output (for cancellation tests). ``pause_s``: one pause
    before the second output (a stream that goes silent after it started).
    """

    choices: tuple[tuple[str, ...], ...] = (DEFAULT_PIECES,)
    finish_reason: FinishReason = "stop"
    error: Exception | None = None
    error_after: Exception | None = None
    delay_s: float = 0.0
    pause_s: float = 0.0


def _token(piece: str, top_n: int) -> TokenLogprob:
    top = tuple(
        TopLogprob(token=f"alt{j}", logprob=-1.0 - j, bytes=tuple(f"alt{j}".encode()))
        for j in range(top_n)
    )
    return TokenLogprob(token=piece, logprob=-0.25, bytes=tuple(piece.encode()), top=top)


def prompt_tokens(turn: Turn) -> int:
    """The fake's token count of a prompt: words of the text, or the token ids."""
    if isinstance(turn.prompt, tuple):
        return len(turn.prompt)
    return len(turn.conversation_text().split())


class FakeEngine:
    """An :class:`~lethe.decoders.Engine` that answers from a script."""

    def __init__(
        self,
        model_id: str = "lethe-fake",
        max_model_len: int = 4096,
        capabilities: Capabilities | None = None,
        load_gate: threading.Event | None = None,
        load_error: Exception | None = None,
    ) -> None:
        self._model_id = model_id
        self._max_model_len = max_model_len
        self._capabilities = capabilities or Capabilities(
            logits=True, logit_bias=True, rollback=True
        )
        self._load_gate = load_gate
        self._load_error = load_error
        self._ready = False
        self._replies: deque[Reply] = deque()
        self.turns: list[Turn] = []
        self.cancelled = threading.Event()
        self.closed = False

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def max_model_len(self) -> int:
        return self._max_model_len

    @property
    def ready(self) -> bool:
        return self._ready

    def load(self) -> None:
        if self._load_gate is not None:
            self._load_gate.wait(30)
        if self._load_error is not None:
            raise self._load_error
        self._ready = True

    def stats(self) -> EngineStats:
        return EngineStats(running=0, waiting=0, max_waiting=0)

    def close(self) -> None:
        self.closed = True

    def enqueue(self, *replies: Reply) -> None:
        """Script the next requests, in order."""
        self._replies.extend(replies)

    def reset(self) -> None:
        """Forget the script, the recorded turns and the cancellation flag."""
        self._replies.clear()
        self.turns.clear()
        self.cancelled.clear()

    def generate(
        self, turn: Turn, processors: Sequence[ProcessorFactory] = ()
    ) -> AsyncIterator[GenerationOutput]:
        self.turns.append(turn)
        reply = self._replies.popleft() if self._replies else Reply()
        return self._outputs(turn, reply)

    async def _outputs(self, turn: Turn, reply: Reply) -> AsyncIterator[GenerationOutput]:
        if reply.error is not None:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            raise reply.error
        prompt = prompt_tokens(turn)
        budget = turn.params.max_tokens or turn.params.default_max_tokens or 1
        if prompt + budget > self._max_model_len and turn.params.max_tokens is not None:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {self._max_model_len} tokens. However, "
                f"you requested {prompt + budget} tokens ({prompt} in the prompt, {budget} for "
                "the completion).",
                param="max_tokens",
            )
        if prompt >= self._max_model_len:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {self._max_model_len} tokens. However, "
                f"your prompt is {prompt} tokens.",
                param="messages" if turn.is_chat else "prompt",
            )
        completion = 0
        try:
            for step, (index, piece, last) in enumerate(_schedule(reply, turn.params.n)):
                if reply.delay_s:
                    await asyncio.sleep(reply.delay_s)
                if reply.pause_s and step == 1:
                    await asyncio.sleep(reply.pause_s)
                if reply.error_after is not None and step == 1:
                    raise reply.error_after
                completion += 1
                yield GenerationOutput(
                    index=index,
                    text=piece,
                    usage=Usage(prompt, completion),
                    logprobs=(_token(piece, turn.params.top_logprobs),)
                    if turn.params.logprobs
                    else (),
                    finish_reason=reply.finish_reason if last else None,
                )
        except (GeneratorExit, asyncio.CancelledError):
            self.cancelled.set()
            raise


def _schedule(reply: Reply, n: int) -> Iterator[tuple[int, str, bool]]:
    """(choice, piece, is_last) with the choices interleaved round-robin."""
    pieces = [reply.choices[i % len(reply.choices)] for i in range(n)]
    for step in range(max(len(p) for p in pieces)):
        for index, choice in enumerate(pieces):
            if step < len(choice):
                yield index, choice[step], step == len(choice) - 1
