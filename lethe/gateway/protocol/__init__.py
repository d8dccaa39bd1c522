"""Pydantic models of the OpenAI wire format, and their conversions to and from the engine's types.

Requests convert themselves into :class:`~lethe.decoders.Turn` objects (``to_turn`` /
``to_turns``); responses and chunks build themselves from engine outputs.
"""

from __future__ import annotations

from functools import cache

from pydantic import BaseModel

from lethe.gateway.protocol.chat import ChatCompletionRequest, ChatMessage, ContentPart
from lethe.gateway.protocol.chat_response import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatLogprobs,
)
from lethe.gateway.protocol.common import (
    CompletionMeta,
    ErrorBody,
    ErrorResponse,
    RequestLimits,
    StreamOptions,
    UsageInfo,
)
from lethe.gateway.protocol.completions import CompletionRequest
from lethe.gateway.protocol.completions_response import (
    CompletionChoice,
    CompletionChunk,
    CompletionResponse,
    LegacyLogprobs,
)
from lethe.gateway.protocol.models import ModelCard, ModelList

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    ChatCompletionRequest,
    ChatMessage,
    ContentPart,
    CompletionRequest,
    StreamOptions,
)


@cache
def request_field_names() -> frozenset[str]:
    """Every field name of the request models: tells field names from pydantic's union tags."""
    return frozenset(name for model in REQUEST_MODELS for name in model.model_fields)


__all__ = [
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatLogprobs",
    "CompletionChoice",
    "CompletionChunk",
    "CompletionMeta",
    "CompletionRequest",
    "CompletionResponse",
    "ErrorBody",
    "ErrorResponse",
    "LegacyLogprobs",
    "ModelCard",
    "ModelList",
    "RequestLimits",
    "StreamOptions",
    "UsageInfo",
    "request_field_names",
]
