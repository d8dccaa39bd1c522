"""Training the contrastive assistant from the admin API, as a background job with progress.

``POST /admin/assistants:train`` starts one job (409 while one runs; the request itself only
checks that the registry is not empty): a daemon thread reads every active target, trains the
engine's assistant on them (minutes on a CPU; it shares the CPU with serving) and makes the
result current. ``GET /admin/assistants`` reports the job (state, step, losses) and the
assistant in use. A job's failure is kept with its error message; the previous assistant stays
current.

Example:
    >>> job = trainer.start(store, TrainConfig(steps=120))   # doctest: +SKIP
    >>> trainer.job().state                                  # doctest: +SKIP
    'running'
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lethe.decoders.contrastive import Assistants
from lethe.errors import Conflict, InvalidRequest, UnsupportedFeature
from lethe.gateway.logs import kv
from lethe.indices import ForgetTarget, TargetStore

logger = logging.getLogger(__name__)

JobState = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One training job as the admin API reports it."""

    id: str
    state: JobState
    targets: int
    registry_version: int
    steps: int
    step: int = 0
    forget_loss: float | None = None
    retain_loss: float | None = None
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    run: str | None = None
    error: str | None = None


class AssistantTrainer:
    """At most one training job at a time over ``assistants`` (None: the engine has none)."""

    def __init__(self, assistants: Assistants | None) -> None:
        self._assistants = assistants
        self._lock = threading.Lock()
        self._job: JobStatus | None = None
        self._thread: threading.Thread | None = None

    def job(self) -> JobStatus | None:
        """The running or last job, if any."""
        return self._job

    def current(self) -> Any:
        """The assistant in use (its record), or None."""
        trained = self._assistants.trained() if self._assistants is not None else None
        return trained.meta if trained is not None else None

    def start(self, store: TargetStore, config: Any) -> JobStatus:
        """Start a job on every target of ``store`` (``Conflict`` while one runs)."""
        if self._assistants is None:
            raise UnsupportedFeature(
                "This engine has no assistant to train: contrastive decoding with a trained "
                "assistant needs the hf engine."
            )
        snapshot = store.snapshot  # the listing itself runs in the job's thread, not here
        with self._lock:
            if self._job is not None and self._job.state == "running":
                raise Conflict(f"training job {self._job.id} is still running")
            if len(snapshot) == 0:
                raise InvalidRequest("The registry holds no targets to train on.", code="empty")
            job = JobStatus(
                uuid.uuid4().hex[:12], "running", len(snapshot), snapshot.version, config.steps
            )
            self._job = job
            self._thread = threading.Thread(
                target=self._run, args=(job, store, config), name="lethe-train", daemon=True
            )
            self._thread.start()
        logger.info(kv("assistant_training_started", job=job.id, targets=job.targets))
        return job

    def join(self, timeout: float | None = None) -> None:
        """Wait for the running job (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, job: JobStatus, store: TargetStore, config: Any) -> None:
        assert self._assistants is not None

        def progress(step: int, steps: int, forget: float, retain: float) -> None:
            self._job = replace(
                self._job or job,
                step=step,
                forget_loss=round(forget, 4),
                retain_loss=round(retain, 4),
            )

        try:
            targets, version = read_all(store)
            job = self._job = replace(job, targets=len(targets), registry_version=version)
            folder = self._assistants.train(targets, version, config, progress)
        except Exception as exc:  # kept for GET /admin/assistants; the old assistant stays
            self._job = replace(
                self._job or job, state="failed", finished_at=time.time(), error=str(exc)[:500]
            )
            logger.error(kv("assistant_training_failed", job=job.id, error=type(exc).__name__))
            return
        self._job = replace(
            self._job or job, state="succeeded", finished_at=time.time(), run=folder.name
        )
        logger.info(kv("assistant_training_done", job=job.id, run=folder.name))


def read_all(store: TargetStore) -> tuple[list[ForgetTarget], int]:
    """Every active target of ``store`` and the registry version of the listing."""
    targets: list[ForgetTarget] = []
    cursor = None
    while True:
        page = store.list(cursor=cursor, limit=500, include_expired=False)
        targets.extend(item.target for item in page.items)
        if page.next_cursor is None:
            return targets, page.version
        cursor = page.next_cursor
