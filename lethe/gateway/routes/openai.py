"""The OpenAI-compatible routes: thin, they pick the serving call and the response type.

Example:
    >>> client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="-")  # doctest: +SKIP
    >>> client.chat.completions.create(model=..., messages=[...])  # doctest: +SKIP
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import Response

from lethe.gateway.auth import DEBUG_HEADER, debug_view, require_api_key
from lethe.gateway.dependencies import (
    chat_serving,
    completion_serving,
    model_serving,
    require_ready,
)
from lethe.gateway.disconnect import cancel_on_disconnect
from lethe.gateway.protocol import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    CompletionRequest,
    CompletionResponse,
    ErrorResponse,
    ModelCard,
    ModelList,
)
from lethe.gateway.request_context import RequestContext, request_context
from lethe.gateway.serving import ChatServing, CompletionServing, ModelServing
from lethe.gateway.sse import EventStreamResponse

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid or unsupported request parameter",
        401: "Missing or invalid API key",
        404: "Unknown model",
        413: "Request body too large",
        429: "Too many requests waiting; retry after Retry-After seconds",
        500: "Server error",
        503: "Model still loading",
    }.items()
}
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with `stream: true` server-sent events "
        "(`data: {chunk}` frames ending with `data: [DONE]`).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}

router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    dependencies=[Depends(require_api_key), Depends(require_ready), Depends(debug_view)],
    responses=ERROR_RESPONSES,
)
Context = Annotated[RequestContext, Depends(request_context)]


def json_response(body: BaseModel, ctx: RequestContext) -> Response:
    """A pydantic body as a JSON response (serialised by pydantic, in one pass)."""
    return with_debug(Response(body.model_dump_json(), media_type="application/json"), ctx)


def with_debug(response: Response, ctx: RequestContext) -> Response:
    """Add the operator's debug view (``X-Lethe-Debug``) when it was asked for. A stream's
    header is written before its text, so it shows the scope decision and the techniques, not
    the output filter's later hits (those are in the audit log)."""
    if ctx.trace is not None:
        response.headers[DEBUG_HEADER] = json.dumps(ctx.trace.debug(), separators=(",", ":"))
    return response


async def respond(
    body: ChatCompletionRequest | CompletionRequest,
    request: Request,
    serving: ChatServing | CompletionServing,
    ctx: RequestContext,
) -> Response:
    """A JSON response, or an SSE stream when ``body.stream``; cancelled if the client leaves."""
    if body.stream:
        work = serving.stream(body, ctx)  # type: ignore[arg-type]
        frames = await cancel_on_disconnect(request.receive, work, serving.timeout_s)
        return with_debug(EventStreamResponse(frames), ctx)
    work = serving.complete(body, ctx)  # type: ignore[arg-type]
    return json_response(await cancel_on_disconnect(request.receive, work, serving.timeout_s), ctx)


@router.post("/chat/completions", response_model=ChatCompletionResponse, responses=STREAM_RESPONSE)
async def create_chat_completion(
    body: ChatCompletionRequest,
    request: Request,
    serving: Annotated[ChatServing, Depends(chat_serving)],
    ctx: Context,
) -> Response:
    """Create a chat completion (OpenAI's `POST /v1/chat/completions`)."""
    return await respond(body, request, serving, ctx)


@router.post("/completions", response_model=CompletionResponse, responses=STREAM_RESPONSE)
async def create_completion(
    body: CompletionRequest,
    request: Request,
    serving: Annotated[CompletionServing, Depends(completion_serving)],
    ctx: Context,
) -> Response:
    """Create a legacy text completion (OpenAI's `POST /v1/completions`)."""
    return await respond(body, request, serving, ctx)


@router.get("/models", response_model=ModelList)
async def list_models(serving: Annotated[ModelServing, Depends(model_serving)]) -> ModelList:
    """List the served model."""
    return serving.list()


@router.get("/models/{model_id:path}", response_model=ModelCard)
async def retrieve_model(
    model_id: str, serving: Annotated[ModelServing, Depends(model_serving)]
) -> ModelCard:
    """Describe the served model; 404 `model_not_found` for any other id."""
    return serving.retrieve(model_id)
