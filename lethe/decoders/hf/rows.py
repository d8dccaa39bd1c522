"""Rows one model decodes together: a batched KV cache and, per row, what the row serves.

The ``hf`` engine's running batch is a :class:`RowBatch` over the served model. A row is either
a choice's own row or a *companion* row: a processor that needs some model's logits after its
own prefix (contrastive decoding's assistant, a
:class:`~lethe.decoders.processors.Companion`) gets a row in the batch of that model — the
served model's own batch when the assistant is the served model, otherwise a side batch for the
assistant. Every row of a choice is fed the choice's last token each step, rewound with it after
a rollback and dropped with it, so each model runs one forward pass per step for all its rows.

Example:
    >>> batch = RowBatch(model, torch.device("cpu"))          # doctest: +SKIP
    >>> batch.join(kv, job, keep=[0], steps=steps, companions=[None])  # doctest: +SKIP
    >>> logits = batch.forward()                              # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import torch

from lethe.decoders.hf.job import Job
from lethe.decoders.hf.kv_cache import BatchKV, new_cache
from lethe.decoders.processors import Companion
from lethe.decoders.sequence import Sequence, Step


class RowBatch:
    """One model's rows: its :class:`BatchKV`, and per row the choice it serves, the choice's
    job, the token to feed next and the companion it feeds (None: the choice's own row)."""

    def __init__(self, model: Any, device: torch.device) -> None:
        self.model = model
        self.device = device
        self.kv = BatchKV.empty(device)
        self.seqs: list[Sequence] = []
        self.jobs: list[Job] = []
        self.last: list[int] = []
        self.companions: list[Companion | None] = []

    def __len__(self) -> int:
        return len(self.seqs)

    def choices(self) -> int:
        """Unfinished choices' own rows. Safe to call from another thread while a step runs
        (a choice that finished in the step no longer counts, though its row stays until
        :meth:`drop`)."""
        seqs, companions = self.seqs, self.companions
        return sum(c is None and not s.finished for s, c in zip(seqs, companions, strict=False))

    def prefill(self, prompt_ids: list[int]) -> tuple[BatchKV, torch.Tensor]:
        """Run ``prompt_ids`` alone through the model: its one-row KV and last logits."""
        length = len(prompt_ids)
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.device)
        mask = torch.ones((1, length), dtype=torch.long, device=self.device)
        cache = new_cache()
        out = self.model(
            input_ids=ids,
            position_ids=torch.arange(length, device=self.device)[None],
            attention_mask=mask,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        kv = BatchKV(cache, mask, torch.tensor([length], device=self.device))
        return kv, out.logits[:, -1, :].float()

    def join(
        self,
        kv: BatchKV,
        job: Job,
        keep: list[int],
        steps: list[Step],
        companions: list[Companion | None],
    ) -> None:
        """Merge the rows ``keep`` of ``kv`` (a row per choice of ``job``) into this batch;
        ``companions[i]`` is what choice ``i``'s row feeds, ``steps[i]`` its first step."""
        kv.select(keep)
        first_row = self.kv.batch_size
        self.kv.merge(kv)
        for row, i in enumerate(keep, start=first_row):
            self.seqs.append(job.sequences[i])
            self.jobs.append(job)
            self.last.append(job.sequences[i].last_input_id)
            self.companions.append(companions[i])
            if steps[i].rewind:
                self.kv.rewind(row, steps[i].rewind)

    def forward(self) -> torch.Tensor:
        """One step for every row: the next-token logits, float32, ``(rows, vocab)``."""
        mask = self.kv.append_column()
        out = self.model(
            input_ids=torch.tensor(self.last, dtype=torch.long, device=self.device)[:, None],
            position_ids=self.kv.positions[:, None],
            attention_mask=mask,
            cache=self.kv.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.kv.positions += 1
        return out.logits[:, -1, :].float()

    def feed_companions(self, logits: torch.Tensor) -> list[int]:
        """Hand each companion row's logits to its processor; return the choices' own rows."""
        own: list[int] = []
        for row, companion in enumerate(self.companions):
            if companion is None:
                own.append(row)
            else:
                companion.feed(logits[row])
        return own

    def rewind(self, seq: Sequence, tokens: int) -> None:
        """Rewind every row serving ``seq`` by ``tokens`` cache entries."""
        for row, owner in enumerate(self.seqs):
            if owner is seq:
                self.kv.rewind(row, tokens)

    def refresh(self) -> None:
        """Set each row's next input to its choice's last token (after the choices moved)."""
        self.last = [seq.last_input_id for seq in self.seqs]

    def drop(self) -> None:
        """Drop the rows of finished choices and cancelled jobs."""
        keep = [
            i
            for i, (seq, job) in enumerate(zip(self.seqs, self.jobs, strict=True))
            if not seq.finished and not job.cancelled
        ]
        if len(keep) == len(self.seqs):
            return
        self.kv.select(keep)
        self.seqs = [self.seqs[i] for i in keep]
        self.jobs = [self.jobs[i] for i in keep]
        self.last = [self.last[i] for i in keep]
        self.companions = [self.companions[i] for i in keep]

    def clear(self) -> None:
        """Drop every row."""
        self.kv = BatchKV.empty(self.device)
        self.seqs, self.jobs, self.last, self.companions = [], [], [], []
