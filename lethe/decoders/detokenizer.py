"""Incremental detokenisation: turn one new token id at a time into new text, safely.

Decoding token by token breaks two ways: a multi-byte UTF-8 character split over tokens decodes
to U+FFFD, and SentencePiece-style tokenizers drop a token's leading space when it is decoded
alone. Both are avoided by decoding a short window of context plus the new tokens and emitting
only the text after the context, and only once it no longer ends in a partial character.

Works with any object that has ``decode(ids, skip_special_tokens=...) -> str`` (a ``tokenizers``
``Tokenizer``; faster than the transformers wrapper and free of its clean-up of spaces).

Example:
    >>> class Bytes:  # a toy tokenizer: one token per UTF-8 byte
    ...     def decode(self, ids, skip_special_tokens=True):
    ...         return bytes(ids).decode("utf-8", errors="replace")
    >>> d = IncrementalDetokenizer(Bytes(), prompt_ids=[])
    >>> [d.add(b) for b in "é!".encode()]
    ['', 'é', '!']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

# How many prompt tokens seed the context window, so the first generated token's leading space
# is decoded exactly as it would be inside the whole text.
PROMPT_CONTEXT_TOKENS = 5
_REPLACEMENT = "\ufffd"


class Decoder(Protocol):
    """The one method of a tokenizer that detokenisation needs."""

    def decode(self, ids: list[int], skip_special_tokens: bool = ...) -> str:
        """Token ids to text."""
        ...


class IncrementalDetokenizer:
    """Feeds token ids one at a time; returns the new, complete text each one adds."""

    def __init__(
        self,
        decoder: Decoder,
        prompt_ids: Sequence[int],
        *,
        skip_special_tokens: bool = True,
    ) -> None:
        self._decoder = decoder
        self._skip = skip_special_tokens
        self._ids: list[int] = list(prompt_ids[-PROMPT_CONTEXT_TOKENS:])
        self._prefix_offset = 0
        self._read_offset = len(self._ids)
        self._prefix_text = self._decode(self._prefix_offset, self._read_offset)

    def add(self, token_id: int) -> str:
        """Append one token; return the text it completes (possibly empty)."""
        self._ids.append(token_id)
        text = self._decode(self._prefix_offset, len(self._ids))
        if len(text) <= len(self._prefix_text) or text.endswith(_REPLACEMENT):
            return ""
        new = text[len(self._prefix_text) :]
        self._prefix_offset = self._read_offset
        self._read_offset = len(self._ids)
        self._prefix_text = self._decode(self._prefix_offset, self._read_offset)
        return new

    def restart(self, ids: Sequence[int]) -> None:
        """Start over after a rollback: ``ids`` are all tokens so far (prompt and kept output).

        Text already returned for them stays valid; decoding resumes after them.
        """
        self._ids = list(ids[-PROMPT_CONTEXT_TOKENS:])
        self._prefix_offset = 0
        self._read_offset = len(self._ids)
        self._prefix_text = self._decode(0, self._read_offset)

    def _decode(self, start: int, end: int) -> str:
        if start >= end:
            return ""
        return self._decoder.decode(self._ids[start:end], skip_special_tokens=self._skip)
