"""``POST /v1/chat/completions`` request: the wire model and its conversion to a :class:`Turn`.

Unknown fields are accepted (``extra="allow"``) and only their names are logged by the serving
class. OpenAI features this server does not offer (tools, structured output, audio, images)
are refused with a 400 :class:`~lethe.errors.UnsupportedFeature` naming the parameter.

Example:
    >>> req = ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "Hi"}])
    >>> turn = req.to_turn("req-1", RequestLimits(max_n=8, default_max_tokens=64,
    ...                                          max_model_len=2048))
    >>> turn.messages[0].content, turn.params.max_tokens, turn.params.default_max_tokens
    ('Hi', None, 64)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field

from lethe.decoders import Message, SamplingParams, Turn
from lethe.decoders.turn import Role
from lethe.errors import InvalidRequest, UnsupportedFeature
from lethe.gateway.protocol.common import (
    RequestLimits,
    SamplingFields,
    choice_count,
    completion_budget,
    stop_sequences,
    token_biases,
    top_k_value,
)

ROLES: tuple[str, ...] = get_args(Role)
TOOL_ROLES = ("tool", "function")
TEXT_PART = "text"


def _present(value: Any) -> bool:
    return value is not None and value != []


def _chosen(value: Any) -> bool:
    return value not in (None, "none")


def _not_text_format(value: Any) -> bool:
    return value is not None and value.get("type") != "text"


def _not_text_only(value: Any) -> bool:
    return value is not None and list(value) != ["text"]


UNSUPPORTED: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("tools", _present),
    ("tool_choice", _chosen),
    ("functions", _present),
    ("function_call", _chosen),
    ("response_format", _not_text_format),
    ("audio", _present),
    ("modalities", _not_text_only),
    ("prediction", _present),
)
"""Request parameters this server refuses, with the test that the request really uses them."""


class ContentPart(BaseModel):
    """One part of a message's content; only ``{"type": "text", "text": ...}`` is served."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One message of ``messages``: role plus text content (a string or text parts)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, description="Accepted and ignored.")
    tool_calls: list[Any] | None = None
    function_call: Any | None = None

    def to_message(self, index: int) -> Message:
        """The engine-side :class:`Message`; ``index`` names the message in errors."""
        where = f"messages[{index}]"
        if self.role in TOOL_ROLES:
            raise UnsupportedFeature(
                f"messages with role '{self.role}' are not supported: this server offers no "
                "tool calling",
                param=f"{where}.role",
            )
        if self.role not in ROLES:
            raise InvalidRequest(
                f"Invalid value '{self.role}' for {where}.role; expected one of {', '.join(ROLES)}",
                param=f"{where}.role",
            )
        if self.tool_calls or self.function_call:
            raise UnsupportedFeature(
                "tool calls are not supported by this server", param=f"{where}.tool_calls"
            )
        return Message(role=self.role, content=self._text(where))  # type: ignore[arg-type]

    def _text(self, where: str) -> str:
        if self.content is None:
            if self.role == "assistant":
                return ""
            raise InvalidRequest(f"{where}.content is required", param=f"{where}.content")
        if isinstance(self.content, str):
            return self.content
        texts = []
        for j, part in enumerate(self.content):
            if part.type != TEXT_PART:
                raise UnsupportedFeature(
                    f"content parts of type '{part.type}' are not supported; only 'text'",
                    param=f"{where}.content[{j}].type",
                )
            if part.text is None:
                raise InvalidRequest("a text part needs 'text'", param=f"{where}.content[{j}].text")
            texts.append(part.text)
        return "\n".join(texts)


class ChatCompletionRequest(SamplingFields):
    """The body of ``POST /v1/chat/completions`` (OpenAI's fields; unknown ones accepted)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(description="Must be the served model's id (see GET /v1/models).")
    messages: list[ChatMessage] = Field(description="Roles: system, developer, user, assistant.")
    max_tokens: int | None = Field(default=None, description="Deprecated alias.")
    max_completion_tokens: int | None = Field(
        default=None, description="Completion budget per choice; wins over max_tokens."
    )
    logprobs: bool | None = Field(default=None, description="Return token log-probabilities.")
    top_logprobs: int | None = Field(default=None, description="0 to 20; needs logprobs.")
    metadata: dict[str, Any] | None = Field(default=None, description="Accepted and ignored.")
    store: bool | None = Field(default=None, description="Accepted and ignored.")
    tools: list[Any] | None = Field(default=None, description="Unsupported (400).")
    tool_choice: str | dict[str, Any] | None = Field(default=None, description="Unsupported.")
    parallel_tool_calls: bool | None = Field(default=None, description="Ignored without tools.")
    functions: list[Any] | None = Field(default=None, description="Unsupported (400).")
    function_call: str | dict[str, Any] | None = Field(default=None, description="Unsupported.")
    response_format: dict[str, Any] | None = Field(
        default=None, description='Only {"type": "text"}.'
    )
    audio: dict[str, Any] | None = Field(default=None, description="Unsupported (400).")
    modalities: list[str] | None = Field(default=None, description='Only ["text"].')
    prediction: dict[str, Any] | None = Field(default=None, description="Unsupported (400).")

    def to_turn(self, request_id: str, limits: RequestLimits) -> Turn:
        """The frozen :class:`Turn` the pipeline runs; raises the request's first error."""
        self._refuse_unsupported()
        if not self.messages:
            raise InvalidRequest("'messages' must hold at least one message", param="messages")
        messages = [message.to_message(i) for i, message in enumerate(self.messages)]
        return Turn.chat(request_id, messages, self.sampling_params(limits))

    def sampling_params(self, limits: RequestLimits) -> SamplingParams:
        """The validated :class:`SamplingParams` (bounds are checked there)."""
        if self.top_logprobs and not self.logprobs:
            raise InvalidRequest("top_logprobs needs logprobs set to true", param="top_logprobs")
        budget_param = (
            "max_tokens" if self.max_completion_tokens is None else ("max_completion_tokens")
        )
        requested = (
            self.max_completion_tokens
            if self.max_completion_tokens is not None
            else (self.max_tokens)
        )
        return SamplingParams(
            max_tokens=completion_budget(requested, budget_param, limits),
            default_max_tokens=limits.default_max_tokens,
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            top_k=top_k_value(self.top_k),
            n=choice_count(self.n, limits),
            seed=self.seed,
            stop=stop_sequences(self.stop),
            logprobs=bool(self.logprobs),
            top_logprobs=self.top_logprobs or 0,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            logit_bias=token_biases(self.logit_bias),
        )

    def _refuse_unsupported(self) -> None:
        for name, used in UNSUPPORTED:
            if used(getattr(self, name)):
                raise UnsupportedFeature(f"'{name}' is not supported by this server", param=name)
