"""Forbidden strings as token bans, for engines that cannot roll a sequence back.

The ``hf`` engine detects forbidden strings in the decoded text and rolls back (``masking.py``).
Engines without rollback get one of two weaker, token-level forms, computed here from the
forbidden strings and the served model's tokenizer (a :class:`Vocabulary`):

- **logit_bias bans** (upstream servers): the tokens that *start* a spelling of a forbidden
  string get a bias of -100. Every surface variant (``surface_variants``: leading space or not,
  casings, possessive) is tokenised; the first tokens of all variants come first, then second
  tokens, and so on, up to the room left under the upstream's ``logit_bias`` limit (300 entries
  for OpenAI) after the user's own entries. A ban always wins over the user's value for the same
  token. The trade-off: a ban holds for the whole completion, wherever the token occurs, so
  banning ``" Par"`` (the first token of ``" Paris"`` in some vocabularies) also bans
  ``" Parliament"`` when it tokenises the same way. Tokens whose text is shorter than
  ``min_chars`` (``"is"``, ``" E"``) are left out unless they spell a whole variant: banning
  them would wreck ordinary text. The lexical output filter still catches what gets through.
- **prefix masks** (engines with per-step logits, e.g. vLLM): given the text decoded so far, ban
  exactly the tokens that would *complete* a forbidden string that starts on a word boundary
  (:meth:`PrefixBans.banned`). Matching is case-insensitive like ``ForbiddenStrings``; the word
  boundary *after* the match cannot be known yet, so a completion that would go on as a longer
  word (``"Parisian"``) is banned too. A token whose own text holds a forbidden string behind a
  boundary (``" Paris"``) is banned at every step.

Detection at text level (``ForbiddenStrings``) covers every tokenisation; these forms only cover
tokens as the tokenizer spells them one by one. A multi-byte character split over byte tokens
decodes to U+FFFD per token, so a non-ASCII forbidden string is prefix-masked only where it is
not split that way; the output filter catches the rest.

Example:
    >>> vocab = ListVocabulary(["<eos>", " Par", "is", " Paris", " the", "Paris"])
    >>> bans = PrefixBans(["Paris"], VocabularyIndex.of(vocab))
    >>> sorted(bans.banned("I saw")), sorted(bans.banned("I saw Par"))  # " Paris" always
    ([3], [2, 3])
"""

from __future__ import annotations

import bisect
import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import torch

from lethe.decoders.forbidden import surface_variants
from lethe.decoders.holdback import fold_case
from lethe.decoders.processors import SequenceView
from lethe.errors import ConfigurationError

BAN = -100.0
"""The ``logit_bias`` value that bans a token (OpenAI's lowest)."""
OPENAI_LOGIT_BIAS_LIMIT = 300
"""At most this many ``logit_bias`` entries per request on OpenAI's API."""
MIN_BAN_CHARS = 3
"""Tokens with fewer non-space characters are only banned when they spell a whole variant."""
_PREFIX_END = "\U0010ffff"


