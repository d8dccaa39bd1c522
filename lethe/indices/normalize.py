"""Text folding for lexical matching: one comparable letter stream, mapped back to the original.

Names must match however a user or a model writes them (``Einstein``, ``EINSTEIN``,
``E-i-n-s-t-e-i-n``, ``e i n s t e i n``, ``Einstein's``) and must not fire inside unrelated words
(``Ron`` in ``Ronald`` or ``iron``, ``Paris`` in ``comparison``). :func:`fold` turns a text into:

- ``letters``: the folded characters with every separator removed;
- for each folded character, the original ``start``/``end`` offsets (so a match maps back to an
  exact span the output filter can redact) and the *token* it belongs to.

Folding rules, per original character:

1. Unicode compatibility decomposition (NFKD) after case-folding: ``ＥＩＮ`` → ``ein``,
   ``ﬁ`` → ``fi``, ``²`` → ``2``, ``ß`` → ``ss``, ``İ`` → ``i``.
2. Diacritics are folded: combining marks of the Latin/Greek/Cyrillic diacritic blocks, Hebrew
   points and Arabic harakat are dropped (``Müller`` → ``muller``, ``José`` → ``jose``,
   ``ё`` → ``е``), and a few letters without a decomposition are mapped (``ø`` → ``o``,
   ``ł`` → ``l``, ``æ`` → ``ae``). Other combining marks (Devanagari vowel signs, Thai tone
   marks) carry meaning and are kept as part of their word.
3. Letters and digits are *word* characters; invisible format characters (zero-width space and
   joiners, soft hyphen) are ignored, so ``Ein<ZWSP>stein`` is one word; everything else (spaces,
   punctuation, symbols, emoji, ``_``) is a separator.

Not folded: look-alike letters of other scripts (Cyrillic ``е`` in a Latin word) and
transliterations (``Mueller`` for ``Müller``); add them as aliases.

Tokens are maximal runs of word characters, split where letters meet digits (``COVID19`` →
``covid`` ``19``; ``Einstein2`` → ``einstein`` ``2``). Case changes do not split (``McDonald`` does
not contain the word ``donald``). In scripts written without spaces (Han, kana, Hangul, Thai, Lao,
Khmer, Myanmar) every character is its own token, so a name matches as a substring there
(``东京`` is found in ``我去东京了``); the price is that ``京都`` is also found inside ``東京都``.

:func:`span_ok` decides whether an occurrence of a pattern's letters in the stream is a real
mention; see its docstring. Example:

    >>> f = fold("Who is E-i-n-s-t-e-i-n?")
    >>> f.letters
    'whoiseinstein'
    >>> f.original_span(5, 13)
    (7, 22)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

# Marks whose removal folds a diacritic away: combining diacritical marks (+ extended and
# supplement blocks, for symbols, half marks), Hebrew points, Arabic harakat.
_STRIP_MARK_RANGES: Final = (
    (0x0300, 0x036F),
    (0x0591, 0x05C7),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
# Scripts written without spaces between words: each character is a token of its own.
_CONTINUOUS_RANGES: Final = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul Jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3130, 0x318F),  # Hangul compatibility Jamo
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xAC00, 0xD7AF),  # Hangul syllables
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B-H
)
# Letters that have no canonical decomposition but are written without their stroke in practice.
_EXTRA_FOLDS: Final = {
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "ł": "l",
    "ħ": "h",
    "ı": "i",
    "ŧ": "t",
    "æ": "ae",
    "œ": "oe",
    "þ": "th",
}

# Names the folding rules below; stored with precompiled pattern keys (the registry recompiles
# them when it changes). Bump it whenever a rule changes what a text folds to.
NORMALIZER_ID: Final = "nfkd-casefold-strip-marks-cf-1"

SEP: Final = 0  # separator: ends the current token
WORD: Final = 1  # letter: part of a word token
DIGIT: Final = 2  # digit: part of a number token (split from letters)
CONT: Final = 3  # character of a script without spaces: a token on its own
MARK: Final = 4  # combining mark: continues the current token (its folded text may be empty)

_ASCII_TOKEN: Final = re.compile(r"[A-Za-z]+|[0-9]+")


def _in_ranges(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


@lru_cache(maxsize=65536)
def classify(ch: str) -> tuple[int, str]:
    """Class (``SEP``/``WORD``/``DIGIT``/``CONT``/``MARK``) and folded text of one character.

    >>> classify("É"), classify("-"), classify("東")
    ((1, 'e'), (0, ''), (3, '東'))
    """
    cp = ord(ch)
    folded = []
    for part in unicodedata.normalize("NFKD", ch.casefold()):
        if _in_ranges(ord(part), _STRIP_MARK_RANGES):
            continue
        part = _EXTRA_FOLDS.get(part, part)
        if part.isalnum() or unicodedata.category(part[0]).startswith("M"):
            folded.append(part)
    text = "".join(folded)
    category = unicodedata.category(ch)
    if category.startswith("M") or category == "Cf":
        return MARK, text
    if not text:
        return SEP, ""
    if _in_ranges(cp, _CONTINUOUS_RANGES):
        return CONT, text
    if all(c.isdigit() for c in text):
        return DIGIT, text
    return WORD, text


@dataclass(frozen=True, slots=True)
class Folded:
    """A text folded to a letter stream, with the way back to the original.

    ``starts[i]``/``ends[i]`` are the original offsets of the character that produced
    ``letters[i]``; ``token_of[i]`` is its token; ``tok_start``/``tok_end`` are each token's span in
    ``letters``; ``tok_single[t]`` says token ``t`` comes from one original character (plus marks).
    """

    text: str
    letters: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    token_of: tuple[int, ...]
    tok_start: tuple[int, ...]
    tok_end: tuple[int, ...]
    tok_single: tuple[bool, ...]

    def original_span(self, a: int, b: int) -> tuple[int, int]:
        """The original ``(start, end)`` of the letters ``[a, b)``."""
        return self.starts[a], self.ends[b - 1]

    def boundary_mask(self) -> int:
        """Token boundaries as a bit mask over letter offsets (bit ``i``: a token starts/ends at i).

        Used to describe a *pattern*: ``fold("J.K. Rowling").boundary_mask()`` has bits 0, 1, 2, 9.
        """
        mask = 0
        for s, e in zip(self.tok_start, self.tok_end, strict=True):
            mask |= (1 << s) | (1 << e)
        return mask


class _Builder:
    """Accumulates letters and tokens while walking the original text."""

    __slots__ = ("cur_class", "ends", "letters", "starts", "tok_end", "tok_single", "tok_start")

    def __init__(self) -> None:
        self.letters: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.tok_start: list[int] = []
        self.tok_end: list[int] = []
        self.tok_single: list[bool] = []
        self.cur_class = SEP

    def close(self) -> None:
        if self.cur_class != SEP:
            self.tok_end.append(len(self.letters))
            self.cur_class = SEP

    def open(self, cls: int) -> None:
        self.close()
        self.tok_start.append(len(self.letters))
        self.tok_single.append(True)
        self.cur_class = cls

    def emit(self, text: str, start: int, end: int) -> None:
        for c in text:
            self.letters.append(c)
            self.starts.append(start)
            self.ends.append(end)

    def finish(self, original: str) -> Folded:
        self.close()
        token_of: list[int] = []
        for t, (s, e) in enumerate(zip(self.tok_start, self.tok_end, strict=True)):
            token_of.extend([t] * (e - s))
        return Folded(
            original,
            "".join(self.letters),
            tuple(self.starts),
            tuple(self.ends),
            tuple(token_of),
            tuple(self.tok_start),
            tuple(self.tok_end),
            tuple(self.tok_single),
        )


def _fold_general(text: str) -> Folded:
    b = _Builder()
    for i, ch in enumerate(text):
        cls, out = classify(ch)
        if cls == SEP:
            b.close()
            continue
        if cls == MARK:
            if b.cur_class == SEP:  # a stray mark after a separator: ignore it
                continue
            b.emit(out, i, i + 1)
            if b.ends:
                b.ends[-1] = i + 1  # the mark belongs to the preceding letter's span
            continue
        if cls == CONT or cls != b.cur_class or b.cur_class == CONT:
            b.open(cls)
        else:
            b.tok_single[-1] = False
        b.emit(out, i, i + 1)
    return b.finish(text)


def _fold_ascii(text: str) -> Folded:
    letters: list[str] = []
    starts: list[int] = []
    token_of: list[int] = []
    tok_start: list[int] = []
    tok_end: list[int] = []
    tok_single: list[bool] = []
    n = 0
    for t, m in enumerate(_ASCII_TOKEN.finditer(text)):
        s, e = m.span()
        letters.append(m.group().lower())
        starts.extend(range(s, e))
        token_of.extend([t] * (e - s))
        tok_start.append(n)
        n += e - s
        tok_end.append(n)
        tok_single.append(e - s == 1)
    return Folded(
        text,
        "".join(letters),
        tuple(starts),
        tuple(s + 1 for s in starts),
        tuple(token_of),
        tuple(tok_start),
        tuple(tok_end),
        tuple(tok_single),
    )


def fold(text: str) -> Folded:
    """Fold ``text`` to a letter stream with offsets and tokens (see the module docstring).

    >>> fold("Müller & Søn").letters
    'mullerson'
    """
    return _fold_ascii(text) if text.isascii() else _fold_general(text)


def fold_key(text: str) -> str:
    """The folded letters of ``text`` alone: the key two spellings of one name share.

    >>> fold_key("E-I-N-S-T-E-I-N") == fold_key("Einstein")
    True
    """
    if text.isascii():
        return "".join(_ASCII_TOKEN.findall(text)).lower()
    return fold(text).letters


def fold_pattern(text: str) -> tuple[str, int]:
    """``(key, boundary mask)`` of a pattern: what matching needs, without the offset tables.

    >>> fold_pattern("J.K. Rowling")
    ('jkrowling', 519)
    """
    if not text.isascii():
        f = fold(text)
        return f.letters, f.boundary_mask()
    tokens = _ASCII_TOKEN.findall(text)
    mask, at = 1, 0
    for token in tokens:
        at += len(token)
        mask |= 1 << at
    return "".join(tokens).lower(), mask if tokens else 0


def span_ok(f: Folded, a: int, b: int, pattern_mask: int, numeric: bool) -> bool:
    """Whether letters ``[a, b)`` of ``f`` (equal to a pattern's key) are a real mention of it.

    Rules, in order:

    1. The span starts at a token start and ends at a token end (no match inside a word).
    2. A pattern made only of digits (a phone number, an account id) matches however its digits
       are grouped (``555-0142`` = ``5550142`` = ``555 01 42``).
    3. Otherwise every token inside the span either starts and ends on a word boundary of the
       pattern (``pattern_mask``, from :meth:`Folded.boundary_mask`) or is a single original
       character. So ``Albert Einstein`` matches ``albert-einstein``, ``AlbertEinstein`` and
       ``A-l-b-e-r-t E-i-n-s-t-e-i-n``, but ``Einstein`` does not match ``ein stein`` and
       ``Newton`` does not match ``new ton``.

    >>> f = fold("a new ton of E.i.n.s.t.e.i.n")
    >>> span_ok(f, 1, 7, fold("Newton").boundary_mask(), False)
    False
    >>> span_ok(f, 9, 17, fold("Einstein").boundary_mask(), False)
    True
    """
    first, last = f.token_of[a], f.token_of[b - 1]
    if f.tok_start[first] != a or f.tok_end[last] != b:
        return False
    if numeric or (first == last and f.tok_single[first]):
        return True
    for t in range(first, last + 1):
        if f.tok_single[t]:
            continue
        rs, re_ = f.tok_start[t] - a, f.tok_end[t] - a
        if not (pattern_mask >> rs) & 1 or not (pattern_mask >> re_) & 1:
            return False
    return True
