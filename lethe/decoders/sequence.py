"""The state of one choice being decoded: tokens, text, what may be emitted, sampling state.

A :class:`Sequence` is what logits processors see (it implements ``SequenceView``) and what the
engine's loop advances one token at a time. It owns everything per choice: its random generator
(seeded from the request's ``seed`` and the choice index, so the same request gives the same
output), its processors, its incremental detokeniser, and the emitted offset: text is released
only once no stop string and no forbidden string (``TextMonitor``) can still begin in it. When a
monitor finds a completed forbidden string, the sequence is cut back to the first token of the
match — never behind what was already emitted — and the engine rewinds that row's KV cache.

Example:
    >>> from lethe.decoders.params import SamplingParams
    >>> class Bytes:
    ...     def decode(self, ids, skip_special_tokens=True):
    ...         return bytes(ids).decode("utf-8", errors="replace")
    >>> seq = Sequence(0, [72], SamplingParams(max_tokens=2, stop=("!",)), Bytes(), frozenset())
    >>> seq.append(ord("i")).text, seq.append(ord("!")).finish_reason
    ('i', 'stop')
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

import torch

from lethe.decoders.detokenizer import Decoder, IncrementalDetokenizer
from lethe.decoders.holdback import find_first, held_suffix
from lethe.decoders.output import FinishReason
from lethe.decoders.params import SamplingParams
from lethe.decoders.processors import LogitsProcessor, TextMonitor


@dataclass(frozen=True, slots=True)
class Step:
    """What one appended token produced.

    ``text`` is safe to emit; ``notes`` are the notes (see :meth:`Sequence.append`) of the
    tokens whose text is now all emitted; ``finish_reason`` is set when the choice ended;
    ``rewind`` > 0 means the last ``rewind`` tokens were taken back (the engine must rewind
    the KV cache).
    """

    text: str
    finish_reason: FinishReason | None
    rewind: int = 0
    notes: tuple[Any, ...] = ()


class Sequence:
    """One choice: prompt, generated tokens and text, and its per-choice sampling state."""

    def __init__(
        self,
        index: int,
        prompt_ids: Seq[int],
        params: SamplingParams,
        decoder: Decoder,
        eos_token_ids: frozenset[int],
        *,
        max_new_tokens: int | None = None,
        processors: Seq[LogitsProcessor] = (),
    ) -> None:
        self.index = index
        self.params = params
        self.processors = list(processors)
        self.monitors: list[TextMonitor] = [p for p in processors if _is_monitor(p)]
        self.max_new_tokens = max_new_tokens or params.max_tokens or 1
        self.finish_reason: FinishReason | None = None
        self._prompt_ids = tuple(prompt_ids)
        self._output_ids: list[int] = []
        self._ends: list[int] = []  # text length after each output token
        self._notes: list[Any] = []  # one per output token, released with its text
        self._released = 0  # tokens whose text (and note) went out
        self._text = ""
        self._emitted = 0
        self._eos = frozenset() if params.ignore_eos else eos_token_ids
        self._decoder = decoder
        self._detok = IncrementalDetokenizer(decoder, self._prompt_ids)
        self._longest_stop = max((len(s) for s in params.stop), default=0)
        self.generator = _generator(params.seed, index) if not params.greedy else None
        self.bias = _bias(params)
        self.counts: torch.Tensor | None = None

    @property
    def prompt_ids(self) -> Seq[int]:
        """Token ids of the prompt."""
        return self._prompt_ids

    @property
    def output_ids(self) -> Seq[int]:
        """Token ids generated so far (EOS included when it ended the choice)."""
        return self._output_ids

    @property
    def text(self) -> str:
        """All text decoded so far, including text not emitted yet."""
        return self._text

    @property
    def eos_token_ids(self) -> frozenset[int]:
        """Tokens that end this choice (empty with ``ignore_eos``)."""
        return self._eos

    @property
    def finished(self) -> bool:
        """True once the choice has a finish reason."""
        return self.finish_reason is not None

    @property
    def needs_penalties(self) -> bool:
        """True when presence or frequency penalties apply."""
        return bool(self.params.presence_penalty or self.params.frequency_penalty)

    @property
    def last_input_id(self) -> int:
        """The token the next forward pass must be fed (last output, or last prompt token)."""
        return self._output_ids[-1] if self._output_ids else self._prompt_ids[-1]

    def append(self, token_id: int, note: Any = None) -> Step:
        """Add a sampled token; return what it releases, ends or takes back.

        ``note`` (its log-probability, say) travels with the token: it comes back in
        ``Step.notes`` once the token's text is emitted, and is dropped if the token is
        rolled back.
        """
        self._output_ids.append(token_id)
        self._notes.append(note)
        if self.counts is not None:
            self.counts[token_id] += 1
        is_eos = token_id in self._eos
        if not is_eos:
            self._text += self._detok.add(token_id)
        self._ends.append(len(self._text))
        final = is_eos or len(self._output_ids) >= self.max_new_tokens
        for monitor in self.monitors:
            start = monitor.violation(self._text, self._emitted, final=final)
            if start is not None:
                return self._rollback(monitor, start)
        if is_eos:
            return self._finish("stop", len(self._text))
        cut = find_first(self._text, self.params.stop, max(0, self._emitted - self._longest_stop))
        if cut is not None:
            return self._finish("stop", cut)
        if final:
            return self._finish("length", len(self._text))
        return self._release(self._safe_end())

    def _safe_end(self) -> int:
        """How far the text may be emitted: before any possible stop or forbidden string."""
        end = len(self._text) - held_suffix(self._text, self.params.stop, self._longest_stop)
        for monitor in self.monitors:
            held = monitor.hold(self._text)
            if held:
                end = min(end, self._token_floor(len(self._text) - held))
        return max(end, self._emitted)

    def _token_floor(self, offset: int) -> int:
        """The start of the token that contains character ``offset`` (a rollback point)."""
        i = bisect.bisect_right(self._ends, offset)
        return self._ends[i - 1] if i > 0 else 0

    def _release(self, end: int, finish: FinishReason | None = None) -> Step:
        """Emit the text up to ``end`` and the notes of the tokens it completes."""
        text = self._text[self._emitted : end]
        self._emitted = end
        if finish is not None:
            released = len(self._output_ids)
        else:
            released = bisect.bisect_right(self._ends, end)
            while released > self._released and _width(self._ends, released - 1) == 0:
                released -= 1  # a token carrying part of a character waits for the rest
        notes = tuple(n for n in self._notes[self._released : released] if n is not None)
        self._released = max(self._released, released)
        return Step(text, finish, notes=notes)

    def _finish(self, reason: FinishReason, end: int) -> Step:
        self.finish_reason = reason
        return self._release(end, reason)

    def _rollback(self, monitor: TextMonitor, start: int) -> Step:
        """Cut back to the first token of the match at ``start`` and ban it there."""
        if monitor.rollbacks >= monitor.max_rollbacks:
            return self._refuse(monitor)
        index = bisect.bisect_right(self._ends, start)
        while index > 0 and _width(self._ends, index - 1) == 0:
            index -= 1  # include tokens that only carried part of the first character
        banned = self._output_ids[index]
        removed = len(self._output_ids) - index
        assert index >= self._released, "rolled back a token whose text was emitted"
        del self._output_ids[index:]
        del self._ends[index:]
        del self._notes[index:]
        self._text = self._text[: self._ends[-1] if self._ends else 0]
        assert len(self._text) >= self._emitted, "rolled back into emitted text"
        self._detok.restart([*self._prompt_ids, *self._output_ids])
        if self.counts is not None:
            self.counts.zero_()
            for t in self._output_ids:
                self.counts[t] += 1
        for other in self.monitors:
            other.on_rollback(index, banned if other is monitor else None)
        return Step("", None, rewind=removed)

    def _refuse(self, monitor: TextMonitor) -> Step:
        """Too many rollbacks: end with the refusal (or where it stands, if text went out)."""
        self.finish_reason = "stop"
        self._text = self._text[: self._emitted]
        del self._notes[self._released :]
        if self._emitted == 0:
            self._text = monitor.refusal
        return self._release(len(self._text), "stop")


def _is_monitor(processor: object) -> bool:
    return all(hasattr(processor, a) for a in ("violation", "hold", "on_rollback"))


def _width(ends: list[int], i: int) -> int:
    return ends[i] - (ends[i - 1] if i > 0 else 0)


def _generator(seed: int | None, index: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(random.getrandbits(63) if seed is None else hash((seed, index)) & (2**63 - 1))
    return g


def _bias(params: SamplingParams) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not params.logit_bias:
        return None
    ids = torch.tensor(list(params.logit_bias.keys()), dtype=torch.long)
    values = torch.tensor(list(params.logit_bias.values()), dtype=torch.float32)
    return ids, values
