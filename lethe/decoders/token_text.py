"""The text and raw bytes of single tokens, for ``logprobs``.

OpenAI reports each token as a string plus its UTF-8 ``bytes``; a token that holds only part of a
multi-byte character is shown as ``bytes:\\xe2\\x80``. Byte-level BPE vocabularies (GPT-2 style)
store tokens in a printable alias alphabet and SentencePiece vocabularies use ``▁`` for spaces and
``<0xNN>`` for raw bytes; both are mapped back to the real bytes here, so a token's leading space
is kept (decoding a lone token would drop it for SentencePiece).

Example:
    >>> _byte_level_alphabet()[ord("Ġ")]
    32
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_SP_BYTE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@lru_cache(maxsize=1)
def _byte_level_alphabet() -> dict[int, int]:
    """GPT-2's byte-to-printable-character table, inverted: code point -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {c: b for b, c in zip(printable, chars, strict=True)}


class TokenText:
    """Maps token ids to ``(display string, bytes)``; results are cached per id."""

    def __init__(self, backend_tokenizer: Any) -> None:
        self._tok = backend_tokenizer
        decoder = type(backend_tokenizer.decoder).__name__ if backend_tokenizer.decoder else ""
        self._byte_level = decoder == "ByteLevel"
        self._cache: dict[int, tuple[str, tuple[int, ...]]] = {}

    def __call__(self, token_id: int) -> tuple[str, tuple[int, ...]]:
        """The token's display string and its bytes."""
        hit = self._cache.get(token_id)
        if hit is None:
            raw = self._bytes(token_id)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = "bytes:" + "".join(f"\\x{b:02x}" for b in raw)
            hit = (text, tuple(raw))
            self._cache[token_id] = hit
        return hit

    def _bytes(self, token_id: int) -> bytes:
        piece = self._tok.id_to_token(token_id)
        if piece is None:
            return b""
        if self._byte_level:
            table = _byte_level_alphabet()
            if all(ord(c) in table for c in piece):
                return bytes(table[ord(c)] for c in piece)
            return piece.encode()
        match = _SP_BYTE.match(piece)
        if match:
            return bytes([int(match.group(1), 16)])
        if "▁" in piece:
            return piece.replace("▁", " ").encode()
        return self._tok.decode([token_id], skip_special_tokens=False).encode()
