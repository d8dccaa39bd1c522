"""What of a target gets embedded: its name, its first aliases, and its content in chunks.

The embedder (all-MiniLM-L6-v2) reads at most 256 word-pieces; English runs ~1.3 word-pieces a
word, so a chunk is at most :data:`CHUNK_WORDS` words, and consecutive chunks overlap by
:data:`CHUNK_OVERLAP` words so a sentence cut at a border is whole in one of them. "Words" are runs
of non-space characters, except that in scripts written without spaces (Han, kana, Thai, ...)
each character counts as one word. Chunk text is always a slice of the original.

A target's chunk list is a pure function of the target and these constants (the registry stores
the fingerprint :data:`CHUNKER_ID` and refuses stored embeddings made by another chunker):

- chunk 0 (``name``): the name followed by its first aliases, ``"Ada Quill; A. Quill; Quill"``,
  up to :data:`PACK_WORDS` words; further aliases (up to :data:`MAX_EMBEDDED_ALIASES` in all) go
  into ``alias`` chunks packed the same way. Every alias still matches lexically.
- then the content (``content``): short samples (a Q/A pair as ``"question answer"``, a short
  passage) are packed in order into chunks of up to :data:`PACK_WORDS` words; a longer passage
  is chunked on its own as above.

Why pack: the embedder is compute-bound (~50 word-pieces per small target on 2 cores), and one
batch of five short texts costs as much as their padded length, so packing cuts add latency and
the number of vectors (memory, HNSW build time) at a small cost in per-sample specificity.

Example:
    >>> qa = [{"question": "Born where?", "answer": "Ulm"}, "Chemist."]
    >>> chunks = target_chunks("Ada Quill", ["A. Quill"], qa)
    >>> [(c.no, c.source, c.text) for c in chunks]
    [(0, 'name', 'Ada Quill; A. Quill'), (1, 'content', 'Born where? Ulm\\nChemist.')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

CHUNK_WORDS: Final = 180
CHUNK_OVERLAP: Final = 30
PACK_WORDS: Final = 64
MAX_EMBEDDED_ALIASES: Final = 32
CHUNKER_ID: Final = (
    f"words-{CHUNK_WORDS}-{CHUNK_OVERLAP}-pack-{PACK_WORDS}-aliases-{MAX_EMBEDDED_ALIASES}"
)

ChunkSource = Literal["name", "alias", "content"]
SOURCE_CODES: Final[dict[ChunkSource, str]] = {"name": "n", "alias": "a", "content": "c"}
SOURCES_BY_CODE: Final[dict[str, ChunkSource]] = {v: k for k, v in SOURCE_CODES.items()}

_CONTINUOUS: Final = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u2e80-\u2fdf\u3040-\u30ff\u3130-\u318f"
    "\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
)
_WORD: Final = re.compile(rf"[{_CONTINUOUS}]|[^\s{_CONTINUOUS}]+")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One embedded piece of a target: its position, where it came from, and its text."""

    no: int
    source: ChunkSource
    text: str


def chunk_text(
    text: str, *, max_words: int = CHUNK_WORDS, overlap: int = CHUNK_OVERLAP
) -> list[str]:
    """Split ``text`` into overlapping windows of at most ``max_words`` words.

    >>> chunk_text("a b c d e", max_words=3, overlap=1)
    ['a b c', 'c d e']
    """
    spans = [m.span() for m in _WORD.finditer(text)]
    if len(spans) <= max_words:
        return [text.strip()] if spans else []
    step = max_words - overlap
    out = []
    for first in range(0, len(spans), step):
        last = min(first + max_words, len(spans)) - 1
        out.append(text[spans[first][0] : spans[last][1]])
        if last == len(spans) - 1:
            break
    return out


def sample_text(sample: Any) -> str:
    """The text of one content sample: a passage as is, a Q/A pair as ``"question answer"``."""
    if isinstance(sample, str):
        return sample
    if isinstance(sample, dict):
        return f"{sample.get('question', '')} {sample.get('answer', '')}"
    return f"{sample.question} {sample.answer}"


def _words(text: str) -> int:
    return sum(1 for _ in _WORD.finditer(text))


def pack(texts: Iterable[str], *, max_words: int = PACK_WORDS, sep: str = "\n") -> list[str]:
    """Join consecutive short ``texts`` with ``sep`` into pieces of at most ``max_words`` words;
    a text longer than that is chunked alone with :func:`chunk_text`.

    >>> pack(["a b", "c", "d e f g"], max_words=3, sep=" ")
    ['a b c', 'd e f g']
    """
    out: list[str] = []
    current: list[str] = []
    size = 0
    for text in texts:
        n = _words(text)
        if current and (n > max_words or size + n > max_words):
            out.append(sep.join(current))
            current, size = [], 0
        if n > max_words:
            out += chunk_text(text)
        elif n:
            current.append(text.strip())
            size += n
    if current:
        out.append(sep.join(current))
    return out


def target_chunks(name: str, aliases: Sequence[str], content: Iterable[Any]) -> tuple[Chunk, ...]:
    """The chunks of a target (see the module docstring for the order)."""
    texts: list[tuple[ChunkSource, str]] = []
    for i, piece in enumerate(pack([name, *aliases[:MAX_EMBEDDED_ALIASES]], sep="; ")):
        texts.append(("name" if i == 0 else "alias", piece))
    texts += [("content", piece) for piece in pack(sample_text(s) for s in content)]
    return tuple(Chunk(no, source, text) for no, (source, text) in enumerate(texts))
