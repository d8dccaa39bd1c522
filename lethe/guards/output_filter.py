"""Streaming output filter: the last line of defence, on every request.

It transforms the engine's stream of deltas (one generator per request; all per-stream state
lives in its locals). Text is released only once it cannot be part of a mention any more, with
a hold-back window no longer than what may still become one (``IndexSnapshot.holdback``), so the
whole output is never rescanned and ordinary text is delayed by a few characters at most.

- **Lexical, always**: mentions of any in-force target's name, aliases or forbidden strings, with
  the matcher's normalisation (spelled-out, spaced, dashed, case-changed forms are caught).
- **Semantic, in scope only**: each completed sentence is embedded and compared with the
  in-scope targets' own vectors; a sentence at or above the target's threshold (plus a margin)
  is a leak. A short answer carries its meaning in the question ("Sure! Microsoft." after "Which
  company did Bill Gates found?"), so with ``question_context`` the sentence is also embedded
  after the question being answered, and the higher score counts. For such requests text is
  released sentence by sentence.

On a hit the choice ends before the sentence that holds it; when nothing was said yet the
choice becomes the policy's refusal, which reads like ignorance. ``finish_reason`` stays
``stop`` unless the operator asks for ``content_filter``.

Example:
    >>> flt = OutputFilter(FilterConfig(), embedder)              # doctest: +SKIP
    >>> scope = FilterScope(snapshot, None, (), "I'm not familiar with that.")  # doctest: +SKIP
    >>> async for out in flt.apply(stream, scope):                # doctest: +SKIP
    ...     print(out.text, end="")
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lethe.decoders import GenerationOutput, TokenLogprob, Usage
from lethe.indices import Embedder, IndexSnapshot

_SENTENCE_END = re.compile(r"[.!?;:\n]+[\"')\]]*(?=\s|$)")


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """``context_chars`` of released text are kept to judge word boundaries;
    ``semantic_margin`` is added to a target's scope threshold for output sentences.
    ``lexical`` False turns the every-request lexical check off (for ablations only: it is the
    last line against a mention every other technique missed)."""

    context_chars: int = 48
    lexical: bool = True
    semantic: bool = True
    semantic_margin: float = 0.1
    question_context: bool = True
    finish_reason: Literal["stop", "content_filter"] = "stop"


@dataclass(frozen=True, slots=True)
class GuardedTarget:
    """An in-scope target as the filter needs it: its id and semantic threshold."""

    target_id: str
    threshold: float


@dataclass(frozen=True, slots=True)
class FilterHit:
    """One enforcement by the filter, for the audit log."""

    index: int
    target_id: str
    technique: Literal["output_filter_lexical", "output_filter_semantic"]
    score: float | None = None


@dataclass(frozen=True, slots=True)
class FilterScope:
    """What one request's filter works against."""

    snapshot: IndexSnapshot
    tenant: str | None
    guarded: Sequence[GuardedTarget]
    refusal: str
    on_hit: Callable[[FilterHit], None] = lambda hit: None
    question: str = ""  # what the output answers: the last line of the last user message


@dataclass(slots=True)
class _Choice:
    index: int
    context: str = ""  # the tail of the released text
    pending: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    said: bool = False
    done: bool = False


