"""The admin API's assistant routes: train the contrastive-decoding assistant on the current
forget set as a background job, and report it (see
:mod:`lethe.gateway.serving.assistant_jobs`, docs/admin.md "Assistants").

Example:
    $ curl -X POST -H "Authorization: Bearer $LETHE_ADMIN_KEY" \\
        http://127.0.0.1:8000/admin/assistants:train -d '{"steps": 120}'
    {"id":"3f9c0a1b2c4d","state":"running",...}
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import Body
from starlette.responses import Response

from lethe.gateway.dependencies import RuntimeDep
from lethe.gateway.protocol.assistants import AssistantOut, AssistantsInfo, TrainJob, TrainRequest
from lethe.gateway.routes.admin import admin_router, json_response

router = admin_router()


@router.post("/assistants:train", status_code=202, response_model=TrainJob)
async def train(
    runtime: RuntimeDep, body: Annotated[TrainRequest | None, Body()] = None
) -> Response:
    """Start training on every target now in the registry (409 while a job runs; 400
    ``unsupported_feature`` on an engine without assistants). Poll ``GET /admin/assistants``."""
    from lethe.decoders.hf.assistant_training import TrainConfig

    config = TrainConfig(**(body or TrainRequest()).model_dump(exclude_none=True))
    job = runtime.assistant_trainer.start(runtime.store, config)
    return json_response(TrainJob(**asdict(job)), status=202)


@router.get("/assistants", response_model=AssistantsInfo)
async def show(runtime: RuntimeDep) -> Response:
    """The trained assistant in use and the last training job."""
    trainer = runtime.assistant_trainer
    meta = trainer.current()
    current = None
    if meta is not None:
        record = asdict(meta)
        record["covers"] = len(record["covers"])
        current = AssistantOut.model_validate(record)
    job = trainer.job()
    return json_response(
        AssistantsInfo(current=current, job=TrainJob(**asdict(job)) if job else None)
    )
