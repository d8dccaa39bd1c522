"""The ``hf`` engine's worker: continuous batching on one thread.

All running choices are decoded together, one token per step, in one forward pass. Between
steps, waiting requests join (their prompt is prefilled on its own, then its KV rows are merged
into the batch) and finished or cancelled ones leave. On these machines a decode step costs
less per row the more rows it has, so batching is the main throughput lever.

A choice whose processors include a :class:`~lethe.decoders.processors.Companion`
(contrastive decoding's assistant) gets one more row per companion (``rows.py``): in the
served model's own batch when the assistant is the served model — its passes then ride in the
main forward pass — and otherwise in a side batch of the assistant's, which runs one forward
pass per step for all its rows. Prefilled with the companion's prefix and the prompt, fed the
choice's token every step, rewound and dropped with it, a companion row's logits are handed to
its processor before the choice picks. Companion rows do not count against ``max_batch_size``.

The worker owns the models; nothing else calls them. The asyncio side only submits jobs, reads
their queues and cancels them.

Example:
    >>> scheduler = Scheduler(loaded, max_batch_size=8, max_waiting=64)  # doctest: +SKIP
    >>> scheduler.start(); scheduler.submit(job)                         # doctest: +SKIP
"""

from __future__ import annotations

import collections
import logging
import threading

import torch

from lethe.decoders.engine import EngineStats
from lethe.decoders.hf.job import Job, step_output, token_note
from lethe.decoders.hf.kv_cache import BatchKV
from lethe.decoders.hf.loader import LoadedModel
from lethe.decoders.hf.rows import RowBatch
from lethe.decoders.output import GenerationOutput
from lethe.decoders.processors import Companion, is_companion
from lethe.decoders.sampler import Pick, pick_tokens
from lethe.decoders.sequence import Sequence, Step
from lethe.decoders.token_text import TokenText
from lethe.errors import EngineError, Overloaded, Unavailable

logger = logging.getLogger(__name__)


