"""Forbidden strings in a decoded stream: find a completed one, or say how much to hold back.

Matching is case-insensitive and respects word boundaries: "Paris" is found in "Paris.",
"PARIS" and "Paris's", but not in "comparison" or "Parisian". Because the character *after* a
match decides whether it is a word, a match that ends at the end of the text so far is only
confirmed once the next character arrives or the text ends (``final``); until then it is held
back like any other prefix.

``surface_variants`` lists the token-level spellings (leading space or not, capitalised,
upper, lower, possessive) that token tries and ``logit_bias`` need; text-level matching covers
them all by itself.

Example:
    >>> f = ForbiddenStrings(["Paris"])
    >>> f.violation("The capital is Paris.", 0, final=False)
    15
    >>> f.violation("A comparison", 0, final=True) is None, f.hold("It is Par")
    (True, 3)
"""

from __future__ import annotations

from collections.abc import Iterable

from lethe.decoders.holdback import fold_case, held_suffix


def surface_variants(strings: Iterable[str]) -> list[str]:
    """Every spelling a tokenizer may need to ban, for each string, without duplicates."""
    seen: dict[str, None] = {}
    for s in strings:
        s = s.strip()
        if not s:
            continue
        cased = {s, s.lower(), s.upper(), s[:1].upper() + s[1:], s.title()}
        for form in cased:
            for variant in (form, f"{form}'s", f"{form}’s"):
                seen.setdefault(variant, None)
                seen.setdefault(" " + variant, None)
    return list(seen)


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


class ForbiddenStrings:
    """A small set of strings that must never appear in the output (per request)."""

    def __init__(self, strings: Iterable[str]) -> None:
        folded = {fold_case(s.strip()) for s in strings if s.strip()}
        self.patterns: tuple[str, ...] = tuple(sorted(folded, key=len, reverse=True))
        self.longest = max((len(p) for p in self.patterns), default=0)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def violation(self, text: str, start: int, *, final: bool) -> int | None:
        """Offset where the earliest confirmed match begins in ``text[start:]``, or None.

        A match is confirmed when it stands as a whole word: no word character right before it
        and, after it, a non-word character — or the end of the text when ``final``.
        """
        if not self.patterns:
            return None
        folded = fold_case(text)
        best: int | None = None
        for pattern in self.patterns:
            at = folded.find(pattern, start)
            while at >= 0 and (best is None or at < best):
                if self._confirmed(folded, at, at + len(pattern), final):
                    best = at
                    break
                at = folded.find(pattern, at + 1)
        return best

    def hold(self, text: str) -> int:
        """How many trailing characters could still become a confirmed match."""
        if not self.patterns:
            return 0
        window = fold_case(text[-(self.longest + 1) :])
        partial = held_suffix(window, self.patterns, self.longest)
        complete = max(
            (len(p) for p in self.patterns if window.endswith(p)), default=0
        )  # a whole match waiting for the character after it
        return max(partial, complete)

    @staticmethod
    def _confirmed(folded: str, start: int, end: int, final: bool) -> bool:
        if start > 0 and _is_word_char(folded[start - 1]) and _is_word_char(folded[start]):
            return False
        if end < len(folded):
            return not (_is_word_char(folded[end]) and _is_word_char(folded[end - 1]))
        return final
