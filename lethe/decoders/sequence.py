"""The state of one choice being decoded: tokens, text, stop strings, sampling state.

A :class:`Sequence` is what logits processors see (it implements ``SequenceView``) and what the
engine's loop advances one token at a time. It owns everything per-choice: its random generator
(seeded from the request's ``seed`` and the choice index, so the same request gives the same
output), its processors, its stop-string window and its incremental detokeniser.

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

import random
from collections.abc import Sequence as Seq
from dataclasses import dataclass

import torch

from lethe.decoders.detokenizer import Decoder, IncrementalDetokenizer
from lethe.decoders.output import FinishReason
from lethe.decoders.params import SamplingParams
from lethe.decoders.processors import LogitsProcessor
from lethe.decoders.stops import StopStrings


@dataclass(frozen=True, slots=True)
class Step:
    """What one appended token produced: text safe to emit and whether the choice ended."""

    text: str
    finish_reason: FinishReason | None


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
        self.max_new_tokens = max_new_tokens or params.max_tokens or 1
        self.finish_reason: FinishReason | None = None
        self._prompt_ids = tuple(prompt_ids)
        self._output_ids: list[int] = []
        self._text: list[str] = []
        self._eos = frozenset() if params.ignore_eos else eos_token_ids
        self._detok = IncrementalDetokenizer(decoder, self._prompt_ids)
        self._stops = StopStrings(params.stop)
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
        """All text decoded so far, including text held back for stop strings."""
        return "".join(self._text)

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

    def append(self, token_id: int) -> Step:
        """Add a sampled token; return the text it releases and the finish reason, if any."""
        self._output_ids.append(token_id)
        if self.counts is not None:
            self.counts[token_id] += 1
        if token_id in self._eos:
            return self._finish("stop", self._stops.flush())
        piece = self._detok.add(token_id)
        self._text.append(piece)
        emit, stopped = self._stops.feed(piece)
        if stopped:
            return self._finish("stop", emit)
        if len(self._output_ids) >= self.max_new_tokens:
            return self._finish("length", emit + self._stops.flush())
        return Step(emit, None)

    def _finish(self, reason: FinishReason, text: str) -> Step:
        self.finish_reason = reason
        return Step(text, reason)


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
