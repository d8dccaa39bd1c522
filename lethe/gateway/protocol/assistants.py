"""Wire types of the admin API's assistant routes (``/admin/assistants``).

Example:
    >>> TrainRequest.model_validate({"steps": 60}).model_dump(exclude_none=True)
    {'steps': 60}
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainRequest(BaseModel):
    """``POST /admin/assistants:train``: the training run's knobs, all optional (unset: the
    trainer's defaults: 4 layers, 120 steps, rank 8, batch 4, learning rate 5e-3)."""

    model_config = ConfigDict(extra="forbid")

    layers: int | None = Field(default=None, ge=1, le=64, description="served model layers kept")
    steps: int | None = Field(default=None, ge=1, le=10_000, description="optimizer steps")
    rank: int | None = Field(default=None, ge=1, le=128, description="LoRA rank")
    batch_size: int | None = Field(default=None, ge=1, le=64, description="examples per step")
    learning_rate: float | None = Field(default=None, gt=0, le=1.0)


class TrainJob(BaseModel):
    """A training job: ``running`` (``step`` of ``steps``), ``succeeded`` (``run``: the new
    assistant's folder) or ``failed`` (``error``)."""

    id: str
    state: Literal["running", "succeeded", "failed"]
    targets: int
    registry_version: int
    steps: int
    step: int
    forget_loss: float | None
    retain_loss: float | None
    started_at: float
    finished_at: float | None
    run: str | None
    error: str | None


class AssistantOut(BaseModel):
    """The trained assistant in use: what it adapts, what it covers, what training cost."""

    model_id: str
    layers: int
    rank: int
    registry_version: int
    covers: int = Field(description="targets trained on (as they were then)")
    steps: int
    wall_s: float
    peak_rss_mb: float
    final_losses: tuple[float, float]
    trained_at: float


class AssistantsInfo(BaseModel):
    """``GET /admin/assistants``: the assistant in use (``null``: none yet) and the last job."""

    current: AssistantOut | None
    job: TrainJob | None