class Scheduler:
    """Admits jobs, runs the batched decoding loop on a worker thread, posts outputs."""

    def __init__(
        self, loaded: LoadedModel, *, max_batch_size: int, max_waiting: int, threads: int = 1
    ) -> None:
        self._threads = threads
        self._model = loaded.model
        self._device = loaded.device
        self._decoder = loaded.tokenizer.backend_tokenizer
        self._eos = loaded.eos_token_ids
        self._fallback_eos = min(loaded.eos_token_ids) if loaded.eos_token_ids else 0
        self._token_text = TokenText(self._decoder)
        self._max_batch = max_batch_size
        self._max_waiting = max_waiting
        self._waiting: collections.deque[Job] = collections.deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._batch = RowBatch(loaded.model, self._device)
        self._sides: dict[int, RowBatch] = {}  # id(assistant model) -> its companion rows

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="lethe-hf-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker; waiting and running jobs get :class:`Unavailable`."""
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def submit(self, job: Job) -> None:
        """Queue a job, or raise :class:`Overloaded` when the waiting queue is full.

        A job that fits the running batch at once is never refused: only jobs that would have
        to wait count against ``max_waiting``.
        """
        with self._wake:
            if self._stopping:
                raise Unavailable("the engine is shutting down")
            running = self._batch.choices()
            free = self._max_batch - running - sum(j.n for j in self._waiting)
            if job.n > free and len(self._waiting) >= self._max_waiting:
                raise Overloaded(
                    f"the server is at capacity ({self._max_waiting} requests waiting); "
                    "retry shortly"
                )
            self._waiting.append(job)
            self._wake.notify()

    def stats(self) -> EngineStats:
        """Running jobs, waiting jobs and the waiting-queue bound."""
        with self._wake:
            running = len({id(j) for j in self._batch.jobs})
            return EngineStats(running, len(self._waiting), self._max_waiting)

    def _run(self) -> None:
        torch.set_num_threads(self._threads)  # per calling thread (OpenMP): set it here
        with torch.inference_mode():
            while True:
                admitted = self._next_jobs()
                if admitted is None:
                    break
                for job in admitted:
                    self._admit(job)
                if len(self._batch):
                    self._step_safely()
        self._fail_everything(Unavailable("the engine is shutting down"))

    def _next_jobs(self) -> list[Job] | None:
        """Jobs that fit the batch now; blocks while idle. None when stopping."""
        with self._wake:
            while not self._stopping and not len(self._batch) and not self._waiting:
                self._wake.wait()
            if self._stopping:
                return None
            jobs: list[Job] = []
            free = self._max_batch - self._batch.choices()
            while self._waiting and (self._waiting[0].n <= free or self._waiting[0].cancelled):
                job = self._waiting.popleft()
                if not job.cancelled:
                    jobs.append(job)
                    free -= job.n
            return jobs

    def _admit(self, job: Job) -> None:
        """Prefill the job's prompt (and its companions' prefixes), pick each choice's first
        token, merge live rows."""
        try:
            kv, logits = self._batch.prefill(job.prompt_ids)
            job.sequences = [self._sequence(job, i) for i in range(job.n)]
            companions, companion_kvs = self._prefill_companions(job)
            if job.n > 1:
                _repeat_rows(kv, job.n)
            picks = pick_tokens(
                logits.repeat(job.n, 1), job.sequences, eos_token_id=self._fallback_eos
            )
        except Exception as exc:  # a failing request must not take the engine down
            logger.exception("event=prefill_failed request_id=%s", job.turn.request_id)
            job.fail(EngineError(f"generation failed: {type(exc).__name__}"))
            return
        steps = self._advance(job, job.sequences, picks)
        keep = [i for i, seq in enumerate(job.sequences) if not seq.finished]
        if not keep:
            return
        self._batch.join(kv, job, keep, steps, [None] * job.n)
        for j, companion_kv in enumerate(companion_kvs):
            column = [own[j] for own in companions]
            self._batch_of(column[0]).join(companion_kv, job, keep, steps, column)

    def _prefill_companions(self, job: Job) -> tuple[list[list[Companion]], list[BatchKV]]:
        """Each choice's companions, and one KV batch per companion with a row per choice,
        its prefill logits fed. Every choice of a job has the same processors, so each
        companion's prefix is prefilled once."""
        companions = [[p for p in seq.processors if is_companion(p)] for seq in job.sequences]
        kvs: list[BatchKV] = []
        for j, first in enumerate(companions[0]):
            batch = self._batch_of(first)
            kv, logits = batch.prefill([*first.companion_prefix, *job.prompt_ids])
            for own in companions:
                own[j].feed(logits[0])
            if job.n > 1:
                _repeat_rows(kv, job.n)
            kvs.append(kv)
        return companions, kvs

    def _batch_of(self, companion: Companion) -> RowBatch:
        """The batch a companion's rows go in: the served model's, or its assistant's own."""
        model = companion.assistant_model
        if model is self._model:
            return self._batch
        if id(model) not in self._sides:
            self._sides[id(model)] = RowBatch(model, self._device)
        return self._sides[id(model)]

    def _sequence(self, job: Job, index: int) -> Sequence:
        return Sequence(
            index,
            job.prompt_ids,
            job.turn.params,
            self._decoder,
            self._eos,
            max_new_tokens=job.max_new_tokens,
            processors=[factory() for factory in job.processors],
        )

    def _step_safely(self) -> None:
        try:
            self._step()
        except Exception as exc:
            logger.exception("event=decode_step_failed rows=%d", len(self._batch))
            self._fail_running(EngineError(f"generation failed: {type(exc).__name__}"))

    def _step(self) -> None:
        """One decoding step for every running row, then drop finished and cancelled rows."""
        self._drop_rows()
        if not len(self._batch):
            return
        logits = self._batch.forward()
        choices = self._batch.feed_companions(logits)
        for side in self._sides.values():
            side.feed_companions(side.forward())
        seqs = self._batch.seqs
        picks = pick_tokens(
            logits if len(choices) == len(seqs) else logits[choices],
            [seqs[r] for r in choices],
            eos_token_id=self._fallback_eos,
        )
        by_job: dict[int, list[int]] = {}
        for i, row in enumerate(choices):
            by_job.setdefault(id(self._batch.jobs[row]), []).append(i)
        for picked in by_job.values():
            job = self._batch.jobs[choices[picked[0]]]
            mine = [seqs[choices[i]] for i in picked]
            steps = self._advance(job, mine, [picks[i] for i in picked])
            for seq, step in zip(mine, steps, strict=True):
                if step.rewind:
                    for batch in self._batches():
                        batch.rewind(seq, step.rewind)
        for batch in self._batches():
            batch.refresh()
        self._drop_rows()

    def _batches(self) -> list[RowBatch]:
        return [self._batch, *self._sides.values()]

    def _advance(self, job: Job, seqs: list[Sequence], picks: list[Pick]) -> list[Step]:
        """Append each pick to its sequence and post the job's outputs; return the steps.

        A step with ``rewind`` took tokens back: the caller rewinds that row's cache.
        """
        outputs: list[GenerationOutput] = []
        steps = [
            seq.append(pick.token_id, token_note(seq, pick, self._token_text))
            for seq, pick in zip(seqs, picks, strict=True)
        ]
        usage = job.usage()
        for seq, step in zip(seqs, steps, strict=True):
            output = step_output(seq, step, usage)
            if output is not None:
                outputs.append(output)
        job.post(outputs)
        return steps

    def _drop_rows(self) -> None:
        for batch in self._batches():
            batch.drop()
        self._sides = {key: side for key, side in self._sides.items() if len(side)}

    def _fail_running(self, error: BaseException) -> None:
        for job in {id(j): j for j in self._batch.jobs}.values():
            job.fail(error)
        self._batch.clear()
        self._sides = {}

    def _fail_everything(self, error: BaseException) -> None:
        self._fail_running(error)
        with self._wake:
            waiting, self._waiting = list(self._waiting), collections.deque()
        for job in waiting:
            job.fail(error)


def _repeat_rows(kv: BatchKV, times: int) -> None:
    for layer in kv.layers():
        layer.batch_repeat_interleave(times)
    kv.mask = kv.mask.repeat_interleave(times, dim=0)
    kv.positions = kv.positions.repeat_interleave(times, dim=0)
