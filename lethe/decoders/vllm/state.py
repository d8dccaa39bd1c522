"""Per-row Lethe state for vLLM's persistent batch, in pure torch (no vLLM import).

vLLM's V1 model runner keeps running requests in a *persistent batch*: row ``i`` of the logits
tensor is whatever request sits at index ``i``. Between steps it tells each batch-level logits
processor how the batch changed (a ``BatchUpdate``: removed indices, then added requests, then
moves and swaps, in that order). :class:`BatchBans` follows those changes for the rows whose
request carries Lethe data (``extra_args.py``) and, at each step, sets to ``-inf`` the logits of
exactly the tokens that :class:`~lethe.decoders.token_bans.PrefixBans` says would complete a
forbidden string after that row's text so far. ``processor.py`` is the thin vLLM adapter around
it; the tests drive it with synthetic batch updates.

Text per row: an added request brings a *reference* to its output token ids, which vLLM
extends in place each step. Only a tail of them is decoded, the fewest tokens whose text is
longer than the bans' window (the longest forbidden string plus one character, plus a small
margin for a damaged first character), so a step costs the same at token 10 and token 10,000.
A trailing partial UTF-8 character is left out, as the ``hf`` engine's text is. Ids below zero
(vLLM's placeholders for tokens still on the GPU under async scheduling) are skipped: the
processor asks vLLM for real ids, so they are not expected.

A batch with no guarded row returns the logits untouched at once: unguarded requests pay
nothing.

Example:
    >>> from lethe.decoders.token_bans import ListVocabulary
    >>> from lethe.decoders.vllm.extra_args import LetheData
    >>> vocab = ListVocabulary(["<eos>", " Par", "is", " the", " saw"])
    >>> bans = BatchBans(vocab, lambda ids: "".join(vocab.token_texts()[i] for i in ids))
    >>> output = [4, 1]                     # " saw Par", a list vLLM extends in place
    >>> bans.add(0, LetheData(("Paris",)), None, output)
    >>> bans.add(1, None, None, [4, 1])     # a request without Lethe data
    >>> bans.apply(torch.zeros(2, 5)).tolist()
    [[0.0, 0.0, -inf, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from lethe.decoders.token_bans import PrefixBans, Vocabulary, VocabularyIndex
from lethe.decoders.vllm.extra_args import LetheData, from_extra_args

Detokenize = Callable[[list[int]], str]
"""Token ids to text, special tokens skipped (e.g. a ``tokenizers.Tokenizer``'s ``decode``)."""

TAIL_MARGIN = 4
"""Characters decoded beyond the bans' window: a tail's first token may decode damaged (a
split character, a SentencePiece space dropped), and it must never reach the window."""
_REPLACEMENT = "\ufffd"


@dataclass(slots=True)
class _Row:
    """One guarded request: its bans and a live view of its output ids."""

    bans: PrefixBans
    output_ids: Sequence[int]
    tail: int = 0  # output tokens decoded last time (the search for enough text starts there)


def detokenizer_of(tokenizer: Any) -> Detokenize:
    """A transformers tokenizer's decoding, special tokens skipped: its Rust ``tokenizers``
    backend when it has one (faster, and free of the wrapper's clean-up of spaces)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return lambda ids: backend.decode(ids, skip_special_tokens=True)
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=True)


class BatchBans:
    """Prefix bans for every guarded row of a persistent batch (see the module docstring)."""

    def __init__(self, vocabulary: Vocabulary, detokenize: Detokenize) -> None:
        self._index = VocabularyIndex.of(vocabulary)
        self._detokenize = detokenize
        self._rows: dict[int, _Row] = {}

    def __len__(self) -> int:
        """Guarded rows in the batch."""
        return len(self._rows)

    def __contains__(self, index: object) -> bool:
        """True when the request at ``index`` carries Lethe data."""
        return index in self._rows

    # -- batch changes ------------------------------------------------------------------------

    def add(
        self,
        index: int,
        data: LetheData | None,
        prompt_ids: Sequence[int] | None,
        output_ids: Sequence[int],
    ) -> None:
        """A request joins at ``index`` (replacing whatever was there); ``output_ids`` is the
        list vLLM keeps extending. Without data (or with nothing forbidden) the row is free.
        ``prompt_ids`` are not needed: the bans read the output's text, which starts at a word
        boundary (as in the ``hf`` engine)."""
        if data is None or not data.forbidden:
            self._rows.pop(index, None)
            return
        bans = PrefixBans(data.forbidden, self._index)
        self._rows[index] = _Row(bans, output_ids)

    def remove(self, index: int) -> None:
        """The request at ``index`` left the batch (finished, aborted or preempted)."""
        self._rows.pop(index, None)

    def move(self, src: int, dst: int, *, swap: bool) -> None:
        """``swap``: the requests at ``src`` and ``dst`` trade places. Otherwise the request at
        ``src`` moves to ``dst`` (replacing whatever was there) and ``src`` is left empty."""
        moving = self._rows.pop(src, None)
        if swap:
            other = self._rows.pop(dst, None)
            if other is not None:
                self._rows[src] = other
        else:
            self._rows.pop(dst, None)
        if moving is not None:
            self._rows[dst] = moving

    def update(self, batch_update: Any | None) -> None:
        """Apply a vLLM ``BatchUpdate`` (or anything shaped like one): removals, then additions
        (``(index, params, prompt_ids, output_ids)``; vLLM releases before the prompt was
        passed send ``(index, params, output_ids)``), then moves ``(src, dst, direction)``.
        Each request's data is read from ``params.extra_args``; None means no change."""
        if batch_update is None:
            return
        for index in batch_update.removed:
            self.remove(index)
        for added in batch_update.added:
            index, params, output_ids = added[0], added[1], added[-1]
            prompt_ids = added[2] if len(added) == 4 else None
            data = from_extra_args(getattr(params, "extra_args", None))
            self.add(index, data, prompt_ids, output_ids)
        for src, dst, direction in batch_update.moved:
            self.move(src, dst, swap=getattr(direction, "name", direction) == "SWAP")

    # -- one step -----------------------------------------------------------------------------

    def banned(self, index: int) -> set[int]:
        """The token ids banned for the row at ``index`` now (empty for a free row)."""
        row = self._rows.get(index)
        if row is None:
            return set()
        return row.bans.banned(self._text(row))

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        """Set each guarded row's banned logits to ``-inf`` (in place); ``logits`` is
        ``(batch, vocab)``. Ids the model's output does not have are ignored."""
        if not self._rows:
            return logits
        size, width = logits.shape
        rows: list[int] = []
        cols: list[int] = []
        for index in self._rows:
            if index >= size:
                continue
            ids = [t for t in self.banned(index) if t < width]
            rows += [index] * len(ids)
            cols += ids
        if cols:
            at = (
                torch.tensor(rows, dtype=torch.long, device=logits.device),
                torch.tensor(cols, dtype=torch.long, device=logits.device),
            )
            logits.index_put_(
                at, torch.tensor(float("-inf"), dtype=logits.dtype, device=logits.device)
            )
        return logits

    def _text(self, row: _Row) -> str:
        """The row's text so far, at least its last ``window + TAIL_MARGIN`` characters."""
        ids = row.output_ids
        count = len(ids)
        need = row.bans.window + TAIL_MARGIN
        take = min(count, max(row.tail, need))
        while True:
            text = self._detokenize([t for t in ids[count - take : count] if t >= 0])
            if take == count or len(text) > need:
                break
            take = min(count, 2 * take)
        row.tail = take
        return text.rstrip(_REPLACEMENT)