class OutputFilter:
    """Builds one filtering generator per request (see the module docstring)."""

    def __init__(self, config: FilterConfig, embedder: Embedder | None) -> None:
        self.config = config
        self._embedder = embedder

    async def apply(
        self, stream: AsyncIterator[GenerationOutput], scope: FilterScope, choices: int = 1
    ) -> AsyncIterator[GenerationOutput]:
        """Filter ``stream`` of ``choices`` choices; stops reading once every one has ended."""
        if not len(scope.snapshot):
            async for out in stream:
                yield out
            return
        states: dict[int, _Choice] = {}
        async for out in stream:
            choice = states.setdefault(out.index, _Choice(out.index))
            if choice.done:
                continue
            choice.pending += out.text
            choice.logprobs.extend(out.logprobs)
            result = await self._step(choice, scope, out.usage, final=out.finished)
            if out.finished and not choice.done:
                choice.done = True
                base = result or GenerationOutput(choice.index, "", out.usage)
                result = dataclasses.replace(base, finish_reason=out.finish_reason)
            if result is not None:
                yield result
            if sum(c.done for c in states.values()) >= choices:
                return

    async def _step(
        self, choice: _Choice, scope: FilterScope, usage: Usage, *, final: bool
    ) -> GenerationOutput | None:
        cut = self._lexical_hit(choice, scope, final) if self.config.lexical else None
        sentences_end = len(choice.pending)
        if cut is None and scope.guarded and self.config.semantic and self._embedder:
            sentences_end = _last_sentence_end(choice.pending, final)
            if sentences_end:
                cut = await self._semantic_hit(choice, scope, sentences_end)
        if cut is not None:
            return self._end(choice, cut, scope, usage)
        hold = 0 if final else scope.snapshot.holdback(choice.context + choice.pending)
        release = min(sentences_end, len(choice.pending) - min(hold, len(choice.pending)))
        return self._release(choice, release, usage)

    def _lexical_hit(self, choice: _Choice, scope: FilterScope, final: bool) -> int | None:
        """Offset in ``pending`` of the sentence holding the first confirmed mention."""
        window = choice.context + choice.pending
        offset = len(choice.context)
        for hit in scope.snapshot.lexical_hits(window, tenant=scope.tenant):
            if hit.end <= offset or (hit.end == len(window) and not final):
                continue  # in released context, or its last word may still grow
            scope.on_hit(FilterHit(choice.index, hit.target_id, "output_filter_lexical"))
            return _sentence_start(choice.pending, max(hit.start - offset, 0))
        return None

    async def _semantic_hit(self, choice: _Choice, scope: FilterScope, end: int) -> int | None:
        """Offset in ``pending`` of the first completed sentence too close to a target."""
        spans = _sentences(choice.pending[:end])
        assert self._embedder is not None
        texts = [s for _, s in spans]
        question = scope.question.strip() if self.config.question_context else ""
        if question:
            texts += [f"{question} {s}" for _, s in spans]
        vectors = np.atleast_2d(await asyncio.to_thread(self._embedder.embed, texts))
        ids = [g.target_id for g in scope.guarded]
        for i, (start, _) in enumerate(spans):
            scores = self._best_scores(scope.snapshot, vectors[i :: len(spans)], ids)
            for g in scope.guarded:
                score = scores.get(g.target_id)
                if score is not None and score >= g.threshold + self.config.semantic_margin:
                    technique = "output_filter_semantic"
                    scope.on_hit(FilterHit(choice.index, g.target_id, technique, score))
                    return start
        return None

    @staticmethod
    def _best_scores(
        snapshot: IndexSnapshot, vectors: np.ndarray, ids: list[str]
    ) -> dict[str, float]:
        """Per target, the best score over ``vectors`` (a sentence alone, after the question)."""
        best: dict[str, float] = {}
        for vector in vectors:
            for target_id, hit in snapshot.semantic.scores_for(vector, ids).items():
                best[target_id] = max(best.get(target_id, hit.score), hit.score)
        return best

    def _release(self, choice: _Choice, end: int, usage: Usage) -> GenerationOutput | None:
        if end <= 0:
            return None
        text, choice.pending = choice.pending[:end], choice.pending[end:]
        choice.context = (choice.context + text)[-self.config.context_chars :]
        choice.said = choice.said or bool(text.strip())
        logprobs: tuple[TokenLogprob, ...] = ()
        if not choice.pending:
            logprobs, choice.logprobs = tuple(choice.logprobs), []
        return GenerationOutput(choice.index, text, usage, logprobs)

    def _end(self, choice: _Choice, cut: int, scope: FilterScope, usage: Usage) -> GenerationOutput:
        text = choice.pending[:cut].rstrip()
        if not choice.said and not text.strip():
            text = scope.refusal
        choice.pending, choice.logprobs, choice.done = "", [], True
        return GenerationOutput(choice.index, text, usage, (), self.config.finish_reason)


def _sentence_start(text: str, position: int) -> int:
    """Where the sentence holding ``position`` starts (after the previous sentence's end)."""
    start = 0
    for m in _SENTENCE_END.finditer(text, 0, position):
        start = m.end()
    return start


def _last_sentence_end(text: str, final: bool) -> int:
    """The end of the last complete sentence in ``text`` (all of it when ``final``)."""
    if final:
        return len(text)
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    return ends[-1] if ends else 0


def _sentences(text: str) -> list[tuple[int, str]]:
    """``(start, sentence)`` for each non-empty sentence of ``text``."""
    out, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        if text[start : m.end()].strip():
            out.append((start, text[start : m.end()]))
        start = m.end()
    if text[start:].strip():
        out.append((start, text[start:]))
    return out
