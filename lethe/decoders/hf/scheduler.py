"""The ``hf`` engine's worker: continuous batching on one thread.

All running choices are decoded together, one token per step, in one forward pass. Between
steps, waiting requests join (their prompt is prefilled on its own, then its KV rows are merged
into the batch) and finished or cancelled ones leave. On these machines a decode step costs about
the same for one or four sequences, so batching is the main throughput lever.

A choice whose processors include a :class:`~lethe.decoders.processors.Companion` over this
very model (contrastive decoding with the served model as its assistant) gets one more row per
companion: prefilled with the companion's prefix and the prompt, fed the choice's token every
step, rewound and dropped with it, its logits handed to the processor before the choice picks.
The assistant's passes thus ride in the main batch's forward pass instead of one extra pass per
choice per step. Companion rows do not count against ``max_batch_size``.

The worker owns the model; nothing else calls it. The asyncio side only submits jobs, reads their
queues and cancels them.

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
from lethe.decoders.hf.kv_cache import BatchKV, new_cache
from lethe.decoders.hf.loader import LoadedModel
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
        self._kv = BatchKV.empty(self._device)
        self._rows: list[Sequence] = []
        self._row_jobs: list[Job] = []
        self._last: list[int] = []
        self._companions: list[Companion | None] = []  # per row: None for a choice's own row

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
            running = self._choices()
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
            running = len({id(j) for j in self._row_jobs})
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
                if self._rows:
                    self._step_safely()
        self._fail_everything(Unavailable("the engine is shutting down"))

    def _next_jobs(self) -> list[Job] | None:
        """Jobs that fit the batch now; blocks while idle. None when stopping."""
        with self._wake:
            while not self._stopping and not self._rows and not self._waiting:
                self._wake.wait()
            if self._stopping:
                return None
            jobs: list[Job] = []
            free = self._max_batch - self._choices()
            while self._waiting and (self._waiting[0].n <= free or self._waiting[0].cancelled):
                job = self._waiting.popleft()
                if not job.cancelled:
                    jobs.append(job)
                    free -= job.n
            return jobs

    def _choices(self) -> int:
        """Unfinished running choices (companion rows ride along and do not count against the
        batch). Also read by ``submit`` on another thread while a step runs: a choice that
        finished in this step no longer counts, though its row goes only after the step."""
        rows, companions = self._rows, self._companions
        return sum(c is None and not s.finished for s, c in zip(rows, companions, strict=False))

    def _admit(self, job: Job) -> None:
        """Prefill the job's prompt (and its companions' prefixes), pick each choice's first
        token, merge live rows."""
        try:
            kv, logits = self._prefill(job.prompt_ids)
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
        self._join(kv, job, keep, steps, [None] * job.n)
        for j, companion_kv in enumerate(companion_kvs):
            self._join(companion_kv, job, keep, steps, [c[j] for c in companions])

    def _prefill_companions(self, job: Job) -> tuple[list[list[Companion]], list[BatchKV]]:
        """Each choice's companions (processors needing this model after another prefix), and
        one KV batch per companion with a row per choice, its prefill logits fed.

        Every choice of a job has the same processors, so each prefix is prefilled once."""
        companions = [
            [p for p in seq.processors if is_companion(p, self._model)] for seq in job.sequences
        ]
        kvs: list[BatchKV] = []
        for j, first in enumerate(companions[0]):
            kv, logits = self._prefill([*first.companion_prefix, *job.prompt_ids])
            for own in companions:
                own[j].feed(logits[0])
            if job.n > 1:
                _repeat_rows(kv, job.n)
            kvs.append(kv)
        return companions, kvs

    def _join(
        self,
        kv: BatchKV,
        job: Job,
        keep: list[int],
        steps: list[Step],
        companions: list[Companion | None],
    ) -> None:
        """Merge the rows ``keep`` of ``kv`` (one per choice) into the running batch."""
        kv.select(keep)
        first_row = self._kv.batch_size
        self._kv.merge(kv)
        for row, i in enumerate(keep, start=first_row):
            self._rows.append(job.sequences[i])
            self._row_jobs.append(job)
            self._last.append(job.sequences[i].last_input_id)
            self._companions.append(companions[i])
            if steps[i].rewind:
                self._kv.rewind(row, steps[i].rewind)

    def _prefill(self, prompt_ids: list[int]) -> tuple[BatchKV, torch.Tensor]:
        length = len(prompt_ids)
        ids = torch.tensor([prompt_ids], dtype=torch.long, device=self._device)
        mask = torch.ones((1, length), dtype=torch.long, device=self._device)
        positions = torch.arange(length, device=self._device)[None]
        cache = new_cache()
        out = self._model(
            input_ids=ids,
            position_ids=positions,
            attention_mask=mask,
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        kv = BatchKV(cache, mask, torch.tensor([length], device=self._device))
        return kv, out.logits[:, -1, :].float()

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
            logger.exception("event=decode_step_failed rows=%d", len(self._rows))
            self._fail_running(EngineError(f"generation failed: {type(exc).__name__}"))

    def _step(self) -> None:
        """One decoding step for every running row, then drop finished and cancelled rows."""
        self._drop_rows()
        if not self._rows:
            return
        mask = self._kv.append_column()
        out = self._model(
            input_ids=torch.tensor(self._last, dtype=torch.long, device=self._device)[:, None],
            position_ids=self._kv.positions[:, None],
            attention_mask=mask,
            cache=self._kv.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self._kv.positions += 1
        logits = out.logits[:, -1, :].float()
        choices = self._feed_companions(logits)
        picks = pick_tokens(
            logits if len(choices) == len(self._rows) else logits[choices],
            [self._rows[r] for r in choices],
            eos_token_id=self._fallback_eos,
        )
        by_job: dict[int, list[int]] = {}
        for i, row in enumerate(choices):
            by_job.setdefault(id(self._row_jobs[row]), []).append(i)
        for picked in by_job.values():
            rows = [choices[i] for i in picked]
            job = self._row_jobs[rows[0]]
            steps = self._advance(job, [self._rows[r] for r in rows], [picks[i] for i in picked])
            for row, step in zip(rows, steps, strict=True):
                if step.rewind:
                    self._rewind(self._rows[row], step.rewind)
        for row, seq in enumerate(self._rows):
            self._last[row] = seq.last_input_id
        self._drop_rows()

    def _feed_companions(self, logits: torch.Tensor) -> list[int]:
        """Hand each companion row's logits to its processor; return the choices' own rows."""
        choices: list[int] = []
        for row, companion in enumerate(self._companions):
            if companion is None:
                choices.append(row)
            else:
                companion.feed(logits[row])
        return choices

    def _rewind(self, seq: Sequence, tokens: int) -> None:
        """Rewind every row serving ``seq`` (its own and its companions') by ``tokens``."""
        for row, owner in enumerate(self._rows):
            if owner is seq:
                self._kv.rewind(row, tokens)

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
        keep = [
            i
            for i, (seq, job) in enumerate(zip(self._rows, self._row_jobs, strict=True))
            if not seq.finished and not job.cancelled
        ]
        if len(keep) == len(self._rows):
            return
        self._kv.select(keep)
        self._rows = [self._rows[i] for i in keep]
        self._row_jobs = [self._row_jobs[i] for i in keep]
        self._last = [self._last[i] for i in keep]
        self._companions = [self._companions[i] for i in keep]

    def _fail_running(self, error: BaseException) -> None:
        for job in {id(j): j for j in self._row_jobs}.values():
            job.fail(error)
        self._kv = BatchKV.empty(self._device)
        self._rows, self._row_jobs, self._last, self._companions = [], [], [], []

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
