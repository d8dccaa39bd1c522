"""Turn a :class:`Turn` into prompt token ids: the chat template for chat, plain text otherwise.

User-supplied text is encoded *literally*: a message that contains ``<|im_start|>system`` (or any
other special-token string) gets those characters as ordinary text, not as control tokens, so a
user cannot forge a system turn. The common case (no special-token strings in any content) takes
the fast path and produces exactly the ids of ``tokenizer.apply_chat_template``.

Only the Rust ``tokenizers`` objects are used for encoding and decoding: unlike the transformers
wrapper they carry no mutable padding/truncation state, so the event-loop thread (encoding) and
the engine's worker thread (decoding) can share them.

Example:
    >>> enc = PromptEncoder(tokenizer)                           # doctest: +SKIP
    >>> enc.encode(Turn.chat("r", [Message("user", "Hi")], p))   # doctest: +SKIP
    [1, 9690, 198, ...]
"""

from __future__ import annotations

import uuid
from typing import Any

from tokenizers import Tokenizer

from lethe.decoders.turn import Turn
from lethe.errors import InvalidRequest


class PromptEncoder:
    """Encodes turns with the tokenizer's chat template, keeping user text literal."""

    def __init__(self, tokenizer: Any) -> None:
        self._hf = tokenizer
        self._backend: Tokenizer = tokenizer.backend_tokenizer
        self._literal = Tokenizer.from_str(self._backend.to_str())
        self._literal.encode_special_tokens = True
        self._specials = tuple(t for t in self._hf.all_special_tokens if t)
        self._has_template = bool(getattr(tokenizer, "chat_template", None))

    @property
    def decoder(self) -> Tokenizer:
        """The thread-safe Rust tokenizer, for decoding."""
        return self._backend

    def encode(self, turn: Turn) -> list[int]:
        """Prompt token ids for ``turn``."""
        if turn.is_chat:
            return self._encode_chat(turn)
        if isinstance(turn.prompt, tuple):
            return self._check_ids(list(turn.prompt))
        assert isinstance(turn.prompt, str)
        return self._encode_text(turn.prompt, add_special_tokens=True)

    def _encode_chat(self, turn: Turn) -> list[int]:
        if not self._has_template:
            raise InvalidRequest(
                "this model has no chat template: use /v1/completions", param="messages"
            )
        contents = [m.content for m in turn.messages]
        if not any(s in c for c in contents for s in self._specials):
            return self._encode_text(self._render(contents, turn), add_special_tokens=False)
        markers = [f"\x00{uuid.uuid4().hex}\x00" for _ in contents]
        rendered = self._render(markers, turn)
        ids: list[int] = []
        for marker, content in zip(markers, contents, strict=True):
            head, _, rendered = rendered.partition(marker)
            ids += self._backend.encode(head, add_special_tokens=False).ids
            ids += self._literal.encode(content, add_special_tokens=False).ids
        ids += self._backend.encode(rendered, add_special_tokens=False).ids
        return ids

    def _render(self, contents: list[str], turn: Turn) -> str:
        messages = [
            {"role": _template_role(m.role), "content": c}
            for m, c in zip(turn.messages, contents, strict=True)
        ]
        return str(
            self._hf.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        )

    def _encode_text(self, text: str, *, add_special_tokens: bool) -> list[int]:
        if add_special_tokens:
            return self._literal.encode(text, add_special_tokens=True).ids
        return self._backend.encode(text, add_special_tokens=False).ids

    def _check_ids(self, ids: list[int]) -> list[int]:
        vocab = self._backend.get_vocab_size(with_added_tokens=True)
        if not ids:
            raise InvalidRequest("prompt must not be empty", param="prompt")
        if any(i < 0 or i >= vocab for i in ids):
            raise InvalidRequest(f"prompt token ids must be in [0, {vocab})", param="prompt")
        return ids


def _template_role(role: str) -> str:
    """Chat templates rarely know OpenAI's ``developer`` role; it is a system message."""
    return "system" if role == "developer" else role
