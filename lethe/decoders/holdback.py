"""Text that must not be emitted yet: stop strings and forbidden strings, matched in a stream.

Both need the same two questions answered about the text decoded so far: where does the first
pattern occur (from a given offset on), and how much of the end of the text could still be the
beginning of a pattern (so it has to be held back until the next token decides). Only a bounded
window is ever searched, never the whole output.

``fold_case`` lower-cases without changing the length of the text (``"İ".lower()`` is two
characters), so offsets found in folded text are offsets in the original.

Example:
    >>> find_first("say ### now", ("###",), 0), held_suffix("wait ##", ("###",))
    (4, 2)
"""

from __future__ import annotations

from collections.abc import Sequence


def fold_case(text: str) -> str:
    """Lower-case ``text`` character by character, keeping its length."""
    folded = text.lower()
    if len(folded) == len(text):
        return folded
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def find_first(text: str, patterns: Sequence[str], start: int) -> int | None:
    """Offset of the earliest occurrence of any pattern in ``text[start:]``, or None."""
    hits = [i for i in (text.find(p, start) for p in patterns) if i >= 0]
    return min(hits) if hits else None


def held_suffix(text: str, patterns: Sequence[str], longest: int | None = None) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of some pattern."""
    if not patterns:
        return 0
    longest = longest if longest is not None else max(len(p) for p in patterns)
    for size in range(min(longest - 1, len(text)), 0, -1):
        tail = text[-size:]
        if any(p.startswith(tail) for p in patterns):
            return size
    return 0
