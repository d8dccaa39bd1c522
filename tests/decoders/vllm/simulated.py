"""A stand-in for vLLM's ``AsyncLLM`` behind the ``vllm`` engine, for CPU tests.

It decodes greedily from random logits that favour the tokens of " Paris" and, like vLLM's V1
model runner, keeps one persistent batch for all running requests: a request's choices join
at the lowest free rows, leave when they finish, and every step the batch's Lethe processor
(:class:`BatchBans`, the same class the vLLM adapter wraps) sees the batch changes and masks the
logits of all rows at once. It streams ``RequestOutput``-shaped deltas, with log-probabilities
of the processed logits when asked for.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import torch

from lethe.decoders.token_bans import TokenizerVocabulary
from lethe.decoders.vllm.state import BatchBans, detokenizer_of

SWAP = SimpleNamespace(name="SWAP")


@dataclass(frozen=True)
class Update:
    batch_size: int
    removed: tuple[int, ...] = ()
    added: tuple[tuple[Any, ...], ...] = ()
    moved: tuple[tuple[int, int, Any], ...] = ()


@dataclass
class Row:
    request_id: str
    index: int  # the choice
    output: list[int] = field(default_factory=list)


class SimulatedVLLM:
    """Implements the engine's ``Backend`` protocol (see the module docstring)."""

    def __init__(self, tokenizer: Any, max_model_len: int = 256, favoured: list[int] | None = None):
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        self.decode = detokenizer_of(tokenizer)
        self.bans = BatchBans(TokenizerVocabulary(tokenizer), self.decode)
        self.favoured = favoured if favoured is not None else tokenizer.encode(" Paris")
        self.rows: list[Row | None] = []
        self.calls: list[tuple[list[int], dict[str, Any], str]] = []
        self.closed: list[str] = []
        self.shut = False

    def shutdown(self) -> None:
        self.shut = True

    def _join(self, request_id: str, n: int, params: Any) -> list[Row]:
        added, joined = [], []
        for choice in range(n):
            row = Row(request_id, choice)
            slot = self.rows.index(None) if None in self.rows else len(self.rows)
            if slot == len(self.rows):
                self.rows.append(None)
            self.rows[slot] = row
            added.append((slot, params, [1, 2], row.output))
            joined.append(row)
        self.bans.update(Update(len(self.rows), added=tuple(added)))
        return joined

    def _leave(self, row: Row) -> None:
        slot = self.rows.index(row)
        self.rows[slot] = None
        moved = []
        last = max((i for i, r in enumerate(self.rows) if r is not None), default=-1)
        if slot < last:  # condense: the top row fills the hole
            self.rows[slot], self.rows[last] = self.rows[last], None
            moved.append((last, slot, SimpleNamespace(name="UNIDIRECTIONAL")))
        while self.rows and self.rows[-1] is None:
            self.rows.pop()
        self.bans.update(Update(len(self.rows), removed=(slot,), moved=tuple(moved)))

    def _logits(self, row: Row) -> torch.Tensor:
        key = f"{row.request_id}/{row.index}/{len(row.output)}".encode()
        gen = torch.Generator().manual_seed(zlib.crc32(key))
        logits = torch.randn(len(self.tokenizer), generator=gen)
        logits[self.favoured] += 6.0
        logits[self.tokenizer.all_special_ids] = float("-inf")
        return logits

    async def generate(
        self, prompt_ids: list[int], sampling: dict[str, Any], request_id: str
    ) -> AsyncGenerator[Any, None]:
        self.calls.append((prompt_ids, sampling, request_id))
        params = SimpleNamespace(extra_args=sampling.get("extra_args"))
        mine = self._join(request_id, sampling["n"], params)
        try:
            while mine:
                await asyncio.sleep(0)  # other requests step too
                live = [r for r in self.rows if r is not None]
                logits = self.bans.apply(torch.stack([self._logits(r) for r in live]))
                pieces = []
                for row in list(mine):
                    processed = logits[live.index(row)]
                    token = int(torch.argmax(processed))
                    before = self.decode(row.output)
                    row.output.append(token)
                    done = len(row.output) >= sampling["max_tokens"]
                    pieces.append(
                        SimpleNamespace(
                            index=row.index,
                            text=self.decode(row.output)[len(before) :],
                            token_ids=[token],
                            logprobs=self._logprobs(processed, token, sampling["logprobs"]),
                            finish_reason="length" if done else None,
                        )
                    )
                    if done:
                        mine.remove(row)
                        self._leave(row)
                yield SimpleNamespace(outputs=pieces)  # vLLM's deltas need not repeat the prompt
        finally:
            for row in mine:
                self._leave(row)
            self.closed.append(request_id)

    def _logprobs(self, logits: torch.Tensor, token: int, k: int | None) -> Any:
        if k is None:
            return None
        logprobs = torch.log_softmax(logits, dim=-1)
        order = torch.argsort(logprobs, descending=True).tolist()
        ranks = {t: r + 1 for r, t in enumerate(order)}
        wanted = [token, *order[:k]]
        return [
            {
                t: SimpleNamespace(
                    logprob=float(logprobs[t]), rank=ranks[t], decoded_token=self.decode([t])
                )
                for t in wanted
            }
        ]