class Vocabulary(Protocol):
    """The served model's tokenizer, as far as token bans need it."""

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` with no special tokens added."""
        ...

    def token_texts(self) -> Sequence[str]:
        """The text of every token id as it reads after other text (a leading space kept),
        special tokens as ``""``."""
        ...


class ListVocabulary:
    """A vocabulary given as a list of token texts; encodes greedily, longest token first.

    For tests and docs; real engines use :class:`TokenizerVocabulary`.
    """

    def __init__(self, texts: Sequence[str]) -> None:
        self._texts = list(texts)
        self._by_text = {t: i for i, t in enumerate(self._texts) if t}

    def encode(self, text: str) -> list[int]:
        """Longest-match tokenisation (characters without a token are skipped)."""
        ids: list[int] = []
        at = 0
        while at < len(text):
            end = next((e for e in range(len(text), at, -1) if text[at:e] in self._by_text), None)
            if end is None:
                at += 1
                continue
            ids.append(self._by_text[text[at:end]])
            at = end
        return ids

    def token_texts(self) -> Sequence[str]:
        """The token texts as given."""
        return self._texts


class TokenizerVocabulary:
    """A transformers tokenizer as a :class:`Vocabulary`, loaded on first use.

    ``source`` is a tokenizer or a zero-argument function that loads one (so an engine can
    declare its vocabulary before its tokenizer is loaded). Thread-safe.
    """

    def __init__(self, source: Any | Callable[[], Any]) -> None:
        self._source = source
        self._tokenizer: Any = None if callable(source) and not _is_tokenizer(source) else source
        self._texts: list[str] | None = None
        self._lock = threading.Lock()

    @property
    def tokenizer(self) -> Any:
        """The loaded tokenizer (loads it on first access)."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._source()
        return self._tokenizer

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, no special tokens."""
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def token_texts(self) -> Sequence[str]:
        """Each token's text as it reads after other text, special tokens as ``""`` (computed
        once; see :func:`_decode_each`)."""
        tok = self.tokenizer
        with self._lock:
            if self._texts is None:
                special = set(getattr(tok, "all_special_ids", ()))
                texts = _decode_each(tok, len(tok))
                self._texts = ["" if i in special else t for i, t in enumerate(texts)]
        return self._texts


def load_tokenizer(source: str | Path) -> Any:
    """The tokenizer at ``source``: a directory, a ``.gguf`` file, or a cached Hub name."""
    from transformers import AutoTokenizer

    path = Path(source).expanduser()
    try:
        if path.is_file() and path.suffix == ".gguf":
            return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        return AutoTokenizer.from_pretrained(str(path) if path.exists() else str(source))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load the tokenizer {source}: {exc}") from None


def _is_tokenizer(obj: Any) -> bool:
    return hasattr(obj, "encode") and hasattr(obj, "decode")


def _decode_each(tok: Any, size: int) -> list[str]:
    """The text of every token id as it reads *after* other text.

    Decoded alone, a SentencePiece token ``"▁Paris"`` reads ``"Paris"``: the decoder drops the
    leading space at the start of a text. Each token is decoded behind an anchor (the tokens of
    ``"a"``) and the anchor's own text cut off, so it keeps its space; a token whose text does
    not extend the anchor's (a decoder that rewrites across tokens) is decoded alone.
    """
    backend = getattr(tok, "backend_tokenizer", None)

    def decode(batch: list[list[int]]) -> list[str]:
        if backend is not None:
            return list(backend.decode_batch(batch, skip_special_tokens=False))
        return [tok.decode(ids, clean_up_tokenization_spaces=False) for ids in batch]

    anchor = list(tok.encode("a", add_special_tokens=False))
    head = decode([anchor])[0]
    joined = decode([[*anchor, i] for i in range(size)])
    texts = [t[len(head) :] if t.startswith(head) else None for t in joined]
    lone = [i for i, t in enumerate(texts) if t is None]
    for i, text in zip(lone, decode([[i] for i in lone]), strict=True):
        texts[i] = text
    return [t or "" for t in texts]


# -- logit_bias bans ------------------------------------------------------------------------


def ban_candidates(
    strings: Iterable[str], vocab: Vocabulary, *, min_chars: int = MIN_BAN_CHARS
) -> list[int]:
    """Token ids to ban, most important first: the first token of every surface variant, then
    the second tokens, and so on; short generic tokens only when they spell a whole variant."""
    texts = vocab.token_texts()
    variants = surface_variants(strings)
    encoded = [(v.strip(), vocab.encode(v)) for v in variants]
    depth = max((len(ids) for _, ids in encoded), default=0)
    seen: dict[int, None] = {}
    for level in range(depth):
        for whole, ids in encoded:
            if level >= len(ids) or ids[level] in seen:
                continue
            text = texts[ids[level]].strip() if ids[level] < len(texts) else ""
            if len(text) >= min_chars or (text and text == whole):
                seen[ids[level]] = None
    return list(seen)


def merge_bans(
    user: Mapping[int, float], bans: Sequence[int], *, limit: int = OPENAI_LOGIT_BIAS_LIMIT
) -> dict[int, float]:
    """The user's ``logit_bias`` with ``bans`` added at -100, in order, while fewer than
    ``limit`` entries are used; a banned token the user biased is banned regardless."""
    merged = dict(user)
    for token in bans:
        if token in merged or len(merged) < limit:
            merged[token] = BAN
    return merged


# -- prefix masks -----------------------------------------------------------------------------


def is_word_char(c: str) -> bool:
    """Letters, digits and ``_`` make words (the rule ``ForbiddenStrings`` uses)."""
    return c.isalnum() or c == "_"


@dataclass(eq=False)
class VocabularyIndex:
    """A vocabulary's case-folded token texts, sorted for prefix queries (built once)."""

    texts: list[str]
    keys: list[str]
    order: list[int]

    @classmethod
    def of(cls, vocab: Vocabulary) -> VocabularyIndex:
        """The index of ``vocab``, built once per vocabulary object."""
        try:
            return _INDEXES[vocab]
        except (KeyError, TypeError):
            pass
        texts = [fold_case(t) for t in vocab.token_texts()]
        order = sorted((i for i, t in enumerate(texts) if t), key=texts.__getitem__)
        index = cls(texts, [texts[i] for i in order], order)
        with contextlib.suppress(TypeError):  # a vocabulary that takes no weak reference
            _INDEXES[vocab] = index
        return index

    def starting_with(self, prefix: str) -> tuple[int, ...]:
        """Ids of the tokens whose folded text starts with ``prefix``."""
        return _starting_with(self, prefix)

    def containing(self, pattern: str) -> tuple[int, ...]:
        """Ids of the tokens that hold ``pattern`` after their first character, on a word
        boundary: they complete a match whatever came before."""
        return _containing(self, pattern)


_INDEXES: weakref.WeakKeyDictionary[Any, VocabularyIndex] = weakref.WeakKeyDictionary()


@lru_cache(maxsize=65536)
def _starting_with(index: VocabularyIndex, prefix: str) -> tuple[int, ...]:
    lo = bisect.bisect_left(index.keys, prefix)
    hi = bisect.bisect_left(index.keys, prefix + _PREFIX_END, lo)
    return tuple(index.order[lo:hi])


@lru_cache(maxsize=4096)
def _containing(index: VocabularyIndex, pattern: str) -> tuple[int, ...]:
    needs_boundary = is_word_char(pattern[0])
    out = []
    for token, text in enumerate(index.texts):
        at = text.find(pattern, 1)
        while at > 0:
            if not (needs_boundary and is_word_char(text[at - 1])):
                out.append(token)
                break
            at = text.find(pattern, at + 1)
    return tuple(out)


class PrefixBans:
    """The tokens that would complete one of ``strings`` after a given text (see the module
    docstring). One per request; cheap to build, the heavy parts are cached per vocabulary."""

    def __init__(self, strings: Iterable[str], index: VocabularyIndex) -> None:
        folded = {fold_case(s.strip()) for s in strings if s.strip()}
        self.patterns = tuple(sorted(folded))
        self.index = index
        self.window = max((len(p) for p in self.patterns), default=0) + 1
        fixed: set[int] = set()
        for p in self.patterns:
            fixed.update(index.containing(p))
        self.always = frozenset(fixed)

    def banned(self, text: str) -> set[int]:
        """Token ids that would complete a forbidden string right after ``text``."""
        tail = fold_case(text[-self.window :])
        cut = len(text) > len(tail)  # the tail is not the start of the text
        out = set(self.always)
        for p in self.patterns:
            for k in range(len(p)):
                if k and not tail.endswith(p[:k]):
                    continue
                before = len(tail) - k - 1
                if before < 0 and cut:
                    continue
                boundary = before < 0 or not (is_word_char(tail[before]) and is_word_char(p[0]))
                if boundary:
                    out.update(self.index.starting_with(p[k:]))
        return out


class PrefixMask:
    """A :class:`~lethe.decoders.processors.LogitsProcessor` that applies :class:`PrefixBans`
    to one sequence's text at every step (for in-process engines with logits, no rollback)."""

    def __init__(self, bans: PrefixBans) -> None:
        self.bans = bans

    def __call__(self, seq: SequenceView, logits: torch.Tensor) -> torch.Tensor:
        """Set the completing tokens' logits to -inf."""
        banned = self.bans.banned(seq.text)
        if banned:
            logits[[t for t in banned if t < logits.shape[-1]]] = float("-inf")
        return logits


@dataclass(frozen=True, eq=False)
class PrefixMaskFactory:
    """A processor factory that also carries its data: the forbidden ``strings``.

    In-process engines call it (one :class:`PrefixMask` per choice); engines whose decoding
    loop runs elsewhere (vLLM's engine core) ship ``strings`` with the request instead and
    build the same bans there.
    """

    strings: tuple[str, ...]
    vocabulary: Vocabulary

    def __call__(self) -> PrefixMask:
        """A mask for one choice."""
        return PrefixMask(PrefixBans(self.strings, VocabularyIndex.of(self.vocabulary)))
