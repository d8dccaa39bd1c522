"""A :class:`Turn` is one request as every layer below the gateway sees it: frozen and HTTP-free.

Example:
    >>> t = Turn.chat("req-1", [Message("user", "Hi")], SamplingParams(max_tokens=8))
    >>> t.is_chat, t.conversation_text()
    (True, 'Hi')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from lethe.decoders.params import SamplingParams

Role = Literal["system", "developer", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message with plain-text content."""

    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class Turn:
    """One generation request: either chat ``messages`` or a raw ``prompt`` (text or token ids).

    ``tenant`` scopes per-tenant forget targets; ``request_id`` ties log lines and audit events
    together.
    """

    request_id: str
    params: SamplingParams
    messages: tuple[Message, ...] = ()
    prompt: str | tuple[int, ...] | None = None
    tenant: str | None = None

    def __post_init__(self) -> None:
        if bool(self.messages) == (self.prompt is not None):
            raise ValueError("a Turn has either messages or a prompt, not both or neither")

    @classmethod
    def chat(
        cls,
        request_id: str,
        messages: Iterable[Message],
        params: SamplingParams,
        tenant: str | None = None,
    ) -> Turn:
        """A chat turn."""
        return cls(request_id=request_id, params=params, messages=tuple(messages), tenant=tenant)

    @property
    def is_chat(self) -> bool:
        """True for chat turns, False for raw-prompt (legacy completions) turns."""
        return bool(self.messages)

    def conversation_text(self) -> str:
        """All the text of the request, for scope matching: every message, or the prompt."""
        if self.messages:
            return "\n".join(m.content for m in self.messages)
        return self.prompt if isinstance(self.prompt, str) else ""
