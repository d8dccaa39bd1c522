"""Pick the next token of every running sequence from the batch's logits.

Order per row, as in OpenAI's and vLLM's servers: logits processors, ``logit_bias``, presence and
frequency penalties — that is the *processed* distribution, from which ``logprobs`` are reported
(so a banned token never shows up) — then temperature, top-k, top-p and the draw. A greedy row
takes the arg-max. A row with nothing to do pays only for the arg-max or the draw.

Example:
    >>> import torch
    >>> from lethe.decoders.params import SamplingParams
    >>> class Bytes:
    ...     def decode(self, ids, skip_special_tokens=True):
    ...         return bytes(ids).decode("utf-8", errors="replace")
    >>> seq = Sequence(0, [1], SamplingParams(max_tokens=1, temperature=0), Bytes(), frozenset())
    >>> pick_tokens(torch.tensor([[0.1, 2.0, 0.3]]), [seq], eos_token_id=0)[0].token_id
    1
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass

import torch

from lethe.decoders.sequence import Sequence


@dataclass(frozen=True, slots=True)
class Pick:
    """The chosen token, and its log-probability and the top alternatives when asked for."""

    token_id: int
    logprob: float | None = None
    top: tuple[tuple[int, float], ...] = ()


def pick_tokens(logits: torch.Tensor, rows: Seq[Sequence], *, eos_token_id: int) -> list[Pick]:
    """One :class:`Pick` per row of ``logits`` (float32, shape ``(len(rows), vocab)``)."""
    return [_pick(logits[i], seq, eos_token_id) for i, seq in enumerate(rows)]


def _pick(logits: torch.Tensor, seq: Sequence, eos_token_id: int) -> Pick:
    logits = _process(logits, seq)
    if not bool(torch.isfinite(logits).any()):
        # Every token was masked: end the choice rather than emit a banned token.
        return Pick(eos_token_id, 0.0 if seq.params.logprobs else None)
    params = seq.params
    token_id = int(logits.argmax()) if params.greedy else _draw(logits, seq)
    if not params.logprobs:
        return Pick(token_id)
    logprobs = torch.log_softmax(logits, dim=-1)
    top: tuple[tuple[int, float], ...] = ()
    if params.top_logprobs:
        values, ids = torch.topk(logprobs, params.top_logprobs)
        top = tuple(zip(ids.tolist(), values.tolist(), strict=True))
    return Pick(token_id, float(logprobs[token_id]), top)


def _process(logits: torch.Tensor, seq: Sequence) -> torch.Tensor:
    for processor in seq.processors:
        logits = processor(seq, logits)
    if seq.bias is not None:
        ids, values = seq.bias
        logits = logits.index_add(0, ids, values)
        logits[ids[values <= -100.0]] = float("-inf")
    if seq.needs_penalties:
        if seq.counts is None:
            seq.counts = torch.zeros_like(logits)
            for token_id in seq.output_ids:
                seq.counts[token_id] += 1
        logits = logits - seq.counts * seq.params.frequency_penalty
        logits = logits - (seq.counts > 0).to(logits.dtype) * seq.params.presence_penalty
    return logits


def _draw(logits: torch.Tensor, seq: Sequence) -> int:
    params = seq.params
    scaled = logits / params.temperature
    if params.top_k and params.top_k < scaled.shape[-1]:
        kth = torch.topk(scaled, params.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    if params.top_p < 1.0:
        scaled = _top_p(scaled, params.top_p)
    probs = torch.softmax(scaled, dim=-1)
    return int(torch.multinomial(probs, 1, generator=seq.generator))


def _top_p(scaled: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probability reaches ``top_p``."""
    sorted_logits, order = torch.sort(scaled, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
    return scaled.masked_fill(drop, float("-inf"))
